package cloudcontract

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Env is one isolated region prepared for a case.
type Env struct {
	Cloud ports.Cloud
	// Instance is a running instance with only its primary ENI attached.
	Instance core.InstanceID
	// Type is the instance's type with its limits. The cases need one
	// network card, room for at least two interfaces, at most 15 addresses
	// per interface, IPv6 and prefix delegation (t3.small fits).
	Type limits.InstanceType
	// VPCID is the instance's VPC.
	VPCID string
	// Subnet is in the instance's zone, has an IPv6 /64 and at least 64
	// free IPv4 addresses.
	Subnet core.SubnetID
	// SmallSubnet is an empty /28 (11 usable addresses) in the instance's
	// zone.
	SmallSubnet core.SubnetID
	// SecurityGroups are valid groups for new ENIs.
	SecurityGroups []string
	// Fail makes every call of the EC2 operation op (an EC2 action name
	// such as "DescribeNetworkInterfaces") fail with the EC2 error code
	// until restore is called.
	Fail func(op, code string) (restore func())
	// AdvanceClock moves a virtual clock; nil when the environment runs on
	// real time. Cases only use it to let asynchronous EC2 state settle.
	AdvanceClock func(time.Duration)
}

// A case is one behaviour of the port.
type tcase struct {
	name string
	run  func(t *testing.T, e *Env)
}

var cases = []tcase{
	{"CreateWithSecondaryIPs", createWithSecondaryIPs},
	{"CreateWithPrefixes", createWithPrefixes},
	{"Attach", attach},
	{"AttachmentLimit", attachmentLimit},
	{"AssignAndUnassignIPv4", assignUnassignIPv4},
	{"AssignAndUnassignIPv6Prefixes", assignUnassignIPv6},
	{"AddressLimit", addressLimit},
	{"SubnetFull", subnetFull},
	{"Throttled", throttled},
	{"Unauthorized", unauthorized},
	{"TagsAndFilters", tagsAndFilters},
	{"NotFound", notFound},
	{"DeleteAttached", deleteAttached},
	{"DetachAndDelete", detachAndDelete},
	{"DeleteOnTermination", deleteOnTermination},
	{"LeakCleanup", leakCleanup},
	{"DescribeInstance", describeInstance},
	{"DescribeSubnets", describeSubnets},
	{"DescribeInstanceType", describeInstanceType},
}

// Run runs every case against a fresh environment from newEnv.
func Run(t *testing.T, newEnv func(t *testing.T) Env) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			c.run(t, &e)
		})
	}
}

// Well-formed ids that exist nowhere.
const (
	unknownENI        = core.ENIID("eni-0fedcba9876543210")
	unknownInstance   = core.InstanceID("i-0fedcba9876543210")
	unknownSubnet     = core.SubnetID("subnet-0fedcba9876543210")
	unknownAttachment = "eni-attach-0fedcba9876543210"
)

func bg(t *testing.T) context.Context { return t.Context() }

func wantErr(t *testing.T, what string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %v, want one wrapping %q", what, err, sentinel)
	}
}

func ok(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func (e *Env) create(t *testing.T, req ports.CreateENIRequest) core.ENI {
	t.Helper()
	if req.SubnetID == "" {
		req.SubnetID = e.Subnet
	}
	if req.SecurityGroups == nil {
		req.SecurityGroups = e.SecurityGroups
	}
	eni, err := e.Cloud.CreateENI(bg(t), req)
	ok(t, "create ENI", err)
	return eni
}

func (e *Env) attach(t *testing.T, id core.ENIID, device int) string {
	t.Helper()
	att, err := e.Cloud.AttachENI(bg(t), id, e.Instance, device, 0)
	ok(t, fmt.Sprintf("attach %s at device %d", id, device), err)
	if att == "" {
		t.Fatalf("attach %s: empty attachment id", id)
	}
	return att
}

func (e *Env) describe(t *testing.T, id core.ENIID) core.ENI {
	t.Helper()
	got, err := e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{IDs: []core.ENIID{id}})
	ok(t, "describe "+string(id), err)
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("describe %s: got %v", id, ids(got))
	}
	return got[0]
}

func (e *Env) subnet(t *testing.T, id core.SubnetID) core.Subnet {
	t.Helper()
	got, err := e.Cloud.DescribeSubnets(bg(t), ports.SubnetFilter{IDs: []core.SubnetID{id}})
	ok(t, "describe subnet "+string(id), err)
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("describe subnet %s: got %d subnets", id, len(got))
	}
	return got[0]
}

// settle re-checks cond while letting time pass: real EC2 attaches and
// detaches asynchronously; simulators are done at once.
func (e *Env) settle(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 30 {
		if cond() {
			return
		}
		if e.AdvanceClock != nil {
			e.AdvanceClock(time.Second)
		} else {
			time.Sleep(time.Second)
		}
	}
	t.Fatalf("%s did not happen", what)
}

func ids(enis []core.ENI) []core.ENIID {
	out := make([]core.ENIID, 0, len(enis))
	for _, e := range enis {
		out = append(out, e.ID)
	}
	return out
}

// sameENI compares the fields both EC2 and the simulators report.
func sameENI(t *testing.T, what string, got, want core.ENI) {
	t.Helper()
	norm := func(e core.ENI) string {
		return fmt.Sprintf("id=%s mac=%s desc=%q subnet=%s/%s/%s vpc=%s primary=%s secondary=%v v4=%v v6=%v sgs=%v tags=%v status=%s att=%s inst=%s dev=%d card=%d dot=%v",
			e.ID, e.MAC, e.Description, e.SubnetID, e.SubnetCIDR, e.SubnetIPv6CIDR, e.VPCID, e.PrimaryIP,
			sortedAddrs(e.SecondaryIPs), sortedPrefixes(e.IPv4Prefixes), sortedPrefixes(e.IPv6Prefixes),
			e.SecurityGroups, sortedTags(e.Tags), e.Status, e.AttachmentID, e.InstanceID, e.DeviceNumber, e.NetworkCard, e.DeleteOnTermination)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func sortedAddrs(a []netip.Addr) []netip.Addr {
	out := slices.Clone(a)
	slices.SortFunc(out, func(x, y netip.Addr) int { return x.Compare(y) })
	return out
}

func sortedPrefixes(p []netip.Prefix) []netip.Prefix {
	out := slices.Clone(p)
	slices.SortFunc(out, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	return out
}

func sortedTags(m map[string]string) string {
	s := ""
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s += k + "=" + m[k] + ";"
	}
	return s
}

// checkAddresses checks that the ENI's IPv4 addresses and prefixes are
// distinct, inside the subnet, and prefixes are aligned blocks of the
// right size.
func checkAddresses(t *testing.T, eni core.ENI, sn core.Subnet) {
	t.Helper()
	seen := map[netip.Addr]bool{}
	for _, a := range append([]netip.Addr{eni.PrimaryIP}, eni.SecondaryIPs...) {
		if !sn.CIDR.Contains(a) {
			t.Fatalf("%s: address %s outside subnet %s", eni.ID, a, sn.CIDR)
		}
		if seen[a] {
			t.Fatalf("%s: address %s listed twice", eni.ID, a)
		}
		seen[a] = true
	}
	for _, p := range eni.IPv4Prefixes {
		if p.Bits() != 28 || p != p.Masked() || !sn.CIDR.Contains(p.Addr()) {
			t.Fatalf("%s: IPv4 prefix %s is not an aligned /28 of %s", eni.ID, p, sn.CIDR)
		}
		for a := range seen {
			if p.Contains(a) {
				t.Fatalf("%s: prefix %s overlaps address %s", eni.ID, p, a)
			}
		}
	}
	for _, p := range eni.IPv6Prefixes {
		if p.Bits() != 80 || p != p.Masked() || !sn.IPv6CIDR.Contains(p.Addr()) {
			t.Fatalf("%s: IPv6 prefix %s is not an aligned /80 of %s", eni.ID, p, sn.IPv6CIDR)
		}
	}
}

func createWithSecondaryIPs(t *testing.T, e *Env) {
	sn := e.subnet(t, e.Subnet)
	tags := map[string]string{core.TagInstanceID: string(e.Instance), core.TagCluster: "contract"}
	eni := e.create(t, ports.CreateENIRequest{Description: "aws-K8S-" + string(e.Instance), Tags: tags, SecondaryIPs: 2})
	if eni.ID == "" || eni.MAC == "" || !eni.PrimaryIP.IsValid() {
		t.Fatalf("created ENI lacks id, MAC or primary address: %+v", eni)
	}
	if eni.Status != "available" || eni.DeviceNumber != -1 || eni.AttachmentID != "" || eni.InstanceID != "" {
		t.Fatalf("new ENI is not unattached and available: %+v", eni)
	}
	if len(eni.SecondaryIPs) != 2 || len(eni.IPv4Prefixes) != 0 || len(eni.IPv6Prefixes) != 0 {
		t.Fatalf("new ENI holds %v / %v / %v, want 2 secondary addresses", eni.SecondaryIPs, eni.IPv4Prefixes, eni.IPv6Prefixes)
	}
	if eni.SubnetID != e.Subnet || eni.VPCID != e.VPCID || eni.SubnetCIDR != sn.CIDR || eni.SubnetIPv6CIDR != sn.IPv6CIDR {
		t.Fatalf("new ENI placement %s %s %s %s, want %s %s %s %s", eni.SubnetID, eni.VPCID, eni.SubnetCIDR, eni.SubnetIPv6CIDR,
			e.Subnet, e.VPCID, sn.CIDR, sn.IPv6CIDR)
	}
	if !slices.Equal(eni.SecurityGroups, e.SecurityGroups) || eni.Description != "aws-K8S-"+string(e.Instance) || !maps.Equal(eni.Tags, tags) {
		t.Fatalf("new ENI groups %v, description %q, tags %v", eni.SecurityGroups, eni.Description, eni.Tags)
	}
	checkAddresses(t, eni, sn)
	sameENI(t, "described ENI vs created", e.describe(t, eni.ID), eni)
	if after := e.subnet(t, e.Subnet).AvailableIPs; after != sn.AvailableIPs-3 {
		t.Fatalf("subnet free addresses %d -> %d, want 3 fewer", sn.AvailableIPs, after)
	}
}

func createWithPrefixes(t *testing.T, e *Env) {
	sn := e.subnet(t, e.Subnet)
	v4 := e.create(t, ports.CreateENIRequest{IPv4Prefixes: 2})
	if len(v4.IPv4Prefixes) != 2 || len(v4.SecondaryIPs) != 0 {
		t.Fatalf("ENI created with 2 prefixes holds %v / %v", v4.IPv4Prefixes, v4.SecondaryIPs)
	}
	checkAddresses(t, v4, sn)
	if v4.IPv4Prefixes[0] == v4.IPv4Prefixes[1] {
		t.Fatalf("the same prefix twice: %v", v4.IPv4Prefixes)
	}
	both := e.create(t, ports.CreateENIRequest{SecondaryIPs: 1, IPv6Prefixes: 1})
	if len(both.SecondaryIPs) != 1 || len(both.IPv6Prefixes) != 1 {
		t.Fatalf("ENI created with 1 address and 1 IPv6 prefix holds %v / %v", both.SecondaryIPs, both.IPv6Prefixes)
	}
	checkAddresses(t, both, sn)
	sameENI(t, "described ENI with prefixes", e.describe(t, v4.ID), v4)
	sameENI(t, "described ENI with IPv6 prefix", e.describe(t, both.ID), both)
	if v4.PrimaryIP == both.PrimaryIP || v4.IPv4Prefixes[0].Contains(both.PrimaryIP) || v4.IPv4Prefixes[1].Contains(both.PrimaryIP) {
		t.Fatalf("ENIs share addresses: %+v / %+v", v4, both)
	}
}

func attach(t *testing.T, e *Env) {
	eni := e.create(t, ports.CreateENIRequest{SecondaryIPs: 1})
	att := e.attach(t, eni.ID, 1)
	var got core.ENI
	e.settle(t, "attachment", func() bool { got = e.describe(t, eni.ID); return got.Status == "in-use" })
	if got.AttachmentID != att || got.InstanceID != e.Instance || got.DeviceNumber != 1 || got.NetworkCard != 0 || got.Primary {
		t.Fatalf("attached ENI %+v: want attachment %s to %s at device 1", got, att, e.Instance)
	}
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	if len(inst.ENIs) != 2 || inst.ENIs[1].ID != eni.ID || inst.ENIs[1].DeviceNumber != 1 || inst.ENIs[1].AttachmentID != att {
		t.Fatalf("instance ENIs %+v: want the primary, then %s at device 1", inst.ENIs, eni.ID)
	}
	if !slices.Equal(inst.ENIs[1].SecondaryIPs, eni.SecondaryIPs) || inst.ENIs[1].MAC != eni.MAC {
		t.Fatalf("instance view of %s: %+v, created %+v", eni.ID, inst.ENIs[1], eni)
	}

	other := e.create(t, ports.CreateENIRequest{})
	_, err = e.Cloud.AttachENI(bg(t), other.ID, e.Instance, 1, 0)
	wantErr(t, "attach at a taken device index", err, core.ErrInvalidParameter)
	_, err = e.Cloud.AttachENI(bg(t), other.ID, e.Instance, 0, 0)
	wantErr(t, "attach at the primary's device index", err, core.ErrInvalidParameter)
	_, err = e.Cloud.AttachENI(bg(t), eni.ID, e.Instance, 2, 0)
	wantErr(t, "attach an attached ENI again", err, core.ErrInvalidState)
}

func attachmentLimit(t *testing.T, e *Env) {
	for dev := 1; dev < e.Type.MaxENIs; dev++ {
		e.attach(t, e.create(t, ports.CreateENIRequest{}).ID, dev)
	}
	extra := e.create(t, ports.CreateENIRequest{})
	_, err := e.Cloud.AttachENI(bg(t), extra.ID, e.Instance, e.Type.MaxENIs, 0)
	wantErr(t, fmt.Sprintf("attach interface %d of %d", e.Type.MaxENIs+1, e.Type.MaxENIs), err, core.ErrAttachmentLimit)
	if got := e.describe(t, extra.ID); got.Status != "available" {
		t.Fatalf("refused ENI is %s", got.Status)
	}
}

func assignUnassignIPv4(t *testing.T, e *Env) {
	sn := e.subnet(t, e.Subnet)
	eni := e.create(t, ports.CreateENIRequest{})
	e.attach(t, eni.ID, 1)
	ips, err := e.Cloud.AssignIPv4(bg(t), eni.ID, 2, 0)
	ok(t, "assign 2 addresses", err)
	pfx, err := e.Cloud.AssignIPv4(bg(t), eni.ID, 0, 1)
	ok(t, "assign 1 prefix", err)
	if len(ips.IPs) != 2 || len(ips.Prefixes) != 0 || len(pfx.IPs) != 0 || len(pfx.Prefixes) != 1 {
		t.Fatalf("assigned %+v and %+v, want 2 addresses then 1 prefix", ips, pfx)
	}
	got := e.describe(t, eni.ID)
	checkAddresses(t, got, sn)
	if !slices.Equal(sortedAddrs(got.SecondaryIPs), sortedAddrs(ips.IPs)) || !slices.Equal(got.IPv4Prefixes, pfx.Prefixes) {
		t.Fatalf("ENI holds %v / %v, assigned %v / %v", got.SecondaryIPs, got.IPv4Prefixes, ips.IPs, pfx.Prefixes)
	}

	ok(t, "unassign one address and the prefix", e.Cloud.UnassignIPv4(bg(t), eni.ID, ips.IPs[:1], pfx.Prefixes))
	got = e.describe(t, eni.ID)
	if !slices.Equal(got.SecondaryIPs, ips.IPs[1:]) || len(got.IPv4Prefixes) != 0 {
		t.Fatalf("after unassign the ENI holds %v / %v, want %v and no prefix", got.SecondaryIPs, got.IPv4Prefixes, ips.IPs[1:])
	}
	err = e.Cloud.UnassignIPv4(bg(t), eni.ID, ips.IPs[:1], nil)
	wantErr(t, "unassign an address the ENI no longer holds", err, core.ErrInvalidParameter)
	err = e.Cloud.UnassignIPv4(bg(t), eni.ID, []netip.Addr{got.PrimaryIP}, nil)
	wantErr(t, "unassign the primary address", err, core.ErrInvalidParameter)
	if after := e.describe(t, eni.ID); !slices.Equal(after.SecondaryIPs, got.SecondaryIPs) {
		t.Fatalf("failed unassign changed the ENI: %v -> %v", got.SecondaryIPs, after.SecondaryIPs)
	}
}

func assignUnassignIPv6(t *testing.T, e *Env) {
	sn := e.subnet(t, e.Subnet)
	eni := e.create(t, ports.CreateENIRequest{})
	e.attach(t, eni.ID, 1)
	got, err := e.Cloud.AssignIPv6Prefixes(bg(t), eni.ID, 2)
	ok(t, "assign 2 IPv6 prefixes", err)
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("assigned IPv6 prefixes %v", got)
	}
	desc := e.describe(t, eni.ID)
	checkAddresses(t, desc, sn)
	if !slices.Equal(sortedPrefixes(desc.IPv6Prefixes), sortedPrefixes(got)) {
		t.Fatalf("ENI holds %v, assigned %v", desc.IPv6Prefixes, got)
	}
	ok(t, "unassign one IPv6 prefix", e.Cloud.UnassignIPv6Prefixes(bg(t), eni.ID, got[:1]))
	if desc := e.describe(t, eni.ID); !slices.Equal(desc.IPv6Prefixes, got[1:]) {
		t.Fatalf("after unassign the ENI holds %v, want %v", desc.IPv6Prefixes, got[1:])
	}
	err = e.Cloud.UnassignIPv6Prefixes(bg(t), eni.ID, got[:1])
	wantErr(t, "unassign an IPv6 prefix the ENI no longer holds", err, core.ErrInvalidParameter)
}

func addressLimit(t *testing.T, e *Env) {
	eni := e.create(t, ports.CreateENIRequest{})
	e.attach(t, eni.ID, 1)
	room := e.Type.IPv4PerENI - 1
	_, err := e.Cloud.AssignIPv4(bg(t), eni.ID, room, 0)
	ok(t, fmt.Sprintf("assign %d addresses (the limit is %d with the primary)", room, e.Type.IPv4PerENI), err)
	_, err = e.Cloud.AssignIPv4(bg(t), eni.ID, 1, 0)
	wantErr(t, "assign one address beyond the limit", err, core.ErrAddressLimit)
	_, err = e.Cloud.AssignIPv4(bg(t), eni.ID, 0, 1)
	wantErr(t, "assign one prefix beyond the limit", err, core.ErrAddressLimit)
	if got := e.describe(t, eni.ID); len(got.SecondaryIPs) != room || len(got.IPv4Prefixes) != 0 {
		t.Fatalf("refused assignments changed the ENI: %v / %v", got.SecondaryIPs, got.IPv4Prefixes)
	}
}

func subnetFull(t *testing.T, e *Env) {
	small := e.subnet(t, e.SmallSubnet)
	if small.CIDR.Bits() != 28 || small.AvailableIPs != 11 {
		t.Fatalf("small subnet %s has %d free addresses, want an empty /28 (11)", small.CIDR, small.AvailableIPs)
	}
	_, err := e.Cloud.CreateENI(bg(t), ports.CreateENIRequest{SubnetID: e.SmallSubnet, SecurityGroups: e.SecurityGroups, IPv4Prefixes: 1})
	wantErr(t, "a /28 prefix from a /28 subnet", err, core.ErrNoFreePrefix)
	_, err = e.Cloud.CreateENI(bg(t), ports.CreateENIRequest{SubnetID: e.SmallSubnet, SecurityGroups: e.SecurityGroups, SecondaryIPs: 11})
	wantErr(t, "12 addresses from 11", err, core.ErrSubnetFull)
	if got := e.subnet(t, e.SmallSubnet).AvailableIPs; got != 11 {
		t.Fatalf("refused creations used addresses: %d free", got)
	}
	full := e.create(t, ports.CreateENIRequest{SubnetID: e.SmallSubnet, SecondaryIPs: 10})
	checkAddresses(t, full, small)
	if got := e.subnet(t, e.SmallSubnet).AvailableIPs; got != 0 {
		t.Fatalf("%d free addresses after using all 11", got)
	}
	_, err = e.Cloud.CreateENI(bg(t), ports.CreateENIRequest{SubnetID: e.SmallSubnet, SecurityGroups: e.SecurityGroups})
	wantErr(t, "an ENI in a full subnet", err, core.ErrSubnetFull)
	ok(t, "delete the ENI", e.Cloud.DeleteENI(bg(t), full.ID))
	if got := e.subnet(t, e.SmallSubnet).AvailableIPs; got != 11 {
		t.Fatalf("%d free addresses after deleting the ENI, want 11", got)
	}
}

func throttled(t *testing.T, e *Env) {
	restore := e.Fail("DescribeNetworkInterfaces", "RequestLimitExceeded")
	_, err := e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{})
	restore()
	wantErr(t, "throttled describe", err, core.ErrThrottled)
	before, err := e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{})
	ok(t, "describe once the throttle is gone", err)

	restore = e.Fail("CreateNetworkInterface", "RequestLimitExceeded")
	_, err = e.Cloud.CreateENI(bg(t), ports.CreateENIRequest{SubnetID: e.Subnet, SecurityGroups: e.SecurityGroups})
	restore()
	wantErr(t, "throttled create", err, core.ErrThrottled)
	after, err := e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{})
	ok(t, "describe", err)
	if len(after) != len(before) {
		t.Fatalf("a throttled create left an ENI: %v -> %v", ids(before), ids(after))
	}
}

func unauthorized(t *testing.T, e *Env) {
	eni := e.create(t, ports.CreateENIRequest{})
	restore := e.Fail("AttachNetworkInterface", "UnauthorizedOperation")
	_, err := e.Cloud.AttachENI(bg(t), eni.ID, e.Instance, 1, 0)
	restore()
	wantErr(t, "attach without permission", err, core.ErrUnauthorized)
}

func tagsAndFilters(t *testing.T, e *Env) {
	mine := map[string]string{core.TagInstanceID: string(e.Instance), core.TagCluster: "blue"}
	a := e.create(t, ports.CreateENIRequest{Tags: mine})
	b := e.create(t, ports.CreateENIRequest{Tags: map[string]string{core.TagInstanceID: "i-0aaaaaaaaaaaaaaaa", core.TagCluster: "green"}})
	c := e.create(t, ports.CreateENIRequest{})
	e.attach(t, a.ID, 1)
	ok(t, "tag c", e.Cloud.CreateTags(bg(t), string(c.ID), map[string]string{core.TagNoManage: "true"}))
	ok(t, "retag b", e.Cloud.CreateTags(bg(t), string(b.ID), map[string]string{core.TagCluster: "blue"}))
	if got := e.describe(t, c.ID); !got.NoManage() {
		t.Fatalf("tag not applied: %v", got.Tags)
	}
	if got := e.describe(t, b.ID).Tags; got[core.TagCluster] != "blue" || got[core.TagInstanceID] != "i-0aaaaaaaaaaaaaaaa" {
		t.Fatalf("CreateTags must add and overwrite, keeping other tags: %v", got)
	}
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	primary := inst.PrimaryENI
	filters := []struct {
		name string
		f    ports.ENIFilter
		want []core.ENIID
	}{
		{"by ids", ports.ENIFilter{IDs: []core.ENIID{c.ID, a.ID}}, []core.ENIID{a.ID, c.ID}},
		{"by instance", ports.ENIFilter{InstanceID: e.Instance}, []core.ENIID{primary, a.ID}},
		{"by VPC", ports.ENIFilter{VPCID: e.VPCID}, []core.ENIID{primary, a.ID, b.ID, c.ID}},
		{"other VPC", ports.ENIFilter{VPCID: "vpc-0fedcba9876543210"}, nil},
		{"available", ports.ENIFilter{Status: "available"}, []core.ENIID{b.ID, c.ID}},
		{"in use", ports.ENIFilter{Status: "in-use"}, []core.ENIID{primary, a.ID}},
		{"tag key", ports.ENIFilter{TagKeys: []string{core.TagInstanceID}}, []core.ENIID{a.ID, b.ID}},
		{"two tag keys", ports.ENIFilter{TagKeys: []string{core.TagInstanceID, core.TagNoManage}}, nil},
		{"tag value", ports.ENIFilter{Tags: map[string]string{core.TagCluster: "blue"}}, []core.ENIID{a.ID, b.ID}},
		{"tag values", ports.ENIFilter{Tags: map[string]string{core.TagCluster: "blue", core.TagInstanceID: string(e.Instance)}}, []core.ENIID{a.ID}},
		{"everything", ports.ENIFilter{VPCID: e.VPCID, Status: "in-use", InstanceID: e.Instance, TagKeys: []string{core.TagCluster},
			Tags: map[string]string{core.TagCluster: "blue"}}, []core.ENIID{a.ID}},
	}
	for _, tc := range filters {
		got, err := e.Cloud.DescribeENIs(bg(t), tc.f)
		ok(t, "describe "+tc.name, err)
		gotIDs := ids(got)
		slices.Sort(gotIDs)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(gotIDs, want) {
			t.Errorf("filter %s: got %v, want %v", tc.name, gotIDs, want)
		}
	}
}

func notFound(t *testing.T, e *Env) {
	c := bg(t)
	eni := e.create(t, ports.CreateENIRequest{})
	checks := []struct {
		what string
		err  func() error
	}{
		{"delete unknown ENI", func() error { return e.Cloud.DeleteENI(c, unknownENI) }},
		{"attach unknown ENI", func() error { _, err := e.Cloud.AttachENI(c, unknownENI, e.Instance, 1, 0); return err }},
		{"attach to unknown instance", func() error { _, err := e.Cloud.AttachENI(c, eni.ID, unknownInstance, 1, 0); return err }},
		{"describe unknown ENI", func() error {
			_, err := e.Cloud.DescribeENIs(c, ports.ENIFilter{IDs: []core.ENIID{eni.ID, unknownENI}})
			return err
		}},
		{"assign to unknown ENI", func() error { _, err := e.Cloud.AssignIPv4(c, unknownENI, 1, 0); return err }},
		{"unassign from unknown ENI", func() error {
			return e.Cloud.UnassignIPv4(c, unknownENI, []netip.Addr{netip.MustParseAddr("10.0.0.200")}, nil)
		}},
		{"detach unknown attachment", func() error { return e.Cloud.DetachENI(c, unknownAttachment, false) }},
		{"delete-on-termination of unknown attachment", func() error { return e.Cloud.SetDeleteOnTermination(c, eni.ID, unknownAttachment) }},
		{"create in unknown subnet", func() error {
			_, err := e.Cloud.CreateENI(c, ports.CreateENIRequest{SubnetID: unknownSubnet, SecurityGroups: e.SecurityGroups})
			return err
		}},
		{"describe unknown subnet", func() error {
			_, err := e.Cloud.DescribeSubnets(c, ports.SubnetFilter{IDs: []core.SubnetID{unknownSubnet}})
			return err
		}},
		{"describe unknown instance", func() error { _, err := e.Cloud.DescribeInstance(c, unknownInstance); return err }},
		{"tag unknown ENI", func() error { return e.Cloud.CreateTags(c, string(unknownENI), map[string]string{"k": "v"}) }},
		{"describe unknown instance type", func() error { _, err := e.Cloud.DescribeInstanceType(c, "z9.unknown"); return err }},
	}
	for _, ch := range checks {
		err := ch.err()
		if !errors.Is(err, core.ErrNotFound) {
			t.Errorf("%s: error %v, want one wrapping %q", ch.what, err, core.ErrNotFound)
		}
	}
}

func deleteAttached(t *testing.T, e *Env) {
	eni := e.create(t, ports.CreateENIRequest{})
	e.attach(t, eni.ID, 1)
	wantErr(t, "delete an attached ENI", e.Cloud.DeleteENI(bg(t), eni.ID), core.ErrInvalidState)
	if got := e.describe(t, eni.ID); got.Status != "in-use" {
		t.Fatalf("refused delete left the ENI %s", got.Status)
	}
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	primary := inst.ENIs[0]
	wantErr(t, "delete the primary ENI", e.Cloud.DeleteENI(bg(t), primary.ID), core.ErrInvalidState)
	wantErr(t, "detach the primary ENI", e.Cloud.DetachENI(bg(t), primary.AttachmentID, false), core.ErrInvalidState)
}

func detachAndDelete(t *testing.T, e *Env) {
	before := e.subnet(t, e.Subnet).AvailableIPs
	eni := e.create(t, ports.CreateENIRequest{SecondaryIPs: 2})
	att := e.attach(t, eni.ID, 1)
	ok(t, "detach", e.Cloud.DetachENI(bg(t), att, false))
	var got core.ENI
	e.settle(t, "detachment", func() bool { got = e.describe(t, eni.ID); return got.Status == "available" })
	if got.AttachmentID != "" || got.InstanceID != "" || got.DeviceNumber != -1 || len(got.SecondaryIPs) != 2 {
		t.Fatalf("detached ENI %+v: want no attachment, addresses kept", got)
	}
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	if slices.Contains(ids(inst.ENIs), eni.ID) {
		t.Fatalf("instance still lists %s", eni.ID)
	}
	wantErr(t, "detach twice", e.Cloud.DetachENI(bg(t), att, false), core.ErrNotFound)
	ok(t, "delete", e.Cloud.DeleteENI(bg(t), eni.ID))
	_, err = e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{IDs: []core.ENIID{eni.ID}})
	wantErr(t, "describe a deleted ENI", err, core.ErrNotFound)
	wantErr(t, "delete twice", e.Cloud.DeleteENI(bg(t), eni.ID), core.ErrNotFound)
	if after := e.subnet(t, e.Subnet).AvailableIPs; after != before {
		t.Fatalf("subnet free addresses %d before, %d after delete", before, after)
	}
}

func deleteOnTermination(t *testing.T, e *Env) {
	eni := e.create(t, ports.CreateENIRequest{})
	att := e.attach(t, eni.ID, 1)
	if got := e.describe(t, eni.ID); got.DeleteOnTermination {
		t.Fatal("a new attachment is deleted on termination")
	}
	ok(t, "set delete-on-termination", e.Cloud.SetDeleteOnTermination(bg(t), eni.ID, att))
	if got := e.describe(t, eni.ID); !got.DeleteOnTermination || got.AttachmentID != att {
		t.Fatalf("after set: %+v", got)
	}
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	for _, x := range inst.ENIs {
		if !x.DeleteOnTermination {
			t.Errorf("instance view: %s (device %d) not deleted on termination", x.ID, x.DeviceNumber)
		}
	}
}

// leakCleanup is the hourly leaked-ENI sweep: ENIs this node created
// (tagged with its instance id) that are detached are found with the
// status and tag filters and deleted; others are left alone.
func leakCleanup(t *testing.T, e *Env) {
	tags := map[string]string{core.TagInstanceID: string(e.Instance), core.TagCreatedAt: "2024-01-01T00:00:00Z"}
	leaked := e.create(t, ports.CreateENIRequest{Description: core.ENIDescriptionPrefix + string(e.Instance), Tags: tags})
	att := e.attach(t, leaked.ID, 1)
	ok(t, "detach", e.Cloud.DetachENI(bg(t), att, true))
	inUse := e.create(t, ports.CreateENIRequest{Description: core.ENIDescriptionPrefix + string(e.Instance), Tags: tags})
	e.attach(t, inUse.ID, 2)
	foreign := e.create(t, ports.CreateENIRequest{Description: "someone else's"})

	var found []core.ENI
	e.settle(t, "leaked ENI listed", func() bool {
		var err error
		found, err = e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{Status: "available", TagKeys: []string{core.TagInstanceID}})
		ok(t, "describe leaked", err)
		return len(found) > 0
	})
	if len(found) != 1 || found[0].ID != leaked.ID {
		t.Fatalf("leak sweep found %v, want only %s", ids(found), leaked.ID)
	}
	if found[0].Description != core.ENIDescriptionPrefix+string(e.Instance) || found[0].Tags[core.TagCreatedAt] != tags[core.TagCreatedAt] {
		t.Fatalf("leaked ENI lost its description or tags: %+v", found[0])
	}
	ok(t, "delete leaked ENI", e.Cloud.DeleteENI(bg(t), leaked.ID))
	rest, err := e.Cloud.DescribeENIs(bg(t), ports.ENIFilter{VPCID: e.VPCID})
	ok(t, "describe", err)
	left := ids(rest)
	if slices.Contains(left, leaked.ID) || !slices.Contains(left, inUse.ID) || !slices.Contains(left, foreign.ID) {
		t.Fatalf("after the sweep: %v", left)
	}
}

func describeInstance(t *testing.T, e *Env) {
	inst, err := e.Cloud.DescribeInstance(bg(t), e.Instance)
	ok(t, "describe instance", err)
	sn := e.subnet(t, e.Subnet)
	if inst.ID != e.Instance || inst.Type != e.Type.Name || inst.VPCID != e.VPCID || inst.AvailabilityZone != sn.AvailabilityZone {
		t.Fatalf("instance %s %s %s %s, want %s %s %s %s", inst.ID, inst.Type, inst.VPCID, inst.AvailabilityZone,
			e.Instance, e.Type.Name, e.VPCID, sn.AvailabilityZone)
	}
	if len(inst.ENIs) != 1 {
		t.Fatalf("instance ENIs %v, want the primary only", ids(inst.ENIs))
	}
	p := inst.ENIs[0]
	if !p.Primary || p.DeviceNumber != 0 || p.NetworkCard != 0 || p.ID != inst.PrimaryENI || p.MAC != inst.PrimaryMAC ||
		p.PrimaryIP != inst.PrimaryIP || p.SubnetID != inst.SubnetID || p.AttachmentID == "" || p.InstanceID != e.Instance {
		t.Fatalf("primary ENI %+v of instance %+v", p, inst)
	}
	if !slices.Equal(inst.SecurityGroups, p.SecurityGroups) {
		t.Fatalf("instance groups %v, primary ENI's %v", inst.SecurityGroups, p.SecurityGroups)
	}
	owner := e.subnet(t, inst.SubnetID)
	if !slices.ContainsFunc(inst.VPCCIDRs, func(c netip.Prefix) bool { return c.Contains(owner.CIDR.Addr()) }) {
		t.Fatalf("VPC blocks %v do not hold the instance's subnet %s", inst.VPCCIDRs, owner.CIDR)
	}
	if p.SubnetCIDR != owner.CIDR {
		t.Fatalf("primary ENI subnet block %s, want %s", p.SubnetCIDR, owner.CIDR)
	}
	sameENI(t, "primary in DescribeENIs vs DescribeInstance", withoutTags(e.describe(t, p.ID)), withoutTags(p))
}

// withoutTags drops what DescribeInstances does not report.
func withoutTags(e core.ENI) core.ENI {
	e.Tags = nil
	return e
}

func describeSubnets(t *testing.T, e *Env) {
	sn := e.subnet(t, e.Subnet)
	small := e.subnet(t, e.SmallSubnet)
	if sn.VPCID != e.VPCID || !sn.CIDR.IsValid() || !sn.IPv6CIDR.IsValid() || sn.IPv6CIDR.Bits() != 64 || sn.AvailableIPs < 64 {
		t.Fatalf("subnet %+v: want one of %s with an IPv6 /64 and 64+ free addresses", sn, e.VPCID)
	}
	if small.AvailabilityZone != sn.AvailabilityZone {
		t.Fatalf("small subnet in %s, main in %s", small.AvailabilityZone, sn.AvailabilityZone)
	}
	all, err := e.Cloud.DescribeSubnets(bg(t), ports.SubnetFilter{VPCID: e.VPCID, AvailabilityZone: sn.AvailabilityZone})
	ok(t, "describe subnets of the VPC and zone", err)
	var got []core.SubnetID
	for _, s := range all {
		got = append(got, s.ID)
		if s.VPCID != e.VPCID || s.AvailabilityZone != sn.AvailabilityZone {
			t.Errorf("filter leaked %+v", s)
		}
	}
	if !slices.Contains(got, e.Subnet) || !slices.Contains(got, e.SmallSubnet) {
		t.Fatalf("subnets %v lack %s or %s", got, e.Subnet, e.SmallSubnet)
	}
	none, err := e.Cloud.DescribeSubnets(bg(t), ports.SubnetFilter{VPCID: "vpc-0fedcba9876543210"})
	ok(t, "describe subnets of another VPC", err)
	if len(none) != 0 {
		t.Fatalf("subnets of an unknown VPC: %+v", none)
	}
}

func describeInstanceType(t *testing.T, e *Env) {
	got, err := e.Cloud.DescribeInstanceType(bg(t), e.Type.Name)
	ok(t, "describe instance type", err)
	want := e.Type
	if got.Name != want.Name || got.MaxENIs != want.MaxENIs || got.IPv4PerENI != want.IPv4PerENI || got.IPv6PerENI != want.IPv6PerENI ||
		got.DefaultNetworkCard != want.DefaultNetworkCard || got.Hypervisor != want.Hypervisor || got.BareMetal != want.BareMetal ||
		got.IPv6Supported != want.IPv6Supported || got.PrefixDelegation() != want.PrefixDelegation() {
		t.Fatalf("instance type %+v, want %+v", got, want)
	}
}
