// Package memory is an in-process simulator of the parts of Amazon EC2 and
// the instance metadata service (IMDS) that the node IPAM service talks to.
// It implements ports.Cloud and ports.Metadata.
//
// It exists so that the node service, the simulator CLI and tests can run
// the whole ENI and address life cycle without an AWS account, and so that
// they fail where AWS would fail. It is a simulator rather than a mock:
// subnets hand out real addresses from their CIDR (the first four and the
// last address of every subnet are reserved, /28 prefixes must be aligned
// and may not overlap anything in use), instance types limit how many ENIs
// an instance may attach and how many addresses an ENI may hold, attached
// ENIs cannot be deleted, and every failure carries the EC2 error code AWS
// would return, unwrapping to the matching core sentinel.
//
// Time comes from a ports.Clock. With a VirtualClock every API call advances
// virtual time by its configured latency, the token-bucket throttle refills
// with virtual time, and the metadata view lags EC2 by a configurable
// propagation delay, so timing-dependent behaviour (an ENI attached in EC2
// but not yet visible in IMDS, a throttled burst) is reproducible without
// real waiting.
//
// Faults can be injected per operation (InjectError), latencies changed
// (SetLatency) and every EC2 operation is counted (Calls) under its EC2 API
// name, so tests can assert on how many requests a scenario costs.
package memory
