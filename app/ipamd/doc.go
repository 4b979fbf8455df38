// Package ipamd assembles the aws-k8s-agent daemon (ipamd) from its parts
// with go.uber.org/fx: the node IPAM service (service/nodeipam) and the
// adapters chosen by flags, each with an environment variable equivalent:
//
//	--cloud=aws|memory|emulator        VPC_CNI_CLOUD     (default aws)
//	--datapath=netlink|memory          VPC_CNI_DATAPATH  (default netlink)
//	--firewall=auto|iptables-legacy|iptables-nft|nftables|memory
//	                                   VPC_CNI_FIREWALL  (default auto)
//
// Every other setting comes from the upstream environment variables,
// parsed by app/config; an invalid one stops start-up with an error naming
// the variable, its value and what would be accepted.
//
// # Start-up, in order
//
//  1. the gRPC socket (health NOT_SERVING until step 6), metrics;
//  2. node IPAM Init: instance identity and limits, attached ENIs,
//     checkpoint restore (AWS_VPC_K8S_CNI_BACKING_STORE);
//  3. host datapath: first the orphan pass (below), then SetupHost (MTU,
//     connmark rule, external service CIDRs, rp_filter), SetupENI for
//     every secondary ENI already attached, the missing rules and routes
//     of restored pods (SyncPodRules), firewall rules (SNAT, connmark) from
//     the VPC CIDRs and primary IP;
//  4. introspection;
//  5. loops: the pool loop (nodeipam.Run), the datapath repair loop (every
//     30 s it re-applies step 3, so a rule or route removed behind our back
//     comes back, per-pod rules at 512 and 1536 included: upstream issue
//     #3309), the orphan pass (every minute), the metrics refresher;
//  6. ready: health SERVING, the start-up duration recorded.
//
// Any failure in 1–4 stops start-up with an error naming the step, except
// a secondary ENI that cannot be set up (its link missing: hot-attached a
// moment ago, or moved into a pod by Multus host-device): it is logged and
// counted, pods get none of its addresses, and later passes retry it. New
// ENIs the pool loop attaches are wired (SetupENI) before their addresses
// are offered to pods, through nodeipam's OnENIReady hook; one whose setup
// fails is retried by the next passes and, for a minute, counts as
// capacity on the way, so the pool attaches no other ENI meanwhile.
// Settings for features not built yet are refused (custom networking) or
// warned about (unbuilt.go).
//
// The VPC's CIDRs are read again from instance metadata every 30 s; a
// change re-applies the host state (SNAT exclusions) at once.
//
// # Orphaned addresses
//
// The plugin tears a pod down from its ADD result and reports success when
// ipamd cannot be reached (an aws-node rollout), so ipamd may never hear
// of a deleted pod. The orphan pass releases (into cooldown, checkpointed)
// every allocation whose pod's host veth, named from the pod's namespace
// and name with AWS_VPC_K8S_CNI_VETHPREFIX, is not on the node, unless it
// was assigned, or last asked for by an ADD, less than a minute ago (an
// ADD between assignment and veth creation). Each release is logged and
// counted in awscni_reclaimed_ip_addresses.
//
// # Stopping
//
// SIGTERM and SIGINT stop the daemon cleanly and it exits 0 (upstream
// ignores SIGTERM and is killed after the grace period). New requests are
// refused as "initialising" from the first moment of shutdown; loops stop,
// then the servers. Nothing needs flushing: every assignment was already
// checkpointed before its reply.
//
// # Seams for tests and local runs
//
// Options carries what has no flag: BeforeHostSetup and BeforeENISetup
// (a local "hypervisor" creates the link EC2 would attach, with the ENI's
// MAC, before the datapath looks for it), a shared memory cloud so a test
// can restart the daemon on the same simulated EC2 state, and ready-made
// HostNetwork/Firewall implementations.
package ipamd
