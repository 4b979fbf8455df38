// Package emulator serves the simulated EC2 region of adapters/memory over
// HTTP, speaking the same wire protocols as AWS: the EC2 Query API (form
// POST, XML responses in the 2016-11-15 namespace) and the instance
// metadata service (IMDSv2 token flow and the meta-data tree).
//
// It exists so that code which only talks to AWS through the real SDK (the
// EC2 and IMDS adapters, the upstream VPC CNI binaries, a whole node under
// test) can run against a stateful, limit-enforcing cloud on one machine,
// without an AWS account. Everything behind the wire is a *memory.Cloud, so
// subnets hand out real addresses, instance types limit attachments and
// addresses, faults and throttling can be injected, and the metadata view
// lags EC2 by the cloud's configured delay.
//
// Scope. The EC2 listener serves exactly the actions node networking needs
// (see Actions). Where memory.Cloud has no matching query the emulator
// answers from what it can see: DescribeVpcs and DescribeInstances without
// ids cover the tracked instances only, and DescribeVpcs is neither counted
// nor throttled by the cloud. Metadata has no ipv6s (the simulator models
// IPv6 prefixes, not addresses), and ModifyNetworkInterfaceAttribute can
// set DeleteOnTermination but not clear it. Parameters are read with the EC2 protocol's names
// (Filter.N.Name, SecurityGroupId.N, TagSpecification.N.Tag.M.Key, ...);
// required ones are validated (MissingParameter), parameters the emulator
// does not implement are refused (InvalidParameterValue or
// UnknownParameter) rather than silently ignored, and DryRun answers
// DryRunOperation. Errors use EC2's error document and codes, with HTTP 503
// for RequestLimitExceeded as EC2 does. Every response carries a request id
// in the x-amzn-RequestId header and in the body.
//
// Instances. One metadata listener serves one instance, as the link-local
// metadata address does on EC2: Start serves Config.Instance, StartIMDS
// serves further instances on further listeners, and IMDSHandler returns
// the handler for any instance to mount elsewhere.
//
// Attach hooks. memory.Cloud does not publish attachment events, so the
// server compares the attached ENIs of the instances it tracks after every
// action it serves that can change them (and on Sync) and calls
// Config.OnAttach / OnDetach for the differences, before the response is
// written. A test hypervisor uses this to create a link with the ENI's MAC.
package emulator
