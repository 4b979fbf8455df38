// Package leakgc deletes ENIs that the CNI created and then lost: detached
// ("available") interfaces described as ours and tagged with a node's
// instance id, left behind when an agent crashed between creating and
// attaching an ENI, or between detaching and deleting one, or when a node
// was terminated while an ENI was detached. Each costs a subnet address
// (and prefixes) until someone deletes it.
//
// It is a service, not core logic, because it is a loop driving the cloud
// port: it imports only core and ports, so it runs against EC2, the
// in-memory simulator or the emulator alike.
//
// A pass is mark-then-delete:
//
//  1. list available ENIs carrying the node.k8s.amazonaws.com/instance_id
//     tag key (and cluster.k8s.amazonaws.com/name=<cluster> when the
//     cluster name is configured, the given instance id when scoped to one
//     instance) in the VPC, then re-check every condition on the answer:
//     description starting with "aws-K8S-", not no_manage, not trunk or EFA;
//  2. an ENI without a parsable node.k8s.amazonaws.com/createdAt tag is
//     tagged with the current time (marked) and left alone;
//  3. an ENI younger than MinAge is left alone: it may be one a node just
//     created and is about to attach;
//  4. the rest, oldest first, are deleted, at most MaxPerPass per pass (and
//     at most MaxPerPass marked), so a VPC full of leaks is drained over a
//     few passes instead of in one burst of API calls. An ENI already gone
//     counts as done; one that was attached in the meantime is skipped.
//
// Age comes from the createdAt tag only. EC2 reports no creation time, and
// the tag is what every agent writes and reads, so nodes agree on it.
// Throttling ends the pass early; the next pass continues.
package leakgc
