package ec2

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// EC2 API actions the adapter calls. They name the operations in errors,
// metrics and deploy/iam-policy.json.
const (
	OpDescribeInstances               = "DescribeInstances"
	OpDescribeInstanceTypes           = "DescribeInstanceTypes"
	OpDescribeSubnets                 = "DescribeSubnets"
	OpDescribeVpcs                    = "DescribeVpcs"
	OpDescribeNetworkInterfaces       = "DescribeNetworkInterfaces"
	OpCreateNetworkInterface          = "CreateNetworkInterface"
	OpAttachNetworkInterface          = "AttachNetworkInterface"
	OpModifyNetworkInterfaceAttribute = "ModifyNetworkInterfaceAttribute"
	OpDetachNetworkInterface          = "DetachNetworkInterface"
	OpDeleteNetworkInterface          = "DeleteNetworkInterface"
	OpAssignPrivateIPAddresses        = "AssignPrivateIpAddresses"
	OpUnassignPrivateIPAddresses      = "UnassignPrivateIpAddresses"
	OpAssignIPv6Addresses             = "AssignIpv6Addresses"
	OpUnassignIPv6Addresses           = "UnassignIpv6Addresses"
	OpCreateTags                      = "CreateTags"
)

// Operations returns every EC2 action the adapter may call, sorted.
func Operations() []string {
	ops := []string{
		OpDescribeInstances, OpDescribeInstanceTypes, OpDescribeSubnets, OpDescribeVpcs, OpDescribeNetworkInterfaces,
		OpCreateNetworkInterface, OpAttachNetworkInterface, OpModifyNetworkInterfaceAttribute, OpDetachNetworkInterface,
		OpDeleteNetworkInterface, OpAssignPrivateIPAddresses, OpUnassignPrivateIPAddresses, OpAssignIPv6Addresses,
		OpUnassignIPv6Addresses, OpCreateTags,
	}
	slices.Sort(ops)
	return ops
}

// describePageSize is the page size of paginated describes (EC2's maximum
// for DescribeNetworkInterfaces is 1000).
const describePageSize = 1000

// Client is ports.Cloud on the EC2 API. It is safe for concurrent use.
type Client struct {
	api    *ec2.Client
	region string
	log    *slog.Logger

	vpcDenied sync.Once

	mu      sync.Mutex
	subnets map[core.SubnetID]core.Subnet // CIDR blocks by subnet, see fillSubnetBlocks
}

var _ ports.Cloud = (*Client)(nil)

// New builds a client from cfg and the SDK's default configuration chain.
// It does no network I/O: credentials are resolved on the first call. log
// may be nil.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	api, region, err := newSDKClient(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Client{api: api, region: region, log: log, subnets: map[core.SubnetID]core.Subnet{}}, nil
}

// Region returns the region the client talks to.
func (c *Client) Region() string { return c.region }

// CreateENI creates an ENI with its secondary addresses, prefixes and tags
// in one CreateNetworkInterface call, so it is never visible untagged.
func (c *Client) CreateENI(ctx context.Context, req ports.CreateENIRequest) (core.ENI, error) {
	if req.SubnetID == "" {
		return core.ENI{}, fmt.Errorf("ec2 %s: no subnet: %w", OpCreateNetworkInterface, core.ErrInvalidParameter)
	}
	if req.SecondaryIPs > 0 && req.IPv4Prefixes > 0 {
		// EC2 refuses SecondaryPrivateIpAddressCount together with
		// Ipv4PrefixCount; say so before spending a call on it.
		return core.ENI{}, fmt.Errorf("ec2 %s: %d secondary addresses and %d prefixes in one call (EC2 accepts one kind per create): %w",
			OpCreateNetworkInterface, req.SecondaryIPs, req.IPv4Prefixes, core.ErrInvalidParameter)
	}
	in := &ec2.CreateNetworkInterfaceInput{
		SubnetId: aws.String(string(req.SubnetID)),
		Groups:   slices.Clone(req.SecurityGroups),
	}
	if req.Description != "" {
		in.Description = aws.String(req.Description)
	}
	if req.SecondaryIPs > 0 {
		in.SecondaryPrivateIpAddressCount = aws.Int32(int32(req.SecondaryIPs))
	}
	if req.IPv4Prefixes > 0 {
		in.Ipv4PrefixCount = aws.Int32(int32(req.IPv4Prefixes))
	}
	if req.IPv6Prefixes > 0 {
		in.Ipv6PrefixCount = aws.Int32(int32(req.IPv6Prefixes))
	}
	if len(req.Tags) > 0 {
		in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeNetworkInterface, Tags: sdkTags(req.Tags)}}
	}
	out, err := c.api.CreateNetworkInterface(ctx, in)
	if err != nil {
		return core.ENI{}, classify(OpCreateNetworkInterface, err)
	}
	if out.NetworkInterface == nil {
		return core.ENI{}, fmt.Errorf("ec2 %s: response without an interface: %w", OpCreateNetworkInterface, core.ErrInvalidState)
	}
	e, err := eniFromNetworkInterface(*out.NetworkInterface)
	if err != nil {
		return core.ENI{}, fmt.Errorf("ec2 %s: %w", OpCreateNetworkInterface, err)
	}
	enis := []core.ENI{e}
	c.fillSubnetBlocks(ctx, enis)
	return enis[0], nil
}

// AttachENI attaches the ENI at device on card and returns the attachment ID.
func (c *Client) AttachENI(ctx context.Context, eni core.ENIID, instance core.InstanceID, device, card int) (string, error) {
	out, err := c.api.AttachNetworkInterface(ctx, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(string(eni)),
		InstanceId:         aws.String(string(instance)),
		DeviceIndex:        aws.Int32(int32(device)),
		NetworkCardIndex:   aws.Int32(int32(card)),
	})
	if err != nil {
		return "", classify(OpAttachNetworkInterface, err)
	}
	return aws.ToString(out.AttachmentId), nil
}

// SetDeleteOnTermination sets the attachment's DeleteOnTermination flag.
func (c *Client) SetDeleteOnTermination(ctx context.Context, eni core.ENIID, attachmentID string) error {
	_, err := c.api.ModifyNetworkInterfaceAttribute(ctx, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(string(eni)),
		Attachment: &types.NetworkInterfaceAttachmentChanges{
			AttachmentId:        aws.String(attachmentID),
			DeleteOnTermination: aws.Bool(true),
		},
	})
	return classify(OpModifyNetworkInterfaceAttribute, err)
}

// DetachENI detaches an attachment; force detaches even when the instance
// does not release the interface.
func (c *Client) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	_, err := c.api.DetachNetworkInterface(ctx, &ec2.DetachNetworkInterfaceInput{
		AttachmentId: aws.String(attachmentID),
		Force:        aws.Bool(force),
	})
	return classify(OpDetachNetworkInterface, err)
}

// DeleteENI deletes a detached ENI.
func (c *Client) DeleteENI(ctx context.Context, eni core.ENIID) error {
	_, err := c.api.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(string(eni))})
	return classify(OpDeleteNetworkInterface, err)
}

// AssignIPv4 assigns ips secondary addresses and prefixes /28 prefixes and
// returns what EC2 reports as assigned. EC2 does not mix addresses and
// prefixes in one request, so asking for both makes two calls; when the
// second fails the first is given back (best effort) and the error
// returned.
func (c *Client) AssignIPv4(ctx context.Context, eni core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	if ips < 0 || prefixes < 0 || ips+prefixes == 0 {
		return ports.Assigned{}, fmt.Errorf("ec2 %s: assign %d addresses and %d prefixes to %s: %w",
			OpAssignPrivateIPAddresses, ips, prefixes, eni, core.ErrInvalidParameter)
	}
	var got ports.Assigned
	if ips > 0 {
		a, err := c.assignV4(ctx, eni, &ec2.AssignPrivateIpAddressesInput{SecondaryPrivateIpAddressCount: aws.Int32(int32(ips))})
		if err != nil {
			return ports.Assigned{}, err
		}
		got.IPs = a.IPs
	}
	if prefixes > 0 {
		a, err := c.assignV4(ctx, eni, &ec2.AssignPrivateIpAddressesInput{Ipv4PrefixCount: aws.Int32(int32(prefixes))})
		if err != nil {
			if len(got.IPs) > 0 {
				if uerr := c.UnassignIPv4(ctx, eni, got.IPs, nil); uerr != nil {
					c.log.Warn("give back addresses after a failed prefix assignment", "eni", string(eni), "error", uerr)
				}
			}
			return ports.Assigned{}, err
		}
		got.Prefixes = a.Prefixes
	}
	return got, nil
}

func (c *Client) assignV4(ctx context.Context, eni core.ENIID, in *ec2.AssignPrivateIpAddressesInput) (ports.Assigned, error) {
	in.NetworkInterfaceId = aws.String(string(eni))
	out, err := c.api.AssignPrivateIpAddresses(ctx, in)
	if err != nil {
		return ports.Assigned{}, classify(OpAssignPrivateIPAddresses, err)
	}
	var got ports.Assigned
	for _, a := range out.AssignedPrivateIpAddresses {
		ip, err := parseAddr(a.PrivateIpAddress)
		if err != nil {
			return ports.Assigned{}, fmt.Errorf("ec2 %s: read assigned address of %s: %w", OpAssignPrivateIPAddresses, eni, err)
		}
		got.IPs = append(got.IPs, ip)
	}
	for _, p := range out.AssignedIpv4Prefixes {
		pfx, err := parsePrefix(p.Ipv4Prefix)
		if err != nil {
			return ports.Assigned{}, fmt.Errorf("ec2 %s: read assigned prefix of %s: %w", OpAssignPrivateIPAddresses, eni, err)
		}
		got.Prefixes = append(got.Prefixes, pfx)
	}
	return got, nil
}

// UnassignIPv4 gives secondary addresses and /28 prefixes back to the
// subnet, one call for the addresses and one for the prefixes.
func (c *Client) UnassignIPv4(ctx context.Context, eni core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	if len(ips)+len(prefixes) == 0 {
		return fmt.Errorf("ec2 %s: nothing to unassign from %s: %w", OpUnassignPrivateIPAddresses, eni, core.ErrInvalidParameter)
	}
	if len(ips) > 0 {
		_, err := c.api.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(string(eni)),
			PrivateIpAddresses: addrStrings(ips),
		})
		if err != nil {
			return classify(OpUnassignPrivateIPAddresses, err)
		}
	}
	if len(prefixes) > 0 {
		_, err := c.api.UnassignPrivateIpAddresses(ctx, &ec2.UnassignPrivateIpAddressesInput{
			NetworkInterfaceId: aws.String(string(eni)),
			Ipv4Prefixes:       prefixStrings(prefixes),
		})
		if err != nil {
			return classify(OpUnassignPrivateIPAddresses, err)
		}
	}
	return nil
}

// AssignIPv6Prefixes assigns n /80 prefixes and returns them.
func (c *Client) AssignIPv6Prefixes(ctx context.Context, eni core.ENIID, n int) ([]netip.Prefix, error) {
	if n <= 0 {
		return nil, fmt.Errorf("ec2 %s: assign %d IPv6 prefixes to %s: %w", OpAssignIPv6Addresses, n, eni, core.ErrInvalidParameter)
	}
	out, err := c.api.AssignIpv6Addresses(ctx, &ec2.AssignIpv6AddressesInput{
		NetworkInterfaceId: aws.String(string(eni)),
		Ipv6PrefixCount:    aws.Int32(int32(n)),
	})
	if err != nil {
		return nil, classify(OpAssignIPv6Addresses, err)
	}
	got := make([]netip.Prefix, 0, len(out.AssignedIpv6Prefixes))
	for _, s := range out.AssignedIpv6Prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("ec2 %s: read assigned IPv6 prefix of %s: %w", OpAssignIPv6Addresses, eni, err)
		}
		got = append(got, p)
	}
	return got, nil
}

// UnassignIPv6Prefixes gives /80 prefixes back.
func (c *Client) UnassignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes []netip.Prefix) error {
	if len(prefixes) == 0 {
		return fmt.Errorf("ec2 %s: nothing to unassign from %s: %w", OpUnassignIPv6Addresses, eni, core.ErrInvalidParameter)
	}
	_, err := c.api.UnassignIpv6Addresses(ctx, &ec2.UnassignIpv6AddressesInput{
		NetworkInterfaceId: aws.String(string(eni)),
		Ipv6Prefixes:       prefixStrings(prefixes),
	})
	return classify(OpUnassignIPv6Addresses, err)
}

// DescribeInstance reads a running (or stopped) instance with its attached
// ENIs in (card, device) order, the CIDR blocks of their subnets and of the
// VPC. DescribeInstances reports no ENI tags; callers that need them use
// DescribeENIs. A terminated instance is not found.
func (c *Client) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	out, err := c.api.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{string(id)}})
	if err != nil {
		return core.Instance{}, classify(OpDescribeInstances, err)
	}
	var found *types.Instance
	for _, r := range out.Reservations {
		for i := range r.Instances {
			if aws.ToString(r.Instances[i].InstanceId) == string(id) {
				found = &r.Instances[i]
			}
		}
	}
	if found == nil || (found.State != nil && found.State.Name == types.InstanceStateNameTerminated) {
		return core.Instance{}, fmt.Errorf("ec2 %s: instance %s: %w", OpDescribeInstances, id, core.ErrNotFound)
	}
	inst, err := instanceFromSDK(*found, c.region)
	if err != nil {
		return core.Instance{}, fmt.Errorf("ec2 %s: %w", OpDescribeInstances, err)
	}
	c.fillSubnetBlocks(ctx, inst.ENIs)
	if inst.VPCID != "" {
		v4, v6, err := c.vpcBlocks(ctx, inst.VPCID)
		switch {
		case errors.Is(err, core.ErrUnauthorized):
			// Older IAM policies (AmazonEKS_CNI_Policy) lack
			// ec2:DescribeVpcs; instance metadata still has the blocks.
			c.vpcDenied.Do(func() {
				c.log.Warn("ec2:DescribeVpcs is not allowed; VPC CIDR blocks come from instance metadata only", "vpc", inst.VPCID, "error", err)
			})
		case err != nil:
			return core.Instance{}, err
		}
		inst.VPCCIDRs, inst.VPCIPv6CIDRs = v4, v6
	}
	return inst, nil
}

// vpcBlocks returns the associated IPv4 and IPv6 CIDR blocks of a VPC.
func (c *Client) vpcBlocks(ctx context.Context, vpcID string) (v4, v6 []netip.Prefix, err error) {
	out, err := c.api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}})
	if err != nil {
		return nil, nil, classify(OpDescribeVpcs, err)
	}
	for _, v := range out.Vpcs {
		if aws.ToString(v.VpcId) != vpcID {
			continue
		}
		for _, a := range v.CidrBlockAssociationSet {
			if a.CidrBlockState != nil && a.CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
				continue
			}
			p, err := parsePrefix(a.CidrBlock)
			if err != nil {
				return nil, nil, fmt.Errorf("ec2 %s: read CIDR of %s: %w", OpDescribeVpcs, vpcID, err)
			}
			v4 = append(v4, p)
		}
		if len(v4) == 0 && v.CidrBlock != nil {
			p, err := parsePrefix(v.CidrBlock)
			if err != nil {
				return nil, nil, fmt.Errorf("ec2 %s: read CIDR of %s: %w", OpDescribeVpcs, vpcID, err)
			}
			v4 = append(v4, p)
		}
		for _, a := range v.Ipv6CidrBlockAssociationSet {
			if a.Ipv6CidrBlockState != nil && a.Ipv6CidrBlockState.State != types.VpcCidrBlockStateCodeAssociated {
				continue
			}
			p, err := parsePrefix(a.Ipv6CidrBlock)
			if err != nil {
				return nil, nil, fmt.Errorf("ec2 %s: read IPv6 CIDR of %s: %w", OpDescribeVpcs, vpcID, err)
			}
			v6 = append(v6, p)
		}
		return v4, v6, nil
	}
	return nil, nil, fmt.Errorf("ec2 %s: vpc %s: %w", OpDescribeVpcs, vpcID, core.ErrNotFound)
}

// DescribeENIs lists the ENIs matching f, following pagination. The filter
// is applied by EC2 and checked again on the results, so an EC2-compatible
// endpoint that ignores a filter cannot widen the answer. Naming an ENI that
// does not exist fails the call with core.ErrNotFound, as EC2 does.
func (c *Client) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	in := &ec2.DescribeNetworkInterfacesInput{Filters: eniFilters(f)}
	var raw []types.NetworkInterface
	if len(f.IDs) > 0 {
		// EC2 refuses MaxResults together with explicit ids; the answer is
		// a single page.
		in.NetworkInterfaceIds = idStrings(f.IDs)
		out, err := c.api.DescribeNetworkInterfaces(ctx, in)
		if err != nil {
			return nil, classify(OpDescribeNetworkInterfaces, err)
		}
		raw = out.NetworkInterfaces
	} else {
		in.MaxResults = aws.Int32(describePageSize)
		pages := ec2.NewDescribeNetworkInterfacesPaginator(c.api, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify(OpDescribeNetworkInterfaces, err)
			}
			raw = append(raw, out.NetworkInterfaces...)
		}
	}
	enis := make([]core.ENI, 0, len(raw))
	for _, ni := range raw {
		e, err := eniFromNetworkInterface(ni)
		if err != nil {
			return nil, fmt.Errorf("ec2 %s: %w", OpDescribeNetworkInterfaces, err)
		}
		if eniMatches(e, f) {
			enis = append(enis, e)
		}
	}
	c.fillSubnetBlocks(ctx, enis)
	return enis, nil
}

// DescribeSubnets lists the subnets matching f, following pagination.
func (c *Client) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	in := &ec2.DescribeSubnetsInput{}
	if f.VPCID != "" {
		in.Filters = append(in.Filters, filter("vpc-id", f.VPCID))
	}
	if f.AvailabilityZone != "" {
		in.Filters = append(in.Filters, filter("availability-zone", f.AvailabilityZone))
	}
	var raw []types.Subnet
	if len(f.IDs) > 0 {
		for _, id := range f.IDs {
			in.SubnetIds = append(in.SubnetIds, string(id))
		}
		out, err := c.api.DescribeSubnets(ctx, in)
		if err != nil {
			return nil, classify(OpDescribeSubnets, err)
		}
		raw = out.Subnets
	} else {
		in.MaxResults = aws.Int32(describePageSize)
		pages := ec2.NewDescribeSubnetsPaginator(c.api, in)
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				return nil, classify(OpDescribeSubnets, err)
			}
			raw = append(raw, out.Subnets...)
		}
	}
	subnets := make([]core.Subnet, 0, len(raw))
	for _, s := range raw {
		sn, err := subnetFromSDK(s)
		if err != nil {
			return nil, fmt.Errorf("ec2 %s: %w", OpDescribeSubnets, err)
		}
		if (len(f.IDs) > 0 && !slices.Contains(f.IDs, sn.ID)) ||
			(f.VPCID != "" && sn.VPCID != f.VPCID) ||
			(f.AvailabilityZone != "" && sn.AvailabilityZone != f.AvailabilityZone) {
			continue
		}
		subnets = append(subnets, sn)
	}
	c.mu.Lock()
	for _, sn := range subnets {
		c.subnets[sn.ID] = core.Subnet{ID: sn.ID, CIDR: sn.CIDR, IPv6CIDR: sn.IPv6CIDR}
	}
	c.mu.Unlock()
	return subnets, nil
}

// DescribeInstanceType reads one instance type's network limits.
func (c *Client) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	out, err := c.api.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{types.InstanceType(name)}})
	if err != nil {
		return limits.InstanceType{}, classify(OpDescribeInstanceTypes, err)
	}
	for _, it := range out.InstanceTypes {
		if string(it.InstanceType) == name {
			return instanceTypeFromSDK(it), nil
		}
	}
	return limits.InstanceType{}, fmt.Errorf("ec2 %s: instance type %q: %w", OpDescribeInstanceTypes, name, core.ErrNotFound)
}

// CreateTags adds or overwrites tags on one resource.
func (c *Client) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	if resourceID == "" || len(tags) == 0 {
		return fmt.Errorf("ec2 %s: tag %q with %d tags: %w", OpCreateTags, resourceID, len(tags), core.ErrInvalidParameter)
	}
	_, err := c.api.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{resourceID}, Tags: sdkTags(tags)})
	return classify(OpCreateTags, err)
}

// fillSubnetBlocks sets SubnetCIDR and SubnetIPv6CIDR of the ENIs, which
// DescribeNetworkInterfaces and DescribeInstances do not report, from the
// cache or one DescribeSubnets call for the unknown subnets. Failing that it
// logs and leaves the blocks empty: the ENIs themselves are still right.
func (c *Client) fillSubnetBlocks(ctx context.Context, enis []core.ENI) {
	c.mu.Lock()
	var missing []core.SubnetID
	for _, e := range enis {
		if _, ok := c.subnets[e.SubnetID]; !ok && e.SubnetID != "" && !slices.Contains(missing, e.SubnetID) {
			missing = append(missing, e.SubnetID)
		}
	}
	c.mu.Unlock()
	if len(missing) > 0 {
		if _, err := c.DescribeSubnets(ctx, ports.SubnetFilter{IDs: missing}); err != nil {
			c.log.Warn("look up subnet CIDR blocks of ENIs", "subnets", fmt.Sprint(missing), "error", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range enis {
		if sn, ok := c.subnets[enis[i].SubnetID]; ok {
			enis[i].SubnetCIDR, enis[i].SubnetIPv6CIDR = sn.CIDR, sn.IPv6CIDR
		}
	}
}

// eniFilters renders the port filter as EC2 filters. EC2 combines filters
// with AND and the values of one filter with OR; one tag-key filter per
// key would therefore be right too, but not every EC2-compatible endpoint
// accepts a repeated filter name, so only the first key is sent and the
// rest checked by eniMatches.
func eniFilters(f ports.ENIFilter) []types.Filter {
	var out []types.Filter
	if f.InstanceID != "" {
		out = append(out, filter("attachment.instance-id", string(f.InstanceID)))
	}
	if f.VPCID != "" {
		out = append(out, filter("vpc-id", f.VPCID))
	}
	if f.Status != "" {
		out = append(out, filter("status", f.Status))
	}
	if len(f.TagKeys) > 0 {
		out = append(out, filter("tag-key", f.TagKeys[0]))
	}
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		out = append(out, filter("tag:"+k, f.Tags[k]))
	}
	return out
}

func filter(name, value string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: []string{value}}
}

// eniMatches applies the port filter to a converted ENI.
func eniMatches(e core.ENI, f ports.ENIFilter) bool {
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, e.ID) {
		return false
	}
	if f.InstanceID != "" && e.InstanceID != f.InstanceID {
		return false
	}
	if f.VPCID != "" && e.VPCID != f.VPCID {
		return false
	}
	if f.Status != "" && e.Status != f.Status {
		return false
	}
	for _, k := range f.TagKeys {
		if _, ok := e.Tags[k]; !ok {
			return false
		}
	}
	for k, v := range f.Tags {
		if got, ok := e.Tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}
