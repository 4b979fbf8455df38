// Package nodeipam is the node IPAM service: the loop ipamd runs on every
// node. It observes the pool (datastore) and the cloud, asks the pure
// warm-pool policy what to change, and carries the plan out through the
// ports (EC2, instance metadata, checkpoint, clock).
//
// It sits between the pure core and the adapters: it imports only core/ and
// ports/, so the same code runs in the daemon (real EC2, real clock), in the
// simulator (in-memory cloud, virtual clock) and in tests.
//
// The service is written to stay correct if it is stopped between any two
// steps:
//   - an ENI is created already tagged with this instance and described as
//     ours, so if the process dies before attaching it, leak cleanup finds it
//     detached and deletes it; if it dies after attaching, the next reconcile
//     adopts it from EC2;
//   - addresses are removed from the datastore before they are unassigned in
//     EC2, so no pod can get an address that is being given back; if the
//     unassign fails they are put back;
//   - every assignment and release is checkpointed before it is reported,
//     together with release times, so cooldowns survive a restart.
package nodeipam
