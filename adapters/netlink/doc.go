// Package netlink is the datapath on a real Linux node: it implements
// ports.HostNetwork (what ipamd programs per node and per secondary ENI) and
// ports.PodNetwork (what the CNI plugin programs per pod) with
// github.com/vishvananda/netlink.
//
// # What it programs
//
// The state is the upstream VPC CNI's, rule for rule, so nodes can move
// between the two implementations (docs/datapath.md has the full picture):
//
//   - node: "fwmark <mark>/<mark> lookup main" at priority 1024, "to <cidr>
//     lookup main" at 1535 for external service CIDRs, loose rp_filter on
//     the primary interface;
//   - secondary ENI: the link found by MAC, MTU, up, its primary address as
//     the only global address, table T with the gateway on-link and the
//     default route through it, no subnet route in main, and "from <ENI
//     primary IP> lookup T" at 32765;
//   - pod: a veth pair (host end <prefix><hash>), in the pod <IP>/32, routes
//     through 169.254.1.1 and a permanent neighbour entry for it with the
//     host end's MAC; on the node "<IP> dev <veth> scope link", "to <IP>
//     lookup main" at 512 and, for a secondary ENI's address, "from <IP>
//     lookup T" at 1536.
//
// # Why it is shaped this way
//
// Every method is level-triggered: it reads the current state, then
// deletes what is stale or duplicated and adds what is missing. Calling it
// again after something else removed a rule or a route (systemd-networkd
// flushing rules is a known upstream failure that was never repaired)
// restores it, and "already exists" is never an error, so a retried CNI ADD
// converges instead of failing with "file exists".
//
// The per-pod node objects belong to the plugin, but ipamd's repair loop
// puts them back too (SyncPodRules): only adding, only for pods whose veth
// is up, and taking its additions back when the veth vanished meanwhile
// (a DEL that may already have removed the rules). HostVeths lets ipamd
// find pods that are gone although it never heard their DEL.
//
// Netlink dumps that raced with a change are retried a bounded number of
// times. Other namespaces are entered only through adapters/netns, which
// locks the OS thread: a netlink socket is opened inside the pod's
// namespace and then used from any thread.
//
// Render prints the node state through adapters/netlink/netstate, the same
// text the in-memory adapter (adapters/datapathmem) prints, so callers'
// tests compare one golden text against either.
package netlink
