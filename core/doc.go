// Package core holds the domain of vpc-cni: the identifiers, value types and
// sentinel errors shared by the pure IPAM packages below it (datastore,
// warmpool, limits, reconcile).
//
// Everything under core is a plain value or a function. It performs no I/O,
// reads no clock, reads no environment variable and writes no log line, so it
// can be embedded in any other Go program (a simulator, a capacity planner, a
// controller) and tested from tables. Time is always a parameter.
//
// Adapters translate foreign errors (EC2 error codes, netlink errors) into the
// sentinels declared here; the node service decides back-off and cooldown by
// testing for them with errors.Is, never by looking at strings.
package core
