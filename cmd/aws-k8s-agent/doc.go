// Command aws-k8s-agent is ipamd, the node agent of the vpc-cni pod
// network: it keeps a warm pool of VPC addresses on the node's ENIs and
// hands them to the aws-cni plugin over a unix socket. The daemon lives in
// app/ipamd; this is its thin main, so the binary name and entry point
// match upstream's.
//
//	aws-k8s-agent [--cloud=aws|memory|emulator] [--datapath=netlink|memory]
//	              [--firewall=auto|iptables-legacy|iptables-nft|nftables|memory]
//
// SIGTERM and SIGINT stop it cleanly with exit status 0; an invalid
// environment variable or flag stops start-up with an error naming it.
package main
