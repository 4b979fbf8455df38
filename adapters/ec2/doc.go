// Package ec2 is the Amazon EC2 adapter: it implements ports.Cloud with the
// AWS SDK for Go v2, so the node IPAM service can create, attach, fill,
// empty, detach and delete ENIs in a real (or EC2-compatible) region.
//
// It exists to keep everything AWS-specific at the edge of the program:
// SDK request and response shapes are translated to and from the core's
// domain types (core.ENI, core.Instance, core.Subnet, limits.InstanceType)
// here and nowhere else, and every EC2 error is classified once, in
// errors.go, into the core's sentinel errors (core.ErrThrottled,
// core.ErrSubnetFull, ...). The wrapped error keeps the SDK's API error
// reachable too, so logs and metrics still see the EC2 error code.
//
// # Endpoint and credentials
//
// The client is built from the SDK's default configuration chain
// (environment, shared config files, web identity, instance role), so
// credentials and the SDK-standard AWS_ENDPOINT_URL_EC2 work as they do for
// any SDK program. Config.Endpoint (the agent's AWS_EC2_ENDPOINT) is applied
// to the EC2 client itself and takes precedence; the upstream agent applied
// it only to the configuration it used for instance metadata, so it had no
// effect on EC2 calls.
//
// # Decorators
//
// Throttling, coalescing and measurement are not the client's business;
// they are separate types that wrap any ports.Cloud (this client, the
// in-memory simulator, the emulator):
//
//   - Limiter: a per-process token bucket, waiting for a token or for the
//     caller's context to end;
//   - Coalescer: concurrent identical describe calls share one request;
//   - Observed: reports every call's latency and error to an Observer, with
//     PrometheusObserver exporting the upstream awscni_* API metrics.
//
// Stack composes them in the order the agent uses. Retries are left to the
// SDK (adaptive retry mode by default).
//
// DescribeInstance completes the instance with what DescribeInstances does
// not report: the CIDR blocks of its ENIs' subnets (DescribeSubnets,
// cached: a subnet's IPv4 block never changes) and of its VPC
// (DescribeVpcs). deploy/iam-policy.json lists exactly the EC2 actions this
// package calls; a test keeps the two in step.
package ec2
