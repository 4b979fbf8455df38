// Package nftables is the native nf_tables firewall backend: one table,
// "ip aws-cni", holding the SNAT rule, the connmark marking of pod
// connections that leave the VPC, the restore of that mark on pod
// traffic and the NodePort marking, each in a base chain with an explicit
// hook priority.
//
// It exists because ordering is the whole point of these rules and
// nf_tables lets us state it instead of depending on where rules sit in
// shared chains: the marking runs at dstnat+10, after kube-proxy's DNAT in
// both its iptables and nftables modes (upstream issue #3563), and
// nothing here shares a chain with another program. It is the backend of
// choice when kube-proxy runs in nftables mode.
//
// Apply builds the whole desired table, compares its rendering with the
// table read back from the kernel and, when they differ, replaces the
// table in a single netlink batch (delete table, add table, chains and
// rules), so the kernel never holds a half-written table. Desired and
// Render are pure; Render prints the table close to
// "nft list table ip aws-cni" (chains sorted by name, counters without
// values), and the same printer is used for the desired table and for the
// one read from the kernel.
package nftables
