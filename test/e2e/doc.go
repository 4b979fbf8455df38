// Package e2e holds the end-to-end suite: simulated EC2 nodes in network
// namespaces (app/local), the real aws-k8s-agent talking to the EC2/IMDS
// emulator over HTTP, and the real aws-cni plugin called through libcni
// exactly as containerd calls it, once per firewall backend. It checks
// pod-to-pod traffic on a node and across nodes, pod-to-internet SNAT (and
// its absence with external SNAT), NodePort traffic to pods on secondary
// ENIs, and that deleting every pod leaves nothing behind.
//
// Everything here needs root (network namespaces, links, firewall rules)
// and skips with a message saying so otherwise; CI runs it as root. The
// binaries are built once in TestMain (or taken from VPC_CNI_E2E_BIN).
// The benchmarks measure CNI ADD/DEL latency against the kernel floor and
// process start, ipamd's memory at 250 pods and its restart time.
package e2e
