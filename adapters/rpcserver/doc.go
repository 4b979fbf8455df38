// Package rpcserver is ipamd's gRPC endpoint: the server half of the
// ipamd <-> CNI plugin contract (adapters/rpc/pb), on a unix socket. It
// exists so that the plugin, a short-lived process the container runtime
// executes for every pod, can ask the long-running agent for an address.
// It drives the node's address management only through ports.PodIPAM.
//
// # Socket
//
// The default socket is /var/run/aws-node/ipamd.sock, as upstream. Start
// creates the directory (0755), refuses to start when another server
// answers on the socket, removes a stale socket file left by a crash, and
// makes the socket 0660 so only root and the socket's group can call it.
//
// # Services
//
//   - rpc.CNIBackend (AddNetwork, DelNetwork), upstream-compatible.
//   - rpc.IPAMAdmin (ListAllocations), our addition for CNI GC.
//   - rpc.ConfigServerBackend (GetNetworkPolicyConfigs), when the node's
//     identity is known (Config.NodeInfo).
//   - grpc.health.v1: services "" and "grpc.health.v1.aws-node" are
//     NOT_SERVING until the node has initialised, then SERVING (the
//     Kubernetes probes ask for ""); "vpc-cni.addresses" is SERVING while an
//     ADD can succeed (a free address exists or the pool can grow) and
//     NOT_SERVING otherwise. Statuses are refreshed after every ADD and DEL,
//     every Config.HealthInterval, and when Refresh is called.
//
// # Version handshake
//
// Every request carries the plugin's ClientVersion. Upstream compares it
// with the agent's version but, because neither side's version is ever set
// in its builds, both are empty and the check never fires. Here it is
// real: a non-empty ClientVersion that differs from Config.Version is
// rejected with codes.FailedPrecondition and a message naming both
// versions, so a half-finished upgrade (new plugin, old agent or the other
// way round) fails loudly at the first pod instead of misbehaving.
// An empty ClientVersion is what an upstream plugin sends; it is accepted
// (the wire contract is the same) and a warning is logged once per
// process, so migrating nodes keep working.
//
// # Semantics
//
// AddNetwork keys the allocation by (NetworkName, ContainerID, IfName), as
// the CNI specification asks; ContainerID falls back to
// K8S_POD_INFRA_CONTAINER_ID for old plugins. When no address can be had
// (core.ErrNoAvailableAddress, core.ErrMaxPods) the reply is Success=false,
// as upstream, and the reason is logged; other failures (node still
// initialising, checkpoint not writable) are gRPC errors with a message, so
// the plugin can report them. A successful reply carries the address, its
// ENI's device number and route table, UseExternalSNAT, the VPC CIDRs and,
// when the node does SNAT itself, the SNAT-exclusion CIDRs appended to
// VPCv4CIDRs (the plugin routes them like VPC traffic), as upstream.
//
// DelNetwork for a key that holds nothing replies Success=true with no
// address. Upstream answers with an error whose text the plugin matches
// ("datastore: unknown pod"); a successful empty reply says the same
// without string matching, and the upstream plugin handles it too (it finds
// no address to tear down and returns success). A DEL must succeed for
// anything already gone, so this is the answer a plugin wants.
package rpcserver
