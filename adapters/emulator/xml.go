package emulator

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// The types below render EC2 Query responses. Element names are the
// locationName of the members in the EC2 service model; lists are wrapped
// in their set element with one <item> per entry, as EC2 writes them.

// meta is embedded in every result so the request id lands in the body.
type meta struct {
	RequestID string `xml:"requestId"`
}

func (m *meta) setRequestID(id string) { m.RequestID = id }

type result interface{ setRequestID(string) }

// returnResult is the body of actions without output members.
type returnResult struct {
	meta
	Return bool `xml:"return"`
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type xmlGroup struct {
	GroupID string `xml:"groupId"`
}

type xmlPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	Primary          bool   `xml:"primary"`
}

type xmlIPv4Prefix struct {
	Ipv4Prefix string `xml:"ipv4Prefix"`
}

type xmlIPv6Prefix struct {
	Ipv6Prefix string `xml:"ipv6Prefix"`
}

type xmlENIAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	DeviceIndex         int    `xml:"deviceIndex"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
	InstanceID          string `xml:"instanceId"`
	InstanceOwnerID     string `xml:"instanceOwnerId"`
	Status              string `xml:"status"`
}

// xmlENI is a NetworkInterface (DescribeNetworkInterfaces,
// CreateNetworkInterface).
type xmlENI struct {
	Attachment       *xmlENIAttachment `xml:"attachment,omitempty"`
	Description      string            `xml:"description"`
	Groups           []xmlGroup        `xml:"groupSet>item"`
	InterfaceType    string            `xml:"interfaceType"`
	MacAddress       string            `xml:"macAddress"`
	ID               string            `xml:"networkInterfaceId"`
	OwnerID          string            `xml:"ownerId"`
	PrivateIPAddress string            `xml:"privateIpAddress"`
	PrivateIPs       []xmlPrivateIP    `xml:"privateIpAddressesSet>item"`
	IPv4Prefixes     []xmlIPv4Prefix   `xml:"ipv4PrefixSet>item"`
	IPv6Prefixes     []xmlIPv6Prefix   `xml:"ipv6PrefixSet>item"`
	RequesterManaged bool              `xml:"requesterManaged"`
	SourceDestCheck  bool              `xml:"sourceDestCheck"`
	Status           string            `xml:"status"`
	SubnetID         string            `xml:"subnetId"`
	Tags             []xmlTag          `xml:"tagSet>item"`
	VPCID            string            `xml:"vpcId"`
}

func interfaceType(e core.ENI) string {
	switch {
	case e.Trunk:
		return "trunk"
	case e.EFA:
		return "efa"
	}
	return "interface"
}

func groups(ids []string) []xmlGroup {
	var out []xmlGroup
	for _, g := range ids {
		out = append(out, xmlGroup{GroupID: g})
	}
	return out
}

func tags(m map[string]string) []xmlTag {
	var out []xmlTag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, xmlTag{Key: k, Value: m[k]})
	}
	return out
}

func privateIPs(e core.ENI) []xmlPrivateIP {
	out := []xmlPrivateIP{{PrivateIPAddress: e.PrimaryIP.String(), Primary: true}}
	for _, a := range e.SecondaryIPs {
		out = append(out, xmlPrivateIP{PrivateIPAddress: a.String()})
	}
	return out
}

func v4Prefixes(ps []netip.Prefix) []xmlIPv4Prefix {
	var out []xmlIPv4Prefix
	for _, p := range ps {
		out = append(out, xmlIPv4Prefix{Ipv4Prefix: p.String()})
	}
	return out
}

func v6Prefixes(ps []netip.Prefix) []xmlIPv6Prefix {
	var out []xmlIPv6Prefix
	for _, p := range ps {
		out = append(out, xmlIPv6Prefix{Ipv6Prefix: p.String()})
	}
	return out
}

func prefixStrings(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func (s *Server) renderENI(e core.ENI) xmlENI {
	x := xmlENI{
		Description:      e.Description,
		Groups:           groups(e.SecurityGroups),
		InterfaceType:    interfaceType(e),
		MacAddress:       e.MAC,
		ID:               string(e.ID),
		OwnerID:          s.cfg.AccountID,
		PrivateIPAddress: e.PrimaryIP.String(),
		PrivateIPs:       privateIPs(e),
		IPv4Prefixes:     v4Prefixes(e.IPv4Prefixes),
		IPv6Prefixes:     v6Prefixes(e.IPv6Prefixes),
		SourceDestCheck:  true,
		Status:           e.Status,
		SubnetID:         string(e.SubnetID),
		Tags:             tags(e.Tags),
		VPCID:            e.VPCID,
	}
	if e.AttachmentID != "" {
		x.Attachment = &xmlENIAttachment{
			AttachmentID:        e.AttachmentID,
			DeleteOnTermination: e.DeleteOnTermination,
			DeviceIndex:         e.DeviceNumber,
			NetworkCardIndex:    e.NetworkCard,
			InstanceID:          string(e.InstanceID),
			InstanceOwnerID:     s.cfg.AccountID,
			Status:              "attached",
		}
	}
	return x
}

type describeENIsResult struct {
	meta
	ENIs      []xmlENI `xml:"networkInterfaceSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}

type createENIResult struct {
	meta
	ENI         xmlENI `xml:"networkInterface"`
	ClientToken string `xml:"clientToken,omitempty"`
}

type attachResult struct {
	meta
	AttachmentID     string `xml:"attachmentId"`
	NetworkCardIndex int    `xml:"networkCardIndex"`
}

type xmlAssignedIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
}

type assignPrivateResult struct {
	meta
	ID       string          `xml:"networkInterfaceId"`
	IPs      []xmlAssignedIP `xml:"assignedPrivateIpAddressesSet>item"`
	Prefixes []xmlIPv4Prefix `xml:"assignedIpv4PrefixSet>item"`
}

type assignIPv6Result struct {
	meta
	ID       string   `xml:"networkInterfaceId"`
	Prefixes []string `xml:"assignedIpv6PrefixSet>item"`
}

type unassignIPv6Result struct {
	meta
	ID       string   `xml:"networkInterfaceId"`
	Prefixes []string `xml:"unassignedIpv6PrefixSet>item"`
}

type xmlSubnetIPv6 struct {
	AssociationID string         `xml:"associationId"`
	Ipv6CidrBlock string         `xml:"ipv6CidrBlock"`
	State         xmlBlockStatus `xml:"ipv6CidrBlockState"`
}

type xmlBlockStatus struct {
	State string `xml:"state"`
}

type xmlSubnet struct {
	AvailabilityZone        string          `xml:"availabilityZone"`
	AvailableIPAddressCount int             `xml:"availableIpAddressCount"`
	CidrBlock               string          `xml:"cidrBlock"`
	DefaultForAz            bool            `xml:"defaultForAz"`
	MapPublicIPOnLaunch     bool            `xml:"mapPublicIpOnLaunch"`
	State                   string          `xml:"state"`
	SubnetID                string          `xml:"subnetId"`
	VPCID                   string          `xml:"vpcId"`
	OwnerID                 string          `xml:"ownerId"`
	IPv6                    []xmlSubnetIPv6 `xml:"ipv6CidrBlockAssociationSet>item"`
	Tags                    []xmlTag        `xml:"tagSet>item"`
}

func (s *Server) renderSubnet(sn core.Subnet) xmlSubnet {
	x := xmlSubnet{
		AvailabilityZone:        sn.AvailabilityZone,
		AvailableIPAddressCount: sn.AvailableIPs,
		CidrBlock:               sn.CIDR.String(),
		State:                   "available",
		SubnetID:                string(sn.ID),
		VPCID:                   sn.VPCID,
		OwnerID:                 s.cfg.AccountID,
		Tags:                    tags(sn.Tags),
	}
	if sn.IPv6CIDR.IsValid() {
		x.IPv6 = []xmlSubnetIPv6{{
			AssociationID: "subnet-cidr-assoc-" + string(sn.ID),
			Ipv6CidrBlock: sn.IPv6CIDR.String(),
			State:         xmlBlockStatus{State: "associated"},
		}}
	}
	return x
}

type describeSubnetsResult struct {
	meta
	Subnets   []xmlSubnet `xml:"subnetSet>item"`
	NextToken string      `xml:"nextToken,omitempty"`
}

type xmlInstanceENIAttachment struct {
	AttachmentID        string `xml:"attachmentId"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	NetworkCardIndex    int    `xml:"networkCardIndex"`
}

// xmlInstanceENI is an InstanceNetworkInterface (DescribeInstances).
type xmlInstanceENI struct {
	Attachment       xmlInstanceENIAttachment `xml:"attachment"`
	Description      string                   `xml:"description"`
	Groups           []xmlGroup               `xml:"groupSet>item"`
	MacAddress       string                   `xml:"macAddress"`
	ID               string                   `xml:"networkInterfaceId"`
	OwnerID          string                   `xml:"ownerId"`
	PrivateIPAddress string                   `xml:"privateIpAddress"`
	PrivateIPs       []xmlPrivateIP           `xml:"privateIpAddressesSet>item"`
	SourceDestCheck  bool                     `xml:"sourceDestCheck"`
	Status           string                   `xml:"status"`
	SubnetID         string                   `xml:"subnetId"`
	VPCID            string                   `xml:"vpcId"`
	InterfaceType    string                   `xml:"interfaceType"`
	IPv4Prefixes     []xmlIPv4Prefix          `xml:"ipv4PrefixSet>item"`
	IPv6Prefixes     []xmlIPv6Prefix          `xml:"ipv6PrefixSet>item"`
}

type xmlPlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	Tenancy          string `xml:"tenancy"`
}

type xmlInstanceState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type xmlInstance struct {
	InstanceID       string           `xml:"instanceId"`
	InstanceType     string           `xml:"instanceType"`
	Placement        xmlPlacement     `xml:"placement"`
	PrivateIPAddress string           `xml:"privateIpAddress"`
	State            xmlInstanceState `xml:"instanceState"`
	SubnetID         string           `xml:"subnetId"`
	VPCID            string           `xml:"vpcId"`
	ENIs             []xmlInstanceENI `xml:"networkInterfaceSet>item"`
	Groups           []xmlGroup       `xml:"groupSet>item"`
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type describeInstancesResult struct {
	meta
	Reservations []xmlReservation `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

func (s *Server) renderInstance(in core.Instance) xmlReservation {
	x := xmlInstance{
		InstanceID:       string(in.ID),
		InstanceType:     in.Type,
		Placement:        xmlPlacement{AvailabilityZone: in.AvailabilityZone, Tenancy: "default"},
		PrivateIPAddress: in.PrimaryIP.String(),
		// memory.Cloud does not expose instance states; DescribeInstance
		// fails for terminated ones, so what is listed runs (or is stopped).
		State:    xmlInstanceState{Code: 16, Name: "running"},
		SubnetID: string(in.SubnetID),
		VPCID:    in.VPCID,
		Groups:   groups(in.SecurityGroups),
	}
	for _, e := range in.ENIs {
		x.ENIs = append(x.ENIs, xmlInstanceENI{
			Attachment: xmlInstanceENIAttachment{
				AttachmentID:        e.AttachmentID,
				DeleteOnTermination: e.DeleteOnTermination,
				DeviceIndex:         e.DeviceNumber,
				Status:              "attached",
				NetworkCardIndex:    e.NetworkCard,
			},
			Description:      e.Description,
			Groups:           groups(e.SecurityGroups),
			MacAddress:       e.MAC,
			ID:               string(e.ID),
			OwnerID:          s.cfg.AccountID,
			PrivateIPAddress: e.PrimaryIP.String(),
			PrivateIPs:       privateIPs(e),
			SourceDestCheck:  true,
			Status:           e.Status,
			SubnetID:         string(e.SubnetID),
			VPCID:            e.VPCID,
			InterfaceType:    interfaceType(e),
			IPv4Prefixes:     v4Prefixes(e.IPv4Prefixes),
			IPv6Prefixes:     v6Prefixes(e.IPv6Prefixes),
		})
	}
	// One reservation per instance; its id is derived from the instance's.
	return xmlReservation{
		ReservationID: "r-" + trimIDPrefix(string(in.ID), "i-"),
		OwnerID:       s.cfg.AccountID,
		Instances:     []xmlInstance{x},
	}
}

func trimIDPrefix(id, prefix string) string {
	if len(id) > len(prefix) && id[:len(prefix)] == prefix {
		return id[len(prefix):]
	}
	return id
}

type xmlVCPU struct {
	DefaultVCpus int `xml:"defaultVCpus"`
}

type xmlNetworkCard struct {
	NetworkCardIndex         int `xml:"networkCardIndex"`
	MaximumNetworkInterfaces int `xml:"maximumNetworkInterfaces"`
}

type xmlNetworkInfo struct {
	MaximumNetworkInterfaces  int              `xml:"maximumNetworkInterfaces"`
	MaximumNetworkCards       int              `xml:"maximumNetworkCards"`
	DefaultNetworkCardIndex   int              `xml:"defaultNetworkCardIndex"`
	NetworkCards              []xmlNetworkCard `xml:"networkCards>item"`
	Ipv4AddressesPerInterface int              `xml:"ipv4AddressesPerInterface"`
	Ipv6AddressesPerInterface int              `xml:"ipv6AddressesPerInterface"`
	Ipv6Supported             bool             `xml:"ipv6Supported"`
	EfaSupported              bool             `xml:"efaSupported"`
}

type xmlInstanceType struct {
	InstanceType string         `xml:"instanceType"`
	BareMetal    bool           `xml:"bareMetal"`
	Hypervisor   string         `xml:"hypervisor,omitempty"`
	VCPU         *xmlVCPU       `xml:"vCpuInfo,omitempty"`
	NetworkInfo  xmlNetworkInfo `xml:"networkInfo"`
}

// renderInstanceType writes limits the way EC2 reports them:
// maximumNetworkInterfaces counts every card's interfaces, the per-card
// limits are in networkCards (limits.InstanceType.MaxENIs is the default
// card's).
func renderInstanceType(t limits.InstanceType) xmlInstanceType {
	cards := t.NetworkCards
	if len(cards) == 0 {
		cards = []limits.NetworkCard{{Index: t.DefaultNetworkCard, MaxInterfaces: t.MaxENIs}}
	}
	ni := xmlNetworkInfo{
		MaximumNetworkCards:       len(cards),
		DefaultNetworkCardIndex:   t.DefaultNetworkCard,
		Ipv4AddressesPerInterface: t.IPv4PerENI,
		Ipv6AddressesPerInterface: t.IPv6PerENI,
		Ipv6Supported:             t.IPv6Supported,
		EfaSupported:              t.EFASupported,
	}
	for _, c := range cards {
		m := c.MaxInterfaces
		if m == 0 && c.Index == t.DefaultNetworkCard {
			m = t.MaxENIs
		}
		ni.MaximumNetworkInterfaces += m
		ni.NetworkCards = append(ni.NetworkCards, xmlNetworkCard{NetworkCardIndex: c.Index, MaximumNetworkInterfaces: m})
	}
	x := xmlInstanceType{InstanceType: t.Name, BareMetal: t.BareMetal, NetworkInfo: ni}
	if t.Hypervisor == "nitro" || t.Hypervisor == "xen" {
		x.Hypervisor = t.Hypervisor
	}
	if t.VCPUs > 0 {
		x.VCPU = &xmlVCPU{DefaultVCpus: t.VCPUs}
	}
	return x
}

type describeInstanceTypesResult struct {
	meta
	Types     []xmlInstanceType `xml:"instanceTypeSet>item"`
	NextToken string            `xml:"nextToken,omitempty"`
}

func itoa(n int) string { return strconv.Itoa(n) }

type xmlVPCCIDR struct {
	AssociationID string         `xml:"associationId"`
	CidrBlock     string         `xml:"cidrBlock"`
	State         xmlBlockStatus `xml:"cidrBlockState"`
}

type xmlVPCIPv6CIDR struct {
	AssociationID string         `xml:"associationId"`
	Ipv6CidrBlock string         `xml:"ipv6CidrBlock"`
	State         xmlBlockStatus `xml:"ipv6CidrBlockState"`
}

type xmlVPC struct {
	CidrBlock       string           `xml:"cidrBlock"`
	State           string           `xml:"state"`
	VPCID           string           `xml:"vpcId"`
	OwnerID         string           `xml:"ownerId"`
	InstanceTenancy string           `xml:"instanceTenancy"`
	IPv6            []xmlVPCIPv6CIDR `xml:"ipv6CidrBlockAssociationSet>item"`
	CIDRs           []xmlVPCCIDR     `xml:"cidrBlockAssociationSet>item"`
	IsDefault       bool             `xml:"isDefault"`
}

func (s *Server) renderVPC(in core.Instance) xmlVPC {
	x := xmlVPC{State: "available", VPCID: in.VPCID, OwnerID: s.cfg.AccountID, InstanceTenancy: "default"}
	vpc := trimIDPrefix(in.VPCID, "vpc-")
	for i, p := range in.VPCCIDRs {
		if i == 0 {
			x.CidrBlock = p.String()
		}
		x.CIDRs = append(x.CIDRs, xmlVPCCIDR{
			AssociationID: "vpc-cidr-assoc-" + vpc + "-" + itoa(i),
			CidrBlock:     p.String(),
			State:         xmlBlockStatus{State: "associated"},
		})
	}
	for i, p := range in.VPCIPv6CIDRs {
		x.IPv6 = append(x.IPv6, xmlVPCIPv6CIDR{
			AssociationID: "vpc-cidr-assoc-" + vpc + "-v6-" + itoa(i),
			Ipv6CidrBlock: p.String(),
			State:         xmlBlockStatus{State: "associated"},
		})
	}
	return x
}

type describeVpcsResult struct {
	meta
	VPCs      []xmlVPC `xml:"vpcSet>item"`
	NextToken string   `xml:"nextToken,omitempty"`
}
