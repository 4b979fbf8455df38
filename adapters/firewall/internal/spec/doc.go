// Package spec turns a ports.FirewallConfig into the normalised, validated
// intent that every firewall backend renders in its own syntax. Keeping
// this in one place means the iptables, nftables and memory backends can
// never disagree on defaults, CIDR ordering or which rule groups exist.
package spec
