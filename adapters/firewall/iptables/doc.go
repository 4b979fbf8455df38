// Package iptables is the firewall backend for nodes whose packet filter
// is driven by the iptables command, in either of its two flavours:
// iptables-legacy (x_tables) and iptables-nft (nf_tables through the
// iptables compatibility layer). kube-proxy in iptables mode writes its
// rules with one of them, and our SNAT and connmark rules have to live in
// the same subsystem to be ordered against kube-proxy's in the same
// chains; hence one backend per flavour, chosen by the firewall package.
//
// The rules are the ones upstream installs, chain names and comments
// included (AWS-SNAT-CHAIN-0, AWS-CONNMARK-CHAIN-0, "AWS SNAT CHAIN",
// "AWS, primary ENI", ...), so that rules left by either implementation
// are recognised and replaced by the other. Ownership is decided by chain
// name and comment only; every other rule is left alone.
//
// Apply is level-triggered: it reads iptables-save, compares the owned
// part with the desired rules and fixes only the difference, so calling
// it periodically repairs rules deleted by someone else and is otherwise
// a no-op. Desired, Owned and Ruleset.Render are pure and describe the
// exact text that Render reads back from the kernel.
package iptables
