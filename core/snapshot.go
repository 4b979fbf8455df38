package core

import (
	"net/netip"
	"time"
)

// InstanceIdentity is what the node learns about itself from instance
// metadata before it talks to EC2.
type InstanceIdentity struct {
	ID               InstanceID
	Type             string
	AvailabilityZone string
	Region           string
	PrimaryMAC       string
	PrimaryIP        netip.Addr
	// VPCCIDRs are the VPC's IPv4 CIDR blocks as metadata reports them
	// (vpc-ipv4-cidr-blocks of the primary interface): the fallback when
	// EC2 cannot describe the VPC (the managed CNI policy lacks
	// DescribeVpcs).
	VPCCIDRs []netip.Prefix
}

// Allocation is one address held by one pod interface.
type Allocation struct {
	Key        PodKey
	Pod        PodRef
	Addr       netip.Addr
	AssignedAt time.Time
}

// Cooldown records when an address was released, so it is not handed to a
// new pod before the cooldown period has passed, even across a restart.
type Cooldown struct {
	Addr       netip.Addr
	ReleasedAt time.Time
}

// Snapshot is the durable part of the datastore: allocations and cooling
// addresses. ENIs and addresses are not part of it; they are rediscovered
// from the cloud on start.
type Snapshot struct {
	Allocations []Allocation
	Cooldowns   []Cooldown
}
