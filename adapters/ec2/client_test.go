package ec2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

const (
	// A primary ENI (device 0, card 0) with secondary addresses, a /28 and
	// a /80, tagged by us.
	eniPrimaryXML = `<item>
  <networkInterfaceId>eni-0aaa</networkInterfaceId>
  <subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
  <description>aws-K8S-i-0123</description>
  <status>in-use</status><macAddress>02:00:00:00:00:01</macAddress>
  <privateIpAddress>10.0.0.10</privateIpAddress>
  <interfaceType>interface</interfaceType>
  <groupSet><item><groupId>sg-1</groupId><groupName>one</groupName></item><item><groupId>sg-2</groupId><groupName>two</groupName></item></groupSet>
  <attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-0123</instanceId><deviceIndex>0</deviceIndex>
    <networkCardIndex>0</networkCardIndex><status>attached</status><deleteOnTermination>true</deleteOnTermination></attachment>
  <privateIpAddressesSet>
    <item><privateIpAddress>10.0.0.10</privateIpAddress><primary>true</primary></item>
    <item><privateIpAddress>10.0.0.11</privateIpAddress><primary>false</primary></item>
    <item><privateIpAddress>10.0.0.12</privateIpAddress><primary>false</primary></item>
  </privateIpAddressesSet>
  <ipv4PrefixSet><item><ipv4Prefix>10.0.1.16/28</ipv4Prefix></item></ipv4PrefixSet>
  <ipv6PrefixSet><item><ipv6Prefix>2600:1f14::/80</ipv6Prefix></item></ipv6PrefixSet>
  <tagSet>
    <item><key>node.k8s.amazonaws.com/instance_id</key><value>i-0123</value></item>
    <item><key>node.k8s.amazonaws.com/createdAt</key><value>2024-05-01T10:00:00Z</value></item>
  </tagSet>
</item>`
	// An available EFA-only interface, no tags, not attached.
	eniEFAXML = `<item>
  <networkInterfaceId>eni-0bbb</networkInterfaceId>
  <subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
  <description>efa</description>
  <status>available</status><macAddress>02:00:00:00:00:02</macAddress>
  <privateIpAddress>10.0.0.20</privateIpAddress>
  <interfaceType>efa-only</interfaceType>
  <privateIpAddressesSet><item><privateIpAddress>10.0.0.20</privateIpAddress><primary>true</primary></item></privateIpAddressesSet>
</item>`
	// A trunk ENI on card 1, device 2.
	eniTrunkXML = `<item>
  <networkInterfaceId>eni-0ccc</networkInterfaceId>
  <subnetId>subnet-2</subnetId><vpcId>vpc-1</vpcId>
  <status>in-use</status><macAddress>02:00:00:00:00:03</macAddress>
  <privateIpAddress>10.0.64.5</privateIpAddress>
  <interfaceType>trunk</interfaceType>
  <attachment><attachmentId>eni-attach-3</attachmentId><instanceId>i-0123</instanceId><deviceIndex>2</deviceIndex>
    <networkCardIndex>1</networkCardIndex><status>attached</status><deleteOnTermination>false</deleteOnTermination></attachment>
  <privateIpAddressesSet><item><privateIpAddress>10.0.64.5</privateIpAddress><primary>true</primary></item></privateIpAddressesSet>
  <tagSet><item><key>node.k8s.amazonaws.com/instance_id</key><value>i-0123</value></item></tagSet>
</item>`
	subnetsXML = `<subnetSet>
  <item><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><availabilityZone>us-west-2a</availabilityZone>
    <cidrBlock>10.0.0.0/18</cidrBlock><availableIpAddressCount>16000</availableIpAddressCount>
    <ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:1f14::/64</ipv6CidrBlock><ipv6CidrBlockState><state>associated</state></ipv6CidrBlockState></item></ipv6CidrBlockAssociationSet>
    <tagSet><item><key>kubernetes.io/role/cni</key><value>1</value></item></tagSet></item>
  <item><subnetId>subnet-2</subnetId><vpcId>vpc-1</vpcId><availabilityZone>us-west-2a</availabilityZone>
    <cidrBlock>10.0.64.0/18</cidrBlock><availableIpAddressCount>12</availableIpAddressCount></item>
</subnetSet>`
)

func wantPrimaryENI() core.ENI {
	return core.ENI{
		ID: "eni-0aaa", MAC: "02:00:00:00:00:01", Description: "aws-K8S-i-0123",
		DeviceNumber: 0, NetworkCard: 0, SubnetID: "subnet-1",
		SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"),
		VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.10"),
		SecondaryIPs:   []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")},
		IPv4Prefixes:   []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28")},
		IPv6Prefixes:   []netip.Prefix{netip.MustParsePrefix("2600:1f14::/80")},
		SecurityGroups: []string{"sg-1", "sg-2"},
		Tags:           map[string]string{core.TagInstanceID: "i-0123", core.TagCreatedAt: "2024-05-01T10:00:00Z"},
		Status:         "in-use", AttachmentID: "eni-attach-1", InstanceID: "i-0123",
		DeleteOnTermination: true, Primary: true,
		CreatedAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
	}
}

func wantEFAENI() core.ENI {
	return core.ENI{
		ID: "eni-0bbb", MAC: "02:00:00:00:00:02", Description: "efa", DeviceNumber: -1,
		SubnetID: "subnet-1", SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"),
		VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.20"), Tags: map[string]string{},
		Status: "available", EFA: true,
	}
}

func wantTrunkENI() core.ENI {
	return core.ENI{
		ID: "eni-0ccc", MAC: "02:00:00:00:00:03", DeviceNumber: 2, NetworkCard: 1,
		SubnetID: "subnet-2", SubnetCIDR: netip.MustParsePrefix("10.0.64.0/18"),
		VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.64.5"),
		Tags:   map[string]string{core.TagInstanceID: "i-0123"},
		Status: "in-use", AttachmentID: "eni-attach-3", InstanceID: "i-0123", Trunk: true,
	}
}

func TestDescribeENIsMapsAndPaginates(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpDescribeNetworkInterfaces, `<networkInterfaceSet>`+eniPrimaryXML+eniEFAXML+`</networkInterfaceSet><nextToken>page2</nextToken>`)
	f.reply(OpDescribeNetworkInterfaces, `<networkInterfaceSet>`+eniTrunkXML+`</networkInterfaceSet>`)
	f.reply(OpDescribeSubnets, subnetsXML)

	got, err := c.DescribeENIs(context.Background(), ports.ENIFilter{VPCID: "vpc-1"})
	if err != nil {
		t.Fatalf("DescribeENIs: %v", err)
	}
	want := []core.ENI{wantPrimaryENI(), wantEFAENI(), wantTrunkENI()}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DescribeENIs:\n got %+v\nwant %+v", got, want)
	}
	calls := f.calls(OpDescribeNetworkInterfaces)
	if len(calls) != 2 {
		t.Fatalf("%d DescribeNetworkInterfaces calls, want 2 (two pages)", len(calls))
	}
	checkParams(t, calls[0], map[string]string{"Filter.1.Name": "vpc-id", "Filter.1.Value.1": "vpc-1", "MaxResults": "1000"})
	checkParams(t, calls[1], map[string]string{"Filter.1.Name": "vpc-id", "Filter.1.Value.1": "vpc-1", "MaxResults": "1000", "NextToken": "page2"})
	sub := f.calls(OpDescribeSubnets)
	if len(sub) != 1 {
		t.Fatalf("%d DescribeSubnets calls, want 1", len(sub))
	}
	checkParams(t, sub[0], map[string]string{"SubnetId.1": "subnet-1", "SubnetId.2": "subnet-2"})

	// The subnet blocks are cached: a second describe asks EC2 only for
	// the interfaces.
	f.reply(OpDescribeNetworkInterfaces, `<networkInterfaceSet>`+eniTrunkXML+`</networkInterfaceSet>`)
	got, err = c.DescribeENIs(context.Background(), ports.ENIFilter{IDs: []core.ENIID{"eni-0ccc"}})
	if err != nil {
		t.Fatalf("DescribeENIs by id: %v", err)
	}
	if !reflect.DeepEqual(got, []core.ENI{wantTrunkENI()}) {
		t.Fatalf("DescribeENIs by id: got %+v", got)
	}
	if n := len(f.calls(OpDescribeSubnets)); n != 1 {
		t.Fatalf("%d DescribeSubnets calls after a cached lookup, want 1", n)
	}
	// Explicit ids: no MaxResults (EC2 refuses the combination).
	checkParams(t, f.calls(OpDescribeNetworkInterfaces)[2], map[string]string{"NetworkInterfaceId.1": "eni-0ccc"})
}

func TestDescribeENIsFilters(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	// The endpoint ignores the filters and returns all three; the adapter
	// must still return only the match.
	f.reply(OpDescribeNetworkInterfaces, `<networkInterfaceSet>`+eniPrimaryXML+eniEFAXML+eniTrunkXML+`</networkInterfaceSet>`)
	f.reply(OpDescribeSubnets, subnetsXML)
	got, err := c.DescribeENIs(context.Background(), ports.ENIFilter{
		InstanceID: "i-0123", VPCID: "vpc-1", Status: "in-use",
		TagKeys: []string{core.TagInstanceID, core.TagCreatedAt},
		Tags:    map[string]string{core.TagInstanceID: "i-0123"},
	})
	if err != nil {
		t.Fatalf("DescribeENIs: %v", err)
	}
	if len(got) != 1 || got[0].ID != "eni-0aaa" {
		t.Fatalf("DescribeENIs returned %v, want only eni-0aaa", ids(got))
	}
	checkParams(t, f.calls(OpDescribeNetworkInterfaces)[0], map[string]string{
		"Filter.1.Name": "attachment.instance-id", "Filter.1.Value.1": "i-0123",
		"Filter.2.Name": "vpc-id", "Filter.2.Value.1": "vpc-1",
		"Filter.3.Name": "status", "Filter.3.Value.1": "in-use",
		"Filter.4.Name": "tag-key", "Filter.4.Value.1": core.TagInstanceID,
		"Filter.5.Name": "tag:" + core.TagInstanceID, "Filter.5.Value.1": "i-0123",
		"MaxResults": "1000",
	})
}

func ids(enis []core.ENI) []core.ENIID {
	var out []core.ENIID
	for _, e := range enis {
		out = append(out, e.ID)
	}
	return out
}

func TestCreateENITagsInSameCall(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpCreateNetworkInterface, `<networkInterface>
  <networkInterfaceId>eni-0new</networkInterfaceId><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
  <description>aws-K8S-i-0123</description><status>pending</status><macAddress>02:00:00:00:00:09</macAddress>
  <privateIpAddress>10.0.0.30</privateIpAddress><interfaceType>interface</interfaceType>
  <groupSet><item><groupId>sg-1</groupId></item></groupSet>
  <privateIpAddressesSet><item><privateIpAddress>10.0.0.30</privateIpAddress><primary>true</primary></item>
    <item><privateIpAddress>10.0.0.31</privateIpAddress><primary>false</primary></item></privateIpAddressesSet>
  <ipv4PrefixSet><item><ipv4Prefix>10.0.2.0/28</ipv4Prefix></item></ipv4PrefixSet>
  <tagSet><item><key>node.k8s.amazonaws.com/instance_id</key><value>i-0123</value></item><item><key>team</key><value>net</value></item></tagSet>
</networkInterface>`)
	f.reply(OpDescribeSubnets, subnetsXML)
	got, err := c.CreateENI(context.Background(), ports.CreateENIRequest{
		SubnetID: "subnet-1", SecurityGroups: []string{"sg-1", "sg-2"}, Description: "aws-K8S-i-0123",
		Tags:         map[string]string{core.TagInstanceID: "i-0123", "team": "net"},
		SecondaryIPs: 1, IPv6Prefixes: 2, // EC2 takes one IPv4 kind per create
	})
	if err != nil {
		t.Fatalf("CreateENI: %v", err)
	}
	calls := f.calls(OpCreateNetworkInterface)
	if len(calls) != 1 {
		t.Fatalf("%d CreateNetworkInterface calls, want 1", len(calls))
	}
	if calls[0].form.Get("ClientToken") == "" {
		t.Error("CreateNetworkInterface without an idempotency token")
	}
	checkParams(t, calls[0], map[string]string{
		"SubnetId": "subnet-1", "Description": "aws-K8S-i-0123",
		"SecurityGroupId.1": "sg-1", "SecurityGroupId.2": "sg-2",
		"SecondaryPrivateIpAddressCount": "1", "Ipv6PrefixCount": "2",
		"TagSpecification.1.ResourceType": "network-interface",
		"TagSpecification.1.Tag.1.Key":    core.TagInstanceID, "TagSpecification.1.Tag.1.Value": "i-0123",
		"TagSpecification.1.Tag.2.Key": "team", "TagSpecification.1.Tag.2.Value": "net",
	})
	want := core.ENI{
		ID: "eni-0new", MAC: "02:00:00:00:00:09", Description: "aws-K8S-i-0123", DeviceNumber: -1,
		SubnetID: "subnet-1", SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"),
		VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.30"),
		SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.0.31")}, IPv4Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.2.0/28")},
		SecurityGroups: []string{"sg-1"}, Tags: map[string]string{core.TagInstanceID: "i-0123", "team": "net"}, Status: "pending",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CreateENI:\n got %+v\nwant %+v", got, want)
	}
}

func TestMutatingCallParameters(t *testing.T) {
	ctx := context.Background()
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpAttachNetworkInterface, `<attachmentId>eni-attach-9</attachmentId><networkCardIndex>1</networkCardIndex>`)
	att, err := c.AttachENI(ctx, "eni-1", "i-1", 3, 1)
	if err != nil || att != "eni-attach-9" {
		t.Fatalf("AttachENI = %q, %v; want eni-attach-9", att, err)
	}
	if err := c.SetDeleteOnTermination(ctx, "eni-1", "eni-attach-9"); err != nil {
		t.Fatalf("SetDeleteOnTermination: %v", err)
	}
	if err := c.DetachENI(ctx, "eni-attach-9", true); err != nil {
		t.Fatalf("DetachENI: %v", err)
	}
	if err := c.DeleteENI(ctx, "eni-1"); err != nil {
		t.Fatalf("DeleteENI: %v", err)
	}
	if err := c.UnassignIPv4(ctx, "eni-1", []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.6")},
		[]netip.Prefix{netip.MustParsePrefix("10.0.3.0/28")}); err != nil {
		t.Fatalf("UnassignIPv4: %v", err)
	}
	f.reply(OpAssignIPv6Addresses, `<networkInterfaceId>eni-1</networkInterfaceId><assignedIpv6PrefixSet><item>2600:1f14:0:0:1::/80</item></assignedIpv6PrefixSet>`)
	p6, err := c.AssignIPv6Prefixes(ctx, "eni-1", 1)
	if err != nil || !reflect.DeepEqual(p6, []netip.Prefix{netip.MustParsePrefix("2600:1f14::1:0:0:0/80")}) {
		t.Fatalf("AssignIPv6Prefixes = %v, %v", p6, err)
	}
	if err := c.UnassignIPv6Prefixes(ctx, "eni-1", p6); err != nil {
		t.Fatalf("UnassignIPv6Prefixes: %v", err)
	}
	if err := c.CreateTags(ctx, "eni-1", map[string]string{"b": "2", "a": "1"}); err != nil {
		t.Fatalf("CreateTags: %v", err)
	}

	for _, tt := range []struct {
		action string
		n      int
		want   map[string]string
	}{
		{OpAttachNetworkInterface, 0, map[string]string{"NetworkInterfaceId": "eni-1", "InstanceId": "i-1", "DeviceIndex": "3", "NetworkCardIndex": "1"}},
		{OpModifyNetworkInterfaceAttribute, 0, map[string]string{"NetworkInterfaceId": "eni-1", "Attachment.AttachmentId": "eni-attach-9", "Attachment.DeleteOnTermination": "true"}},
		{OpDetachNetworkInterface, 0, map[string]string{"AttachmentId": "eni-attach-9", "Force": "true"}},
		{OpDeleteNetworkInterface, 0, map[string]string{"NetworkInterfaceId": "eni-1"}},
		{OpUnassignPrivateIPAddresses, 0, map[string]string{"NetworkInterfaceId": "eni-1", "PrivateIpAddress.1": "10.0.0.5", "PrivateIpAddress.2": "10.0.0.6"}},
		{OpUnassignPrivateIPAddresses, 1, map[string]string{"NetworkInterfaceId": "eni-1", "Ipv4Prefix.1": "10.0.3.0/28"}},
		{OpAssignIPv6Addresses, 0, map[string]string{"NetworkInterfaceId": "eni-1", "Ipv6PrefixCount": "1"}},
		{OpUnassignIPv6Addresses, 0, map[string]string{"NetworkInterfaceId": "eni-1", "Ipv6Prefix.1": "2600:1f14:0:0:1::/80"}},
		{OpCreateTags, 0, map[string]string{"ResourceId.1": "eni-1", "Tag.1.Key": "a", "Tag.1.Value": "1", "Tag.2.Key": "b", "Tag.2.Value": "2"}},
	} {
		calls := f.calls(tt.action)
		if len(calls) <= tt.n {
			t.Errorf("%s: %d calls, want call #%d", tt.action, len(calls), tt.n+1)
			continue
		}
		checkParams(t, calls[tt.n], tt.want)
	}
}

func TestAssignIPv4(t *testing.T) {
	ctx := context.Background()
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpAssignPrivateIPAddresses, `<networkInterfaceId>eni-1</networkInterfaceId><assignedPrivateIpAddressesSet>
  <item><privateIpAddress>10.0.0.7</privateIpAddress></item><item><privateIpAddress>10.0.0.8</privateIpAddress></item></assignedPrivateIpAddressesSet>`)
	f.reply(OpAssignPrivateIPAddresses, `<networkInterfaceId>eni-1</networkInterfaceId><assignedIpv4PrefixSet>
  <item><ipv4Prefix>10.0.4.0/28</ipv4Prefix></item></assignedIpv4PrefixSet>`)
	got, err := c.AssignIPv4(ctx, "eni-1", 2, 1)
	if err != nil {
		t.Fatalf("AssignIPv4: %v", err)
	}
	want := ports.Assigned{
		IPs:      []netip.Addr{netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("10.0.0.8")},
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.4.0/28")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AssignIPv4 = %+v, want %+v", got, want)
	}
	calls := f.calls(OpAssignPrivateIPAddresses)
	if len(calls) != 2 {
		t.Fatalf("%d AssignPrivateIpAddresses calls, want 2 (addresses, then prefixes)", len(calls))
	}
	checkParams(t, calls[0], map[string]string{"NetworkInterfaceId": "eni-1", "SecondaryPrivateIpAddressCount": "2"})
	checkParams(t, calls[1], map[string]string{"NetworkInterfaceId": "eni-1", "Ipv4PrefixCount": "1"})

	t.Run("prefix failure gives the addresses back", func(t *testing.T) {
		f := newFakeEC2(t)
		c := newTestClient(t, f)
		f.reply(OpAssignPrivateIPAddresses, `<assignedPrivateIpAddressesSet><item><privateIpAddress>10.0.0.9</privateIpAddress></item></assignedPrivateIpAddressesSet>`)
		f.fail(OpAssignPrivateIPAddresses, http.StatusBadRequest, "InsufficientCidrBlocks")
		got, err := c.AssignIPv4(ctx, "eni-1", 1, 1)
		if !errors.Is(err, core.ErrNoFreePrefix) {
			t.Fatalf("AssignIPv4 error = %v, want ErrNoFreePrefix", err)
		}
		if len(got.IPs)+len(got.Prefixes) != 0 {
			t.Fatalf("AssignIPv4 reported %+v after failing", got)
		}
		un := f.calls(OpUnassignPrivateIPAddresses)
		if len(un) != 1 {
			t.Fatalf("%d UnassignPrivateIpAddresses calls, want 1", len(un))
		}
		checkParams(t, un[0], map[string]string{"NetworkInterfaceId": "eni-1", "PrivateIpAddress.1": "10.0.0.9"})
	})

	t.Run("nothing requested", func(t *testing.T) {
		if _, err := c.AssignIPv4(ctx, "eni-1", 0, 0); !errors.Is(err, core.ErrInvalidParameter) {
			t.Fatalf("AssignIPv4(0, 0) error = %v, want ErrInvalidParameter", err)
		}
	})
}

const instanceXML = `<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>
  <instanceId>i-0123</instanceId><instanceType>m5.large</instanceType>
  <placement><availabilityZone>us-west-2a</availabilityZone></placement>
  <instanceState><code>16</code><name>%s</name></instanceState>
  <subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><privateIpAddress>10.0.0.10</privateIpAddress>
  <networkInterfaceSet>
    <item><networkInterfaceId>eni-0ccc</networkInterfaceId><subnetId>subnet-2</subnetId><vpcId>vpc-1</vpcId>
      <status>in-use</status><macAddress>02:00:00:00:00:03</macAddress><privateIpAddress>10.0.64.5</privateIpAddress>
      <interfaceType>trunk</interfaceType>
      <attachment><attachmentId>eni-attach-3</attachmentId><deviceIndex>2</deviceIndex><networkCardIndex>1</networkCardIndex><status>attached</status><deleteOnTermination>false</deleteOnTermination></attachment>
      <privateIpAddressesSet><item><privateIpAddress>10.0.64.5</privateIpAddress><primary>true</primary></item></privateIpAddressesSet></item>
    <item><networkInterfaceId>eni-0aaa</networkInterfaceId><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId>
      <description>primary</description><status>in-use</status><macAddress>02:00:00:00:00:01</macAddress><privateIpAddress>10.0.0.10</privateIpAddress>
      <interfaceType>interface</interfaceType><groupSet><item><groupId>sg-1</groupId></item></groupSet>
      <attachment><attachmentId>eni-attach-1</attachmentId><deviceIndex>0</deviceIndex><networkCardIndex>0</networkCardIndex><status>attached</status><deleteOnTermination>true</deleteOnTermination></attachment>
      <privateIpAddressesSet><item><privateIpAddress>10.0.0.10</privateIpAddress><primary>true</primary></item>
        <item><privateIpAddress>10.0.0.11</privateIpAddress><primary>false</primary></item></privateIpAddressesSet>
      <ipv4PrefixSet><item><ipv4Prefix>10.0.1.16/28</ipv4Prefix></item></ipv4PrefixSet></item>
  </networkInterfaceSet>
</item></instancesSet></item></reservationSet>`

const vpcXML = `<vpcSet><item><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock>
  <cidrBlockAssociationSet>
    <item><cidrBlock>10.0.0.0/16</cidrBlock><cidrBlockState><state>associated</state></cidrBlockState></item>
    <item><cidrBlock>100.64.0.0/16</cidrBlock><cidrBlockState><state>associated</state></cidrBlockState></item>
    <item><cidrBlock>172.16.0.0/16</cidrBlock><cidrBlockState><state>disassociated</state></cidrBlockState></item>
  </cidrBlockAssociationSet>
  <ipv6CidrBlockAssociationSet><item><ipv6CidrBlock>2600:1f14::/56</ipv6CidrBlock><ipv6CidrBlockState><state>associated</state></ipv6CidrBlockState></item></ipv6CidrBlockAssociationSet>
</item></vpcSet>`

func TestDescribeInstance(t *testing.T) {
	ctx := context.Background()
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpDescribeInstances, fmt.Sprintf(instanceXML, "running"))
	f.reply(OpDescribeSubnets, subnetsXML)
	f.reply(OpDescribeVpcs, vpcXML)
	got, err := c.DescribeInstance(ctx, "i-0123")
	if err != nil {
		t.Fatalf("DescribeInstance: %v", err)
	}
	primary := core.ENI{
		ID: "eni-0aaa", MAC: "02:00:00:00:00:01", Description: "primary", SubnetID: "subnet-1",
		SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"),
		VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.10"), SecondaryIPs: []netip.Addr{netip.MustParseAddr("10.0.0.11")},
		IPv4Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.16/28")}, SecurityGroups: []string{"sg-1"},
		Tags: map[string]string{}, Status: "in-use", AttachmentID: "eni-attach-1", InstanceID: "i-0123",
		DeleteOnTermination: true, Primary: true,
	}
	trunk := wantTrunkENI()
	trunk.Tags = map[string]string{} // DescribeInstances reports no tags
	want := core.Instance{
		ID: "i-0123", Type: "m5.large", AvailabilityZone: "us-west-2a", Region: "us-west-2", VPCID: "vpc-1",
		VPCCIDRs:     []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")},
		VPCIPv6CIDRs: []netip.Prefix{netip.MustParsePrefix("2600:1f14::/56")},
		PrimaryMAC:   "02:00:00:00:00:01", PrimaryIP: netip.MustParseAddr("10.0.0.10"), PrimaryENI: "eni-0aaa",
		SubnetID: "subnet-1", SecurityGroups: []string{"sg-1"},
		ENIs: []core.ENI{primary, trunk},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DescribeInstance:\n got %+v\nwant %+v", got, want)
	}
	checkParams(t, f.calls(OpDescribeInstances)[0], map[string]string{"InstanceId.1": "i-0123"})
	checkParams(t, f.calls(OpDescribeVpcs)[0], map[string]string{"VpcId.1": "vpc-1"})

	t.Run("DescribeVpcs not allowed", func(t *testing.T) {
		f.reply(OpDescribeInstances, fmt.Sprintf(instanceXML, "running"))
		f.fail(OpDescribeVpcs, http.StatusForbidden, "UnauthorizedOperation")
		got, err := c.DescribeInstance(ctx, "i-0123")
		if err != nil {
			t.Fatalf("DescribeInstance: %v", err)
		}
		if got.VPCCIDRs != nil || got.PrimaryENI != "eni-0aaa" || len(got.ENIs) != 2 {
			t.Fatalf("DescribeInstance without DescribeVpcs = %+v", got)
		}
	})
	t.Run("terminated", func(t *testing.T) {
		f.reply(OpDescribeInstances, fmt.Sprintf(instanceXML, "terminated"))
		if _, err := c.DescribeInstance(ctx, "i-0123"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("DescribeInstance(terminated) error = %v, want ErrNotFound", err)
		}
	})
	t.Run("empty answer", func(t *testing.T) {
		f.reply(OpDescribeInstances, `<reservationSet/>`)
		if _, err := c.DescribeInstance(ctx, "i-0123"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("DescribeInstance(missing) error = %v, want ErrNotFound", err)
		}
	})
}

func TestDescribeSubnets(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpDescribeSubnets, subnetsXML)
	got, err := c.DescribeSubnets(context.Background(), ports.SubnetFilter{VPCID: "vpc-1", AvailabilityZone: "us-west-2a"})
	if err != nil {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	want := []core.Subnet{
		{ID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/18"),
			IPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"), AvailableIPs: 16000, Tags: map[string]string{"kubernetes.io/role/cni": "1"}},
		{ID: "subnet-2", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.64.0/18"),
			AvailableIPs: 12, Tags: map[string]string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DescribeSubnets:\n got %+v\nwant %+v", got, want)
	}
	checkParams(t, f.calls(OpDescribeSubnets)[0], map[string]string{
		"Filter.1.Name": "vpc-id", "Filter.1.Value.1": "vpc-1",
		"Filter.2.Name": "availability-zone", "Filter.2.Value.1": "us-west-2a", "MaxResults": "1000",
	})
}

func TestDescribeInstanceType(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	f.reply(OpDescribeInstanceTypes, `<instanceTypeSet><item>
  <instanceType>p5.48xlarge</instanceType><hypervisor>nitro</hypervisor><bareMetal>false</bareMetal>
  <vCpuInfo><defaultVCpus>192</defaultVCpus></vCpuInfo>
  <networkInfo><maximumNetworkInterfaces>64</maximumNetworkInterfaces><ipv4AddressesPerInterface>50</ipv4AddressesPerInterface>
    <ipv6AddressesPerInterface>50</ipv6AddressesPerInterface><ipv6Supported>true</ipv6Supported><efaSupported>true</efaSupported>
    <defaultNetworkCardIndex>0</defaultNetworkCardIndex>
    <networkCards><item><networkCardIndex>1</networkCardIndex><maximumNetworkInterfaces>2</maximumNetworkInterfaces></item>
      <item><networkCardIndex>0</networkCardIndex><maximumNetworkInterfaces>4</maximumNetworkInterfaces></item></networkCards>
  </networkInfo></item></instanceTypeSet>`)
	got, err := c.DescribeInstanceType(context.Background(), "p5.48xlarge")
	if err != nil {
		t.Fatalf("DescribeInstanceType: %v", err)
	}
	want := limits.InstanceType{
		Name: "p5.48xlarge", MaxENIs: 4, IPv4PerENI: 50, IPv6PerENI: 50, DefaultNetworkCard: 0,
		NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 4}, {Index: 1, MaxInterfaces: 2}},
		Hypervisor:   "nitro", VCPUs: 192, IPv6Supported: true, EFASupported: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DescribeInstanceType:\n got %+v\nwant %+v", got, want)
	}
	checkParams(t, f.calls(OpDescribeInstanceTypes)[0], map[string]string{"InstanceType.1": "p5.48xlarge"})

	f.reply(OpDescribeInstanceTypes, `<instanceTypeSet/>`)
	if _, err := c.DescribeInstanceType(context.Background(), "x9.nothing"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("DescribeInstanceType(unknown) error = %v, want ErrNotFound", err)
	}
}

func TestCreateENIRefusesAddressesAndPrefixesTogether(t *testing.T) {
	c, _ := New(Config{Region: "us-west-2", Endpoint: "http://127.0.0.1:1"}, nil)
	_, err := c.CreateENI(context.Background(), ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 2, IPv4Prefixes: 1})
	if !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("got %v, want ErrInvalidParameter before any call", err)
	}
}
