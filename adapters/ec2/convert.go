package ec2

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// EC2 interface types with a meaning for the node.
const (
	interfaceTypeTrunk   = "trunk"
	interfaceTypeEFA     = "efa"
	interfaceTypeEFAOnly = "efa-only"
)

// eniFields are the parts of an ENI that DescribeNetworkInterfaces and
// DescribeInstances both report, in slightly different SDK types.
type eniFields struct {
	id, mac, description, subnet, vpc, primaryIP, interfaceType, status string
	privateIPs                                                          []privateIP
	prefixes4, prefixes6                                                []*string
	groups                                                              []types.GroupIdentifier
	tags                                                                []types.Tag
	attached                                                            bool
	attachmentID, instanceID                                            string
	device, card                                                        int
	deleteOnTermination                                                 bool
}

type privateIP struct {
	addr    *string
	primary bool
}

func (f eniFields) toCore() (core.ENI, error) {
	e := core.ENI{
		ID:           core.ENIID(f.id),
		MAC:          f.mac,
		Description:  f.description,
		DeviceNumber: -1,
		SubnetID:     core.SubnetID(f.subnet),
		VPCID:        f.vpc,
		Status:       f.status,
		Tags:         tagMap(f.tags),
		Trunk:        f.interfaceType == interfaceTypeTrunk,
		EFA:          f.interfaceType == interfaceTypeEFA || f.interfaceType == interfaceTypeEFAOnly,
	}
	if f.primaryIP != "" {
		a, err := netip.ParseAddr(f.primaryIP)
		if err != nil {
			return core.ENI{}, fmt.Errorf("read primary address of %s: %w", f.id, err)
		}
		e.PrimaryIP = a
	}
	for _, p := range f.privateIPs {
		a, err := parseAddr(p.addr)
		if err != nil {
			return core.ENI{}, fmt.Errorf("read address of %s: %w", f.id, err)
		}
		if p.primary {
			e.PrimaryIP = a
			continue
		}
		e.SecondaryIPs = append(e.SecondaryIPs, a)
	}
	for _, s := range f.prefixes4 {
		p, err := parsePrefix(s)
		if err != nil {
			return core.ENI{}, fmt.Errorf("read IPv4 prefix of %s: %w", f.id, err)
		}
		e.IPv4Prefixes = append(e.IPv4Prefixes, p)
	}
	for _, s := range f.prefixes6 {
		p, err := parsePrefix(s)
		if err != nil {
			return core.ENI{}, fmt.Errorf("read IPv6 prefix of %s: %w", f.id, err)
		}
		e.IPv6Prefixes = append(e.IPv6Prefixes, p)
	}
	for _, g := range f.groups {
		if id := aws.ToString(g.GroupId); id != "" {
			e.SecurityGroups = append(e.SecurityGroups, id)
		}
	}
	if f.attached {
		e.DeviceNumber = f.device
		e.NetworkCard = f.card
		e.AttachmentID = f.attachmentID
		e.InstanceID = core.InstanceID(f.instanceID)
		e.DeleteOnTermination = f.deleteOnTermination
		e.Primary = f.device == 0 && f.card == 0
	}
	if v, ok := e.Tags[core.TagCreatedAt]; ok {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			e.CreatedAt = t
		}
	}
	return e, nil
}

// eniFromNetworkInterface converts a DescribeNetworkInterfaces (or
// CreateNetworkInterface) item.
func eniFromNetworkInterface(ni types.NetworkInterface) (core.ENI, error) {
	f := eniFields{
		id:            aws.ToString(ni.NetworkInterfaceId),
		mac:           aws.ToString(ni.MacAddress),
		description:   aws.ToString(ni.Description),
		subnet:        aws.ToString(ni.SubnetId),
		vpc:           aws.ToString(ni.VpcId),
		primaryIP:     aws.ToString(ni.PrivateIpAddress),
		interfaceType: string(ni.InterfaceType),
		status:        string(ni.Status),
		groups:        ni.Groups,
		tags:          ni.TagSet,
	}
	for _, p := range ni.PrivateIpAddresses {
		f.privateIPs = append(f.privateIPs, privateIP{addr: p.PrivateIpAddress, primary: aws.ToBool(p.Primary)})
	}
	for _, p := range ni.Ipv4Prefixes {
		f.prefixes4 = append(f.prefixes4, p.Ipv4Prefix)
	}
	for _, p := range ni.Ipv6Prefixes {
		f.prefixes6 = append(f.prefixes6, p.Ipv6Prefix)
	}
	if a := ni.Attachment; a != nil && aws.ToString(a.InstanceId) != "" && a.Status != types.AttachmentStatusDetached {
		f.attached = true
		f.attachmentID = aws.ToString(a.AttachmentId)
		f.instanceID = aws.ToString(a.InstanceId)
		f.device = int(aws.ToInt32(a.DeviceIndex))
		f.card = int(aws.ToInt32(a.NetworkCardIndex))
		f.deleteOnTermination = aws.ToBool(a.DeleteOnTermination)
	}
	e, err := f.toCore()
	if err != nil {
		return core.ENI{}, fmt.Errorf("convert network interface: %w", err)
	}
	return e, nil
}

// instanceFromSDK converts a DescribeInstances item. ENIs are sorted by
// (card, device); the primary ENI (device 0 on card 0) names the
// instance's MAC, address, ENI and security groups.
func instanceFromSDK(in types.Instance, region string) (core.Instance, error) {
	inst := core.Instance{
		ID:       core.InstanceID(aws.ToString(in.InstanceId)),
		Type:     string(in.InstanceType),
		Region:   region,
		VPCID:    aws.ToString(in.VpcId),
		SubnetID: core.SubnetID(aws.ToString(in.SubnetId)),
	}
	if in.Placement != nil {
		inst.AvailabilityZone = aws.ToString(in.Placement.AvailabilityZone)
	}
	if s := aws.ToString(in.PrivateIpAddress); s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return core.Instance{}, fmt.Errorf("read address of instance %s: %w", inst.ID, err)
		}
		inst.PrimaryIP = a
	}
	for _, ni := range in.NetworkInterfaces {
		f := eniFields{
			id:            aws.ToString(ni.NetworkInterfaceId),
			mac:           aws.ToString(ni.MacAddress),
			description:   aws.ToString(ni.Description),
			subnet:        aws.ToString(ni.SubnetId),
			vpc:           aws.ToString(ni.VpcId),
			primaryIP:     aws.ToString(ni.PrivateIpAddress),
			interfaceType: aws.ToString(ni.InterfaceType),
			status:        string(ni.Status),
			groups:        ni.Groups,
		}
		for _, p := range ni.PrivateIpAddresses {
			f.privateIPs = append(f.privateIPs, privateIP{addr: p.PrivateIpAddress, primary: aws.ToBool(p.Primary)})
		}
		for _, p := range ni.Ipv4Prefixes {
			f.prefixes4 = append(f.prefixes4, p.Ipv4Prefix)
		}
		for _, p := range ni.Ipv6Prefixes {
			f.prefixes6 = append(f.prefixes6, p.Ipv6Prefix)
		}
		if a := ni.Attachment; a != nil {
			f.attached = true
			f.attachmentID = aws.ToString(a.AttachmentId)
			f.instanceID = string(inst.ID)
			f.device = int(aws.ToInt32(a.DeviceIndex))
			f.card = int(aws.ToInt32(a.NetworkCardIndex))
			f.deleteOnTermination = aws.ToBool(a.DeleteOnTermination)
		}
		e, err := f.toCore()
		if err != nil {
			return core.Instance{}, fmt.Errorf("convert interface of instance %s: %w", inst.ID, err)
		}
		inst.ENIs = append(inst.ENIs, e)
	}
	slices.SortFunc(inst.ENIs, func(a, b core.ENI) int {
		return cmp.Or(cmp.Compare(a.NetworkCard, b.NetworkCard), cmp.Compare(a.DeviceNumber, b.DeviceNumber))
	})
	for _, e := range inst.ENIs {
		if e.Primary {
			inst.PrimaryENI, inst.PrimaryMAC = e.ID, e.MAC
			inst.SecurityGroups = slices.Clone(e.SecurityGroups)
			if !inst.PrimaryIP.IsValid() {
				inst.PrimaryIP = e.PrimaryIP
			}
			if inst.SubnetID == "" {
				inst.SubnetID = e.SubnetID
			}
			break
		}
	}
	return inst, nil
}

// subnetFromSDK converts a DescribeSubnets item; the IPv6 block is the
// first associated one.
func subnetFromSDK(s types.Subnet) (core.Subnet, error) {
	sn := core.Subnet{
		ID:               core.SubnetID(aws.ToString(s.SubnetId)),
		VPCID:            aws.ToString(s.VpcId),
		AvailabilityZone: aws.ToString(s.AvailabilityZone),
		AvailableIPs:     int(aws.ToInt32(s.AvailableIpAddressCount)),
		Tags:             tagMap(s.Tags),
	}
	if s.CidrBlock != nil {
		p, err := parsePrefix(s.CidrBlock)
		if err != nil {
			return core.Subnet{}, fmt.Errorf("read CIDR of subnet %s: %w", sn.ID, err)
		}
		sn.CIDR = p
	}
	for _, a := range s.Ipv6CidrBlockAssociationSet {
		if a.Ipv6CidrBlockState != nil && a.Ipv6CidrBlockState.State != types.SubnetCidrBlockStateCodeAssociated {
			continue
		}
		p, err := parsePrefix(a.Ipv6CidrBlock)
		if err != nil {
			return core.Subnet{}, fmt.Errorf("read IPv6 CIDR of subnet %s: %w", sn.ID, err)
		}
		sn.IPv6CIDR = p
		break
	}
	return sn, nil
}

// instanceTypeFromSDK converts a DescribeInstanceTypes item into the limits
// the core uses. MaxENIs is the default card's interface limit, as in the
// built-in table.
func instanceTypeFromSDK(it types.InstanceTypeInfo) limits.InstanceType {
	out := limits.InstanceType{
		Name:       string(it.InstanceType),
		Hypervisor: string(it.Hypervisor),
		BareMetal:  aws.ToBool(it.BareMetal),
	}
	if out.Hypervisor == "" {
		out.Hypervisor = "unknown"
	}
	if it.VCpuInfo != nil {
		out.VCPUs = int(aws.ToInt32(it.VCpuInfo.DefaultVCpus))
	}
	ni := it.NetworkInfo
	if ni == nil {
		return out
	}
	out.IPv4PerENI = int(aws.ToInt32(ni.Ipv4AddressesPerInterface))
	out.IPv6PerENI = int(aws.ToInt32(ni.Ipv6AddressesPerInterface))
	out.IPv6Supported = aws.ToBool(ni.Ipv6Supported)
	out.EFASupported = aws.ToBool(ni.EfaSupported)
	out.DefaultNetworkCard = int(aws.ToInt32(ni.DefaultNetworkCardIndex))
	out.MaxENIs = int(aws.ToInt32(ni.MaximumNetworkInterfaces))
	for _, c := range ni.NetworkCards {
		card := limits.NetworkCard{Index: int(aws.ToInt32(c.NetworkCardIndex)), MaxInterfaces: int(aws.ToInt32(c.MaximumNetworkInterfaces))}
		out.NetworkCards = append(out.NetworkCards, card)
		if card.Index == out.DefaultNetworkCard {
			out.MaxENIs = card.MaxInterfaces
		}
	}
	slices.SortFunc(out.NetworkCards, func(a, b limits.NetworkCard) int { return cmp.Compare(a.Index, b.Index) })
	return out
}

// sdkTags renders a tag map in key order, so requests are deterministic.
func sdkTags(m map[string]string) []types.Tag {
	out := make([]types.Tag, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func parseAddr(s *string) (netip.Addr, error) {
	if s == nil {
		return netip.Addr{}, fmt.Errorf("parse address: missing")
	}
	return netip.ParseAddr(*s)
}

func parsePrefix(s *string) (netip.Prefix, error) {
	if s == nil {
		return netip.Prefix{}, fmt.Errorf("parse prefix: missing")
	}
	return netip.ParsePrefix(*s)
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func idStrings(ids []core.ENIID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
