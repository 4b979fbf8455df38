// Package firewall chooses the node's firewall backend and wires it.
//
// Three backends implement ports.Firewall (SNAT of pod traffic leaving the
// VPC, connmark-based routing of those connections and of NodePort
// traffic): iptables-legacy and iptables-nft (package iptables, the
// upstream rules verbatim) and nftables (package nftables, one table with
// explicit hook priorities). Which one is right depends on the node, not
// on us: our rules must live where kube-proxy's live, or their relative
// order is undefined. So the backend is a detected decision with an
// explicit override (--firewall=auto|iptables-legacy|iptables-nft|
// nftables): Detect looks at the node the way kube-proxy's iptables
// wrapper does (which flavour holds more rules, kubelet's hint chain) and
// picks nftables when kube-proxy itself runs in nftables mode.
//
// New returns the chosen backend and, after its first successful Apply,
// removes whatever the other backends own, so switching backend (or
// replacing upstream, which mixes iptables SNAT with an nftables connmark
// table) leaves nothing behind. TeardownAll sweeps every backend for
// uninstall and for residue checks in tests.
//
// Package memory holds a stateful in-memory fake for callers' tests.
// docs/firewall.md lists the exact rules of each backend.
package firewall
