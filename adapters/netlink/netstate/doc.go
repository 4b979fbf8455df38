// Package netstate is the text model of the datapath state that vpc-cni
// programs into the kernel: policy rules, routes, links, neighbour entries
// and a few sysctls.
//
// It exists so that the real netlink adapter (adapters/netlink) and the
// in-memory one (adapters/datapathmem) describe the node in exactly the same
// words. Both build a Snapshot of everything they can see, narrow it with
// the same view function (NodeView for the node's namespace, PodView for a
// pod's), and print it with the same Render. Tests of either adapter, and
// of every caller, then compare whole golden texts that read like the
// output of `ip rule` and `ip route`.
//
// The package also holds the pure decisions both adapters share: which
// rules to delete and which to add to reach a desired set (PlanRules), and
// what is missing from a wired pod (CheckPod). It imports no kernel code.
package netstate
