package emulator

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// fromSDK maps what the SDK parsed back to the domain fields EC2 reports,
// so it can be compared with the memory cloud's own view.
func fromSDK(t *testing.T, n types.NetworkInterface) core.ENI {
	t.Helper()
	e := core.ENI{
		ID:          core.ENIID(aws.ToString(n.NetworkInterfaceId)),
		MAC:         aws.ToString(n.MacAddress),
		Description: aws.ToString(n.Description),
		SubnetID:    core.SubnetID(aws.ToString(n.SubnetId)),
		VPCID:       aws.ToString(n.VpcId),
		Status:      string(n.Status),
		Tags:        map[string]string{},
		Trunk:       n.InterfaceType == types.NetworkInterfaceTypeTrunk,
		EFA:         n.InterfaceType == types.NetworkInterfaceTypeEfa,
	}
	if aws.ToString(n.OwnerId) != DefaultAccountID {
		t.Errorf("%s: owner %q, want %s", e.ID, aws.ToString(n.OwnerId), DefaultAccountID)
	}
	for _, ip := range n.PrivateIpAddresses {
		a := netip.MustParseAddr(aws.ToString(ip.PrivateIpAddress))
		if aws.ToBool(ip.Primary) {
			e.PrimaryIP = a
		} else {
			e.SecondaryIPs = append(e.SecondaryIPs, a)
		}
	}
	if got := aws.ToString(n.PrivateIpAddress); got != e.PrimaryIP.String() {
		t.Errorf("%s: privateIpAddress %s, primary in the set %s", e.ID, got, e.PrimaryIP)
	}
	for _, p := range n.Ipv4Prefixes {
		e.IPv4Prefixes = append(e.IPv4Prefixes, netip.MustParsePrefix(aws.ToString(p.Ipv4Prefix)))
	}
	for _, p := range n.Ipv6Prefixes {
		e.IPv6Prefixes = append(e.IPv6Prefixes, netip.MustParsePrefix(aws.ToString(p.Ipv6Prefix)))
	}
	for _, g := range n.Groups {
		e.SecurityGroups = append(e.SecurityGroups, aws.ToString(g.GroupId))
	}
	for _, tg := range n.TagSet {
		e.Tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	e.DeviceNumber = -1
	if a := n.Attachment; a != nil {
		e.AttachmentID = aws.ToString(a.AttachmentId)
		e.InstanceID = core.InstanceID(aws.ToString(a.InstanceId))
		e.DeviceNumber = int(aws.ToInt32(a.DeviceIndex))
		e.NetworkCard = int(aws.ToInt32(a.NetworkCardIndex))
		e.DeleteOnTermination = aws.ToBool(a.DeleteOnTermination)
	}
	return e
}

// wire keeps the fields of a memory ENI view that EC2 puts on the wire.
func wire(e core.ENI) core.ENI {
	out := core.ENI{
		ID: e.ID, MAC: e.MAC, Description: e.Description, SubnetID: e.SubnetID, VPCID: e.VPCID,
		PrimaryIP: e.PrimaryIP, SecondaryIPs: e.SecondaryIPs, IPv4Prefixes: e.IPv4Prefixes, IPv6Prefixes: e.IPv6Prefixes,
		SecurityGroups: e.SecurityGroups, Tags: e.Tags, Status: e.Status, Trunk: e.Trunk, EFA: e.EFA,
		DeviceNumber: e.DeviceNumber, NetworkCard: e.NetworkCard, AttachmentID: e.AttachmentID,
		InstanceID: e.InstanceID, DeleteOnTermination: e.DeleteOnTermination,
	}
	return canonical(out)
}

// canonical makes empty collections nil so comparisons do not depend on
// how a list was built.
func canonical(e core.ENI) core.ENI {
	if len(e.SecondaryIPs) == 0 {
		e.SecondaryIPs = nil
	}
	if len(e.IPv4Prefixes) == 0 {
		e.IPv4Prefixes = nil
	}
	if len(e.IPv6Prefixes) == 0 {
		e.IPv6Prefixes = nil
	}
	if len(e.SecurityGroups) == 0 {
		e.SecurityGroups = nil
	}
	if e.Tags == nil {
		e.Tags = map[string]string{}
	}
	if e.DeviceNumber < 0 {
		e.NetworkCard = 0
	}
	return e
}

// checkENI compares what the SDK parsed with the memory cloud's state.
func (h *harness) checkENI(t *testing.T, n types.NetworkInterface) core.ENI {
	t.Helper()
	got := canonical(fromSDK(t, n))
	mem, ok := h.cloud.ENI(got.ID)
	if !ok {
		t.Fatalf("ENI %s from the wire does not exist in the cloud", got.ID)
	}
	if want := wire(mem); !reflect.DeepEqual(got, want) {
		t.Fatalf("ENI on the wire differs from the cloud:\n got %+v\nwant %+v", got, want)
	}
	return got
}

func (h *harness) describe(t *testing.T, id core.ENIID) core.ENI {
	t.Helper()
	out, err := h.ec2.DescribeNetworkInterfaces(ctx(t), &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{string(id)}})
	must(t, err)
	if len(out.NetworkInterfaces) != 1 {
		t.Fatalf("describe %s: %d interfaces", id, len(out.NetworkInterfaces))
	}
	return h.checkENI(t, out.NetworkInterfaces[0])
}

func TestENILifecycleThroughSDK(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)

	created, err := h.ec2.CreateNetworkInterface(c, &ec2.CreateNetworkInterfaceInput{
		SubnetId:                       aws.String(string(subnetMain)),
		Groups:                         []string{sgDefault, "sg-0bbbbbbbbbbbbbbb2"},
		Description:                    aws.String("aws-K8S-" + string(h.inst.ID)),
		SecondaryPrivateIpAddressCount: aws.Int32(1),
		Ipv6PrefixCount:                aws.Int32(1),
		TagSpecifications: []types.TagSpecification{{
			ResourceType: types.ResourceTypeNetworkInterface,
			Tags:         []types.Tag{{Key: aws.String(core.TagInstanceID), Value: aws.String(string(h.inst.ID))}},
		}},
	})
	must(t, err)
	eni := h.checkENI(t, *created.NetworkInterface)
	if eni.Status != "available" || len(eni.SecondaryIPs) != 1 || len(eni.IPv6Prefixes) != 1 || eni.Tags[core.TagInstanceID] != string(h.inst.ID) {
		t.Fatalf("created ENI %+v: want available, 1 secondary IP, 1 IPv6 prefix, instance tag", eni)
	}

	att, err := h.ec2.AttachNetworkInterface(c, &ec2.AttachNetworkInterfaceInput{
		NetworkInterfaceId: aws.String(string(eni.ID)), InstanceId: aws.String(string(h.inst.ID)), DeviceIndex: aws.Int32(1),
	})
	must(t, err)
	if aws.ToString(att.AttachmentId) == "" || aws.ToInt32(att.NetworkCardIndex) != 0 {
		t.Fatalf("attach output %+v: want an attachment id on card 0", att)
	}
	if n := len(h.attached); n != 2 || h.attached[1].ID != eni.ID || h.attached[1].MAC != eni.MAC || h.attached[1].DeviceNumber != 1 {
		t.Fatalf("OnAttach calls %+v: want the primary, then %s with its MAC at device 1", h.attached, eni.ID)
	}

	_, err = h.ec2.ModifyNetworkInterfaceAttribute(c, &ec2.ModifyNetworkInterfaceAttributeInput{
		NetworkInterfaceId: aws.String(string(eni.ID)),
		Attachment:         &types.NetworkInterfaceAttachmentChanges{AttachmentId: att.AttachmentId, DeleteOnTermination: aws.Bool(true)},
	})
	must(t, err)
	if got := h.describe(t, eni.ID); !got.DeleteOnTermination || got.AttachmentID != aws.ToString(att.AttachmentId) || got.Status != "in-use" {
		t.Fatalf("after modify: %+v", got)
	}

	ips, err := h.ec2.AssignPrivateIpAddresses(c, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(string(eni.ID)), SecondaryPrivateIpAddressCount: aws.Int32(1),
	})
	must(t, err)
	pfx, err := h.ec2.AssignPrivateIpAddresses(c, &ec2.AssignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(string(eni.ID)), Ipv4PrefixCount: aws.Int32(1),
	})
	must(t, err)
	if len(ips.AssignedPrivateIpAddresses) != 1 || len(pfx.AssignedIpv4Prefixes) != 1 || aws.ToString(pfx.NetworkInterfaceId) != string(eni.ID) {
		t.Fatalf("assign outputs %+v / %+v", ips, pfx)
	}
	newIP := aws.ToString(ips.AssignedPrivateIpAddresses[0].PrivateIpAddress)
	newPrefix := aws.ToString(pfx.AssignedIpv4Prefixes[0].Ipv4Prefix)
	got := h.describe(t, eni.ID)
	if !slices.Contains(got.SecondaryIPs, netip.MustParseAddr(newIP)) || !slices.Contains(got.IPv4Prefixes, netip.MustParsePrefix(newPrefix)) {
		t.Fatalf("after assign %+v: want %s and %s", got, newIP, newPrefix)
	}

	_, err = h.ec2.UnassignPrivateIpAddresses(c, &ec2.UnassignPrivateIpAddressesInput{
		NetworkInterfaceId: aws.String(string(eni.ID)), PrivateIpAddresses: []string{newIP}, Ipv4Prefixes: []string{newPrefix},
	})
	must(t, err)
	if got := h.describe(t, eni.ID); len(got.SecondaryIPs) != 1 || len(got.IPv4Prefixes) != 0 {
		t.Fatalf("after unassign %+v: want 1 secondary, no prefix", got)
	}

	v6, err := h.ec2.AssignIpv6Addresses(c, &ec2.AssignIpv6AddressesInput{NetworkInterfaceId: aws.String(string(eni.ID)), Ipv6PrefixCount: aws.Int32(1)})
	must(t, err)
	if len(v6.AssignedIpv6Prefixes) != 1 || aws.ToString(v6.NetworkInterfaceId) != string(eni.ID) {
		t.Fatalf("assign IPv6 output %+v", v6)
	}
	un6, err := h.ec2.UnassignIpv6Addresses(c, &ec2.UnassignIpv6AddressesInput{NetworkInterfaceId: aws.String(string(eni.ID)), Ipv6Prefixes: v6.AssignedIpv6Prefixes})
	must(t, err)
	if !slices.Equal(un6.UnassignedIpv6Prefixes, v6.AssignedIpv6Prefixes) {
		t.Fatalf("unassigned %v, want %v", un6.UnassignedIpv6Prefixes, v6.AssignedIpv6Prefixes)
	}
	if got := h.describe(t, eni.ID); len(got.IPv6Prefixes) != 1 {
		t.Fatalf("after IPv6 unassign %+v: want the prefix from creation only", got)
	}

	_, err = h.ec2.CreateTags(c, &ec2.CreateTagsInput{
		Resources: []string{string(eni.ID)},
		Tags:      []types.Tag{{Key: aws.String(core.TagCluster), Value: aws.String("blue")}},
	})
	must(t, err)
	if got := h.describe(t, eni.ID); got.Tags[core.TagCluster] != "blue" || got.Tags[core.TagInstanceID] != string(h.inst.ID) {
		t.Fatalf("tags after CreateTags: %v", got.Tags)
	}

	di, err := h.ec2.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: []string{string(h.inst.ID)}})
	must(t, err)
	if len(di.Reservations) != 1 || len(di.Reservations[0].Instances) != 1 {
		t.Fatalf("describe instances: %+v", di.Reservations)
	}
	in := di.Reservations[0].Instances[0]
	if aws.ToString(in.InstanceId) != string(h.inst.ID) || in.InstanceType != "t3.small" ||
		aws.ToString(in.Placement.AvailabilityZone) != "us-west-2a" || aws.ToString(in.SubnetId) != string(subnetMain) ||
		aws.ToString(in.VpcId) != testVPC || aws.ToString(in.PrivateIpAddress) != h.inst.PrimaryIP.String() ||
		in.State.Name != types.InstanceStateNameRunning || len(in.NetworkInterfaces) != 2 {
		t.Fatalf("instance %+v", in)
	}
	for i, n := range in.NetworkInterfaces {
		mem := h.cloud.ENIsOf(h.inst.ID)[i]
		if aws.ToString(n.NetworkInterfaceId) != string(mem.ID) || aws.ToString(n.MacAddress) != mem.MAC ||
			int(aws.ToInt32(n.Attachment.DeviceIndex)) != mem.DeviceNumber || aws.ToString(n.Attachment.AttachmentId) != mem.AttachmentID ||
			len(n.PrivateIpAddresses) != 1+len(mem.SecondaryIPs) || len(n.Ipv6Prefixes) != len(mem.IPv6Prefixes) {
			t.Fatalf("instance interface %d %+v, cloud says %+v", i, n, mem)
		}
	}

	_, err = h.ec2.DetachNetworkInterface(c, &ec2.DetachNetworkInterfaceInput{AttachmentId: att.AttachmentId, Force: aws.Bool(true)})
	must(t, err)
	if len(h.detached) != 1 || h.detached[0].ID != eni.ID || h.detached[0].MAC != eni.MAC {
		t.Fatalf("OnDetach calls %+v: want %s", h.detached, eni.ID)
	}
	if got := h.describe(t, eni.ID); got.Status != "available" || got.AttachmentID != "" {
		t.Fatalf("after detach %+v", got)
	}
	_, err = h.ec2.DeleteNetworkInterface(c, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(string(eni.ID))})
	must(t, err)
	_, err = h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{string(eni.ID)}})
	wantCode(t, err, memory.CodeENINotFound)

	calls := h.cloud.Calls()
	for _, op := range Actions() {
		if op == memory.OpDescribeSubnets || op == memory.OpDescribeInstanceTypes || op == opDescribeVpcs {
			continue
		}
		if calls[op] == 0 {
			t.Errorf("action %s never reached the cloud (calls %v)", op, calls)
		}
	}
}

func TestDescribeNetworkInterfacesFilters(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	mk := func(desc string, tags map[string]string) core.ENIID {
		t.Helper()
		e, err := h.cloud.CreateENI(c, portsReq(subnetMain, desc, tags))
		must(t, err)
		return e.ID
	}
	leaked := mk("aws-K8S-i-0old", map[string]string{core.TagInstanceID: "i-0old", core.TagCluster: "blue"})
	other := mk("aws-K8S-i-0other", map[string]string{core.TagInstanceID: "i-0other", core.TagCluster: "green"})
	plain := mk("hand made", nil)
	attached := mk("aws-K8S-"+string(h.inst.ID), map[string]string{core.TagInstanceID: string(h.inst.ID), core.TagCluster: "blue"})
	if _, err := h.cloud.AttachENI(c, attached, h.inst.ID, 1, 0); err != nil {
		t.Fatal(err)
	}
	primary := h.inst.PrimaryENI
	f := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	cases := []struct {
		name    string
		filters []types.Filter
		want    []core.ENIID
	}{
		{"none", nil, []core.ENIID{primary, leaked, other, plain, attached}},
		{"status available", []types.Filter{f("status", "available")}, []core.ENIID{leaked, other, plain}},
		{"status in-use", []types.Filter{f("status", "in-use")}, []core.ENIID{primary, attached}},
		{"tag-key", []types.Filter{f("tag-key", core.TagInstanceID)}, []core.ENIID{leaked, other, attached}},
		{"leak cleanup", []types.Filter{f("status", "available"), f("tag-key", core.TagInstanceID), f("tag:"+core.TagCluster, "blue")}, []core.ENIID{leaked}},
		{"tag value OR", []types.Filter{f("tag:"+core.TagCluster, "blue", "green")}, []core.ENIID{leaked, other, attached}},
		{"description wildcard", []types.Filter{f("description", "aws-K8S-*")}, []core.ENIID{leaked, other, attached}},
		{"description ?", []types.Filter{f("description", "aws-K8S-i-0ol?")}, []core.ENIID{leaked}},
		{"attachment.instance-id", []types.Filter{f("attachment.instance-id", string(h.inst.ID))}, []core.ENIID{primary, attached}},
		{"device index", []types.Filter{f("attachment.device-index", "1")}, []core.ENIID{attached}},
		{"vpc-id", []types.Filter{f("vpc-id", testVPC)}, []core.ENIID{primary, leaked, other, plain, attached}},
		{"vpc-id other", []types.Filter{f("vpc-id", "vpc-0ffffffffffffffff")}, nil},
		{"network-interface-id", []types.Filter{f("network-interface-id", string(plain), "eni-0ffffffffffffffff")}, []core.ENIID{plain}},
		{"subnet-id", []types.Filter{f("subnet-id", string(subnetMain))}, []core.ENIID{primary, leaked, other, plain, attached}},
		{"interface-type", []types.Filter{f("interface-type", "trunk")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{Filters: tc.filters})
			must(t, err)
			var got []core.ENIID
			for _, n := range out.NetworkInterfaces {
				got = append(got, h.checkENI(t, n).ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	_, err := h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{f("no-such-filter", "x")}})
	wantCode(t, err, memory.CodeInvalidParameterValue)
}

func TestDescribeNetworkInterfacesPagination(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	want := []string{string(h.inst.PrimaryENI)}
	for i := range 11 {
		e, err := h.cloud.CreateENI(c, portsReq(subnetMain, fmt.Sprint("eni ", i), nil))
		must(t, err)
		want = append(want, string(e.ID))
	}
	h.cloud.ResetCalls()
	pager := ec2.NewDescribeNetworkInterfacesPaginator(h.ec2, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5)})
	var got []string
	var sizes []int
	for pager.HasMorePages() {
		out, err := pager.NextPage(c)
		must(t, err)
		sizes = append(sizes, len(out.NetworkInterfaces))
		for _, n := range out.NetworkInterfaces {
			got = append(got, aws.ToString(n.NetworkInterfaceId))
		}
	}
	if !slices.Equal(got, want) || !slices.Equal(sizes, []int{5, 5, 2}) {
		t.Fatalf("pages %v gave %v, want %v in pages of 5, 5, 2", sizes, got, want)
	}
	if n := h.cloud.Calls()[memory.OpDescribeNetworkInterfaces]; n != 3 {
		t.Errorf("%d DescribeNetworkInterfaces calls reached the cloud, want one per page (3)", n)
	}

	_, err := h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(5), NetworkInterfaceIds: want[:1]})
	wantCode(t, err, memory.CodeInvalidParameterCombination)
	_, err = h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{MaxResults: aws.Int32(4)})
	wantCode(t, err, memory.CodeInvalidParameterValue)
	_, err = h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{NextToken: aws.String("garbage!")})
	wantCode(t, err, codeInvalidPaginationToken)

	sp := ec2.NewDescribeSubnetsPaginator(h.ec2, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	var subnets []string
	for sp.HasMorePages() {
		out, err := sp.NextPage(c)
		must(t, err)
		for _, s := range out.Subnets {
			subnets = append(subnets, aws.ToString(s.SubnetId))
		}
	}
	if want := []string{string(subnetMain), string(subnetTiny), string(subnetB)}; !slices.Equal(subnets, want) {
		t.Fatalf("subnets %v, want %v", subnets, want)
	}
}

func TestErrorsThroughSDK(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	fill, err := h.cloud.CreateENI(c, portsReq(subnetMain, "", nil))
	must(t, err)
	fillAtt, err := h.cloud.AttachENI(c, fill.ID, h.inst.ID, 1, 0)
	must(t, err)
	spare, err := h.cloud.CreateENI(c, portsReq(subnetMain, "", nil))
	must(t, err)
	third, err := h.cloud.CreateENI(c, portsReq(subnetMain, "", nil))
	must(t, err)
	_, err = h.cloud.AttachENI(c, third.ID, h.inst.ID, 2, 0)
	must(t, err)

	cases := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"attach unknown ENI", func() error {
			_, err := h.ec2.AttachNetworkInterface(c, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String("eni-0ffffffffffffffff"), InstanceId: aws.String(string(h.inst.ID)), DeviceIndex: aws.Int32(3)})
			return err
		}, memory.CodeENINotFound, 400},
		{"attach beyond the limit", func() error {
			_, err := h.ec2.AttachNetworkInterface(c, &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: aws.String(string(spare.ID)), InstanceId: aws.String(string(h.inst.ID)), DeviceIndex: aws.Int32(3)})
			return err
		}, memory.CodeAttachmentLimitExceeded, 400},
		{"delete attached", func() error {
			_, err := h.ec2.DeleteNetworkInterface(c, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(string(fill.ID))})
			return err
		}, memory.CodeENIInUse, 400},
		{"address limit", func() error {
			_, err := h.ec2.AssignPrivateIpAddresses(c, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(string(fill.ID)), SecondaryPrivateIpAddressCount: aws.Int32(4)})
			return err
		}, memory.CodePrivateIPAddressLimitExceeded, 400},
		{"subnet full", func() error {
			_, err := h.ec2.CreateNetworkInterface(c, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(string(subnetTiny)), SecondaryPrivateIpAddressCount: aws.Int32(11)})
			return err
		}, memory.CodeInsufficientFreeAddressesInSubnet, 400},
		{"no free /28", func() error {
			_, err := h.ec2.CreateNetworkInterface(c, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(string(subnetTiny)), Ipv4PrefixCount: aws.Int32(1)})
			return err
		}, memory.CodeInsufficientCidrBlocks, 400},
		{"unknown subnet", func() error {
			_, err := h.ec2.CreateNetworkInterface(c, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String("subnet-0ffffffffffffffff")})
			return err
		}, memory.CodeSubnetNotFound, 400},
		{"count and prefix count together", func() error {
			_, err := h.ec2.CreateNetworkInterface(c, &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(string(subnetMain)), SecondaryPrivateIpAddressCount: aws.Int32(1), Ipv4PrefixCount: aws.Int32(1)})
			return err
		}, memory.CodeInvalidParameterCombination, 400},
		{"unknown attachment", func() error {
			_, err := h.ec2.DetachNetworkInterface(c, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String("eni-attach-0ffffffffffffffff")})
			return err
		}, memory.CodeAttachmentNotFound, 400},
		{"detach primary", func() error {
			_, err := h.ec2.DetachNetworkInterface(c, &ec2.DetachNetworkInterfaceInput{AttachmentId: aws.String(h.inst.ENIs[0].AttachmentID)})
			return err
		}, memory.CodeOperationNotPermitted, 400},
		{"unknown instance type", func() error {
			_, err := h.ec2.DescribeInstanceTypes(c, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"z9.huge"}})
			return err
		}, memory.CodeInvalidInstanceType, 400},
		{"unknown instance", func() error {
			_, err := h.ec2.DescribeInstances(c, &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0ffffffffffffffff"}})
			return err
		}, memory.CodeInstanceNotFound, 400},
		{"dry run", func() error {
			_, err := h.ec2.DeleteNetworkInterface(c, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: aws.String(string(spare.ID)), DryRun: aws.Bool(true)})
			return err
		}, codeDryRunOperation, 412},
		{"clearing DeleteOnTermination", func() error {
			_, err := h.ec2.ModifyNetworkInterfaceAttribute(c, &ec2.ModifyNetworkInterfaceAttributeInput{NetworkInterfaceId: aws.String(string(fill.ID)),
				Attachment: &types.NetworkInterfaceAttachmentChanges{AttachmentId: aws.String(fillAtt), DeleteOnTermination: aws.Bool(false)}})
			return err
		}, memory.CodeInvalidParameterValue, 400},
		{"unimplemented parameter", func() error {
			_, err := h.ec2.AssignPrivateIpAddresses(c, &ec2.AssignPrivateIpAddressesInput{NetworkInterfaceId: aws.String(string(fill.ID)), PrivateIpAddresses: []string{"10.0.0.99"}})
			return err
		}, memory.CodeInvalidParameterValue, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, tc.code)
			var re *smithyhttp.ResponseError
			if !errors.As(err, &re) || re.HTTPStatusCode() != tc.status {
				t.Fatalf("HTTP status of %v: want %d", err, tc.status)
			}
		})
	}
	if _, ok := h.cloud.ENI(spare.ID); !ok {
		t.Fatal("the dry run deleted the ENI")
	}
}

func TestThrottlingAndInjectedFaults(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	h.cloud.InjectError(memory.OpDescribeNetworkInterfaces, memory.CodeRequestLimitExceeded, 1)
	_, err := h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{})
	wantCode(t, err, memory.CodeRequestLimitExceeded)
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
		t.Fatalf("throttled request: %v, want HTTP 503", err)
	}
	_, err = h.ec2.DescribeNetworkInterfaces(c, &ec2.DescribeNetworkInterfacesInput{})
	must(t, err)

	// The token bucket: one request passes, the next is throttled until the
	// (virtual) clock has refilled it.
	h.cloud.SetThrottle(1, 1)
	_, err = h.ec2.DescribeSubnets(c, &ec2.DescribeSubnetsInput{})
	must(t, err)
	_, err = h.ec2.DescribeSubnets(c, &ec2.DescribeSubnetsInput{})
	wantCode(t, err, memory.CodeRequestLimitExceeded)

	// The SDK's default retryer treats RequestLimitExceeded as retryable
	// throttling: with retries on and one injected fault the call succeeds.
	h.cloud.SetThrottle(0, 0)
	h.cloud.InjectError(memory.OpDescribeSubnets, memory.CodeRequestLimitExceeded, 1)
	retrying := ec2.New(ec2.Options{Region: "us-west-2", BaseEndpoint: aws.String(h.ec2URL), Credentials: h.ec2.Options().Credentials})
	before := h.cloud.Calls()[memory.OpDescribeSubnets]
	_, err = retrying.DescribeSubnets(c, &ec2.DescribeSubnetsInput{})
	must(t, err)
	if n := h.cloud.Calls()[memory.OpDescribeSubnets] - before; n != 2 {
		t.Fatalf("%d calls reached the cloud, want the throttled one and its retry", n)
	}

	h.cloud.InjectError(memory.OpCreateTags, memory.CodeUnauthorizedOperation, 1)
	_, err = h.ec2.CreateTags(c, &ec2.CreateTagsInput{Resources: []string{string(h.inst.PrimaryENI)}, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantCode(t, err, memory.CodeUnauthorizedOperation)
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("unauthorized: %v, want HTTP 403", err)
	}
}

func TestDescribeInstanceTypesAndSubnets(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	out, err := h.ec2.DescribeInstanceTypes(c, &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"t3.small", "m5.large"}})
	must(t, err)
	if len(out.InstanceTypes) != 2 {
		t.Fatalf("%d types", len(out.InstanceTypes))
	}
	for _, it := range out.InstanceTypes {
		want, _ := limits.Lookup(string(it.InstanceType))
		ni := it.NetworkInfo
		if it.Hypervisor != types.InstanceTypeHypervisor(want.Hypervisor) || aws.ToBool(it.BareMetal) != want.BareMetal ||
			int(aws.ToInt32(it.VCpuInfo.DefaultVCpus)) != want.VCPUs ||
			int(aws.ToInt32(ni.MaximumNetworkInterfaces)) != want.MaxENIs ||
			int(aws.ToInt32(ni.Ipv4AddressesPerInterface)) != want.IPv4PerENI ||
			int(aws.ToInt32(ni.Ipv6AddressesPerInterface)) != want.IPv6PerENI ||
			aws.ToBool(ni.Ipv6Supported) != want.IPv6Supported || aws.ToBool(ni.EfaSupported) != want.EFASupported ||
			int(aws.ToInt32(ni.DefaultNetworkCardIndex)) != want.DefaultNetworkCard ||
			len(ni.NetworkCards) != 1 || int(aws.ToInt32(ni.NetworkCards[0].MaximumNetworkInterfaces)) != want.MaxENIs {
			t.Errorf("%s: %+v / %+v, want %+v", it.InstanceType, it, ni, want)
		}
	}

	free := h.cloud.SubnetFree(subnetMain)
	cases := []struct {
		name string
		in   ec2.DescribeSubnetsInput
		want []string
	}{
		{"all", ec2.DescribeSubnetsInput{}, []string{string(subnetMain), string(subnetTiny), string(subnetB)}},
		{"ids", ec2.DescribeSubnetsInput{SubnetIds: []string{string(subnetB)}}, []string{string(subnetB)}},
		{"zone", ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("availability-zone"), Values: []string{"us-west-2a"}}}}, []string{string(subnetMain), string(subnetTiny)}},
		{"tag", ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("tag-key"), Values: []string{"kubernetes.io/role/cni"}}}}, []string{string(subnetMain)}},
		{"vpc", ec2.DescribeSubnetsInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{testVPC}}, {Name: aws.String("cidr-block"), Values: []string{"10.0.1.0/28"}}}}, []string{string(subnetTiny)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.ec2.DescribeSubnets(c, &tc.in)
			must(t, err)
			var got []string
			for _, s := range out.Subnets {
				got = append(got, aws.ToString(s.SubnetId))
				if aws.ToString(s.SubnetId) == string(subnetMain) {
					if int(aws.ToInt32(s.AvailableIpAddressCount)) != free || aws.ToString(s.CidrBlock) != "10.0.0.0/24" ||
						len(s.Ipv6CidrBlockAssociationSet) != 1 || aws.ToString(s.Ipv6CidrBlockAssociationSet[0].Ipv6CidrBlock) != "2600:1f14:abc:de01::/64" ||
						aws.ToString(s.VpcId) != testVPC || aws.ToString(s.AvailabilityZone) != "us-west-2a" || len(s.Tags) != 1 {
						t.Errorf("main subnet %+v", s)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	_, err = h.ec2.DescribeSubnets(c, &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0ffffffffffffffff"}})
	wantCode(t, err, memory.CodeSubnetNotFound)
}

// post sends a raw EC2 Query request and returns status and body.
func post(t *testing.T, endpoint string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(endpoint, form)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("response without x-amzn-RequestId header: %s", b)
	}
	return resp.StatusCode, string(b)
}

func TestProtocolErrors(t *testing.T) {
	h := newHarness(t, 0)
	cases := []struct {
		name string
		form url.Values
		code string
	}{
		{"no action", url.Values{"Version": {"2016-11-15"}}, codeMissingAction},
		{"unknown action", url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}}, codeInvalidAction},
		{"unknown parameter", url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}, "Colour": {"blue"}}, codeUnknownParameter},
		{"missing parameter", url.Values{"Action": {"DeleteNetworkInterface"}, "Version": {"2016-11-15"}}, memory.CodeMissingParameter},
		{"bad integer", url.Values{"Action": {"AttachNetworkInterface"}, "Version": {"2016-11-15"}, "DeviceIndex": {"one"},
			"InstanceId": {string(h.inst.ID)}, "NetworkInterfaceId": {string(h.inst.PrimaryENI)}}, memory.CodeInvalidParameterValue},
		{"bad address", url.Values{"Action": {"UnassignPrivateIpAddresses"}, "Version": {"2016-11-15"},
			"NetworkInterfaceId": {string(h.inst.PrimaryENI)}, "PrivateIpAddress.1": {"10.0.0.300"}}, memory.CodeInvalidParameterValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, h.ec2URL, tc.form)
			want := fmt.Sprintf("<Response><Errors><Error><Code>%s</Code>", tc.code)
			if status != 400 || !strings.Contains(body, want) || !strings.Contains(body, "<RequestID>") {
				t.Fatalf("HTTP %d %s: want 400 with %s and a RequestID", status, body, want)
			}
		})
	}
}

func TestCreateNetworkInterfaceIsIdempotent(t *testing.T) {
	h := newHarness(t, 0)
	form := url.Values{"Action": {"CreateNetworkInterface"}, "Version": {"2016-11-15"},
		"SubnetId": {string(subnetMain)}, "ClientToken": {"token-1"}}
	_, first := post(t, h.ec2URL, form)
	_, again := post(t, h.ec2URL, form)
	id := func(body string) string {
		_, rest, _ := strings.Cut(body, "<networkInterfaceId>")
		v, _, _ := strings.Cut(rest, "<")
		return v
	}
	if id(first) == "" || id(first) != id(again) || h.cloud.ENICount() != 2 {
		t.Fatalf("same client token gave %q and %q, %d ENIs in the region; want one new ENI", id(first), id(again), h.cloud.ENICount())
	}
	form.Set("ClientToken", "token-2")
	if _, other := post(t, h.ec2URL, form); id(other) == id(first) || h.cloud.ENICount() != 3 {
		t.Fatalf("a new token reused %s", id(first))
	}
}

func TestSuccessResponseShape(t *testing.T) {
	h := newHarness(t, 0)
	status, body := post(t, h.ec2URL, url.Values{"Action": {"DescribeNetworkInterfaces"}, "Version": {"2016-11-15"}})
	if status != 200 || !strings.Contains(body, `<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`) ||
		!strings.Contains(body, "<networkInterfaceSet><item>") {
		t.Fatalf("HTTP %d %s", status, body)
	}
}
