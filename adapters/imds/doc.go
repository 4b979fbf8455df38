// Package imds is the instance metadata adapter: it implements
// ports.Metadata with the AWS SDK's IMDS client, always with IMDSv2
// session tokens (no fallback to unauthenticated IMDSv1 requests).
//
// The node agent learns who it is (instance id, type, placement, region,
// primary MAC and address) and which ENIs are attached, with their
// addresses and prefixes, from the metadata service rather than from EC2:
// it is local, free and not rate limited. It can lag EC2 by seconds after
// an attachment or an address change, which is why WaitFor exists: after
// attaching an ENI the agent polls metadata, with bounded exponential
// backoff and an overall timeout, until the ENI and its addresses show.
//
// Each attached interface is read from
// meta-data/network/interfaces/macs/<mac>/: device-number, network-card,
// interface-id, subnet-id, subnet-ipv4-cidr-block, subnet-ipv6-cidr-blocks,
// vpc-id, security-group-ids, local-ipv4s (the interface's primary address
// first), ipv4-prefix and ipv6-prefix. Optional fields answer 404 when
// empty (an ENI without prefixes, an instance with a single network card),
// which the adapter reads as "none"; a missing required field is an error
// wrapping core.ErrNotFound.
//
// The endpoint is Config.Endpoint, else AWS_EC2_METADATA_SERVICE_ENDPOINT
// (read by the SDK), else the link-local default.
package imds
