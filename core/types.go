package core

import (
	"net/netip"
	"time"
)

// ENIID identifies an Elastic Network Interface ("eni-0123...").
type ENIID string

// SubnetID identifies a VPC subnet ("subnet-0123...").
type SubnetID string

// InstanceID identifies an EC2 instance ("i-0123...").
type InstanceID string

// Well-known ENI tag keys. They are part of the compatibility surface with the
// upstream VPC CNI: operators filter and clean up ENIs by them.
const (
	TagInstanceID = "node.k8s.amazonaws.com/instance_id"
	TagCreatedAt  = "node.k8s.amazonaws.com/createdAt"
	TagNoManage   = "node.k8s.amazonaws.com/no_manage"
	TagCluster    = "cluster.k8s.amazonaws.com/name"
	// TagReservedSubstring marks tag keys reserved for the CNI itself;
	// user supplied ADDITIONAL_ENI_TAGS containing it are rejected.
	TagReservedSubstring = "k8s.amazonaws.com"
	// ENIDescriptionPrefix starts the description of every ENI this
	// product creates ("aws-K8S-<instance-id>"), which leak cleanup checks.
	ENIDescriptionPrefix = "aws-K8S-"
)

// Family is an IP address family.
type Family uint8

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// ENI is an elastic network interface as the cloud (EC2 or IMDS) reports it.
// Addresses exclude the ENI's own primary address.
type ENI struct {
	ID          ENIID
	MAC         string
	Description string
	// DeviceNumber is the attachment's device index; 0 is the instance's
	// primary interface. -1 when the ENI is not attached.
	DeviceNumber int
	NetworkCard  int
	SubnetID     SubnetID
	SubnetCIDR   netip.Prefix
	// SubnetIPv6CIDR is the subnet's IPv6 block, if any.
	SubnetIPv6CIDR netip.Prefix
	VPCID          string
	PrimaryIP      netip.Addr
	// SecondaryIPs are the secondary private IPv4 addresses (/32 mode).
	SecondaryIPs []netip.Addr
	// IPv4Prefixes are delegated /28 prefixes.
	IPv4Prefixes []netip.Prefix
	// IPv6Prefixes are delegated /80 prefixes.
	IPv6Prefixes   []netip.Prefix
	SecurityGroups []string
	Tags           map[string]string
	// Status is "available", "attaching", "in-use" or "detaching".
	Status       string
	AttachmentID string
	InstanceID   InstanceID
	// DeleteOnTermination reports the attachment flag.
	DeleteOnTermination bool
	// Primary marks the instance's primary ENI (device 0 on the default card).
	Primary bool
	// Trunk marks a trunk ENI (security groups for pods); never used for pod IPs.
	Trunk bool
	// EFA marks an Elastic Fabric Adapter interface; never freed by the CNI.
	EFA bool
	// CreatedAt is when the ENI was created, when known.
	CreatedAt time.Time
}

// NoManage reports whether the ENI carries the no_manage tag set to "true".
// Such ENIs are never used for pods and never modified.
func (e ENI) NoManage() bool { return e.Tags[TagNoManage] == "true" }

// Subnet is a VPC subnet as the cloud reports it.
type Subnet struct {
	ID               SubnetID
	VPCID            string
	AvailabilityZone string
	CIDR             netip.Prefix
	IPv6CIDR         netip.Prefix
	AvailableIPs     int
	Tags             map[string]string
}

// Instance is the EC2 instance this node runs on.
type Instance struct {
	ID               InstanceID
	Type             string
	AvailabilityZone string
	Region           string
	VPCID            string
	// VPCCIDRs lists every IPv4 CIDR of the VPC (a VPC may have several).
	VPCCIDRs     []netip.Prefix
	VPCIPv6CIDRs []netip.Prefix
	PrimaryMAC   string
	PrimaryIP    netip.Addr
	PrimaryENI   ENIID
	SubnetID     SubnetID
	// SecurityGroups of the primary ENI; new ENIs get the same ones unless
	// custom networking says otherwise.
	SecurityGroups []string
	// ENIs lists the attached interfaces, in device order.
	ENIs []ENI
}

// PodKey identifies one IP allocation, as the CNI specification keys IPAM
// state: network name, container ID and interface name.
type PodKey struct {
	NetworkName string
	ContainerID string
	IfName      string
}

// PodRef names the Kubernetes pod an allocation belongs to.
type PodRef struct {
	Namespace string
	Name      string
}

func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

// RouteTableFor returns the host routing table that carries traffic of pods
// on the ENI at the given device number: the main table (254) for the
// primary interface, device+1 otherwise (compatible with the upstream CNI).
func RouteTableFor(networkCard, device int) int {
	if networkCard == 0 {
		if device == 0 {
			return 254
		}
		return device + 1
	}
	return 10000 + device + 100*networkCard
}
