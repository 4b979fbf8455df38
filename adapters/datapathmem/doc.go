// Package datapathmem is an in-memory node datapath: it implements
// ports.HostNetwork and ports.PodNetwork on a small model of the kernel's
// routing state (links, addresses, routes, policy rules, neighbour entries,
// network namespaces) instead of netlink.
//
// It exists so that ipamd, the CNI plugin and the simulator can be tested
// without root and without a kernel, while still checking real state: the
// model behaves like the kernel where the datapath depends on it (adding an
// address to an up link adds the subnet route to main, deleting a veth
// removes its peer and every route through either end, a deleted network
// namespace takes its veth with it), and Render prints the node through
// the same view and format as adapters/netlink (adapters/netlink/netstate),
// so one golden text serves both. A parity test in adapters/netlink runs
// the same calls against both and compares the texts.
//
// Tests can disturb the state the way the outside world does (DeleteRule,
// DeleteRoute, FlushRules, DeleteLink, DeleteNetns, AddLink for an ENI
// whose link shows up) and make the next call of a method fail
// (InjectError), then check that the caller repairs it.
package datapathmem
