// Package datastore is the node's record of which pod holds which address.
//
// It keeps the ENIs attached to the instance, the addresses delegated to them
// (secondary IPv4 /32s, IPv4 /28 prefixes and IPv6 /80 prefixes), the pods
// those addresses are assigned to, and the addresses still cooling down after
// a pod released them. The node service asks it for an address on every CNI
// ADD and gives the address back on every DEL, so these two calls sit on the
// critical path of pod start-up: each is O(1) or O(log n) in the number of
// ENIs and blocks and does not allocate.
//
// Three things set it apart from the datastore of the upstream VPC CNI:
//
//   - Placement is dense and deterministic. A new pod goes to the fullest
//     group that still has room (a /28 prefix under prefix delegation, an
//     ENI's set of secondary IPs otherwise), lowest address first, so empty
//     prefixes and ENIs appear and can be handed back to EC2. Upstream picks
//     in Go map order and scatters pods.
//   - Cooling addresses are not free. They are counted apart (Cooling, not
//     Free), and release times are part of the Snapshot, so a restart does
//     not hand a just-released address to a new pod.
//   - It does no I/O. Persisting the Snapshot is the caller's business, and
//     time is always passed in, which makes the store usable from a
//     simulator or another program as well as from the node agent.
//
// A Store is not safe for concurrent use: the caller serialises every call,
// read-only looking ones included (they expire cooldowns as a side effect).
package datastore
