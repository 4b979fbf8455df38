package ports

import (
	"context"
	"net/netip"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// ENIFilter narrows DescribeENIs. Zero fields do not filter.
type ENIFilter struct {
	IDs        []core.ENIID
	InstanceID core.InstanceID
	VPCID      string
	// Status is "available", "in-use", ...
	Status string
	// TagKeys requires each key to be present, with any value.
	TagKeys []string
	// Tags requires each key to carry exactly the value.
	Tags map[string]string
}

// SubnetFilter narrows DescribeSubnets. Zero fields do not filter.
type SubnetFilter struct {
	IDs              []core.SubnetID
	VPCID            string
	AvailabilityZone string
}

// CreateENIRequest creates an ENI and fills it in the same call.
type CreateENIRequest struct {
	SubnetID       core.SubnetID
	SecurityGroups []string
	Description    string
	Tags           map[string]string
	// SecondaryIPs, IPv4Prefixes and IPv6Prefixes are assigned at creation.
	SecondaryIPs int
	IPv4Prefixes int
	IPv6Prefixes int
}

// Assigned is what an assignment call added.
type Assigned struct {
	IPs      []netip.Addr
	Prefixes []netip.Prefix
}

// ENIs creates, attaches, detaches and deletes network interfaces.
type ENIs interface {
	CreateENI(ctx context.Context, req CreateENIRequest) (core.ENI, error)
	// AttachENI attaches at the device index on the network card and returns
	// the attachment ID.
	AttachENI(ctx context.Context, eni core.ENIID, instance core.InstanceID, device, card int) (string, error)
	// SetDeleteOnTermination makes EC2 delete the ENI with the instance.
	SetDeleteOnTermination(ctx context.Context, eni core.ENIID, attachmentID string) error
	DetachENI(ctx context.Context, attachmentID string, force bool) error
	DeleteENI(ctx context.Context, eni core.ENIID) error
}

// Addresses assigns and unassigns secondary addresses and prefixes.
type Addresses interface {
	// AssignIPv4 adds ips secondary addresses and prefixes /28 prefixes.
	AssignIPv4(ctx context.Context, eni core.ENIID, ips, prefixes int) (Assigned, error)
	UnassignIPv4(ctx context.Context, eni core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error
	AssignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes int) ([]netip.Prefix, error)
	UnassignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes []netip.Prefix) error
}

// Describer reads cloud state.
type Describer interface {
	DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error)
	DescribeENIs(ctx context.Context, f ENIFilter) ([]core.ENI, error)
	DescribeSubnets(ctx context.Context, f SubnetFilter) ([]core.Subnet, error)
	// DescribeInstanceType is the fallback for types missing from the
	// built-in limits table.
	DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error)
}

// Tagger tags resources.
type Tagger interface {
	CreateTags(ctx context.Context, resourceID string, tags map[string]string) error
}

// Cloud is everything the node IPAM service asks of EC2. Errors are wrapped
// with the core sentinels (core.ErrThrottled, core.ErrSubnetFull, ...).
type Cloud interface {
	ENIs
	Addresses
	Describer
	Tagger
}

// Metadata is the instance metadata service as seen from the node.
type Metadata interface {
	Identity(ctx context.Context) (core.InstanceIdentity, error)
	// Interfaces lists attached ENIs with their addresses, as the metadata
	// service reports them (it may lag EC2).
	Interfaces(ctx context.Context) ([]core.ENI, error)
}
