package memory

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// testTypes is a tiny stand-in for the built-in limits table.
var testTypes = map[string]limits.InstanceType{
	"t3.small": {
		Name: "t3.small", MaxENIs: 3, IPv4PerENI: 4, IPv6PerENI: 4,
		NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 3}},
		Hypervisor:   "nitro", VCPUs: 2, IPv6Supported: true,
	},
	"m5.large": {
		Name: "m5.large", MaxENIs: 3, IPv4PerENI: 10, IPv6PerENI: 10,
		NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 3}},
		Hypervisor:   "nitro", VCPUs: 2, IPv6Supported: true,
	},
	"m4.large": {
		Name: "m4.large", MaxENIs: 2, IPv4PerENI: 10, IPv6PerENI: 10,
		NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 2}},
		Hypervisor:   "xen", VCPUs: 2, IPv6Supported: true,
	},
	"x.multicard": {
		Name: "x.multicard", MaxENIs: 2, IPv4PerENI: 5,
		NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 2}, {Index: 1, MaxInterfaces: 1}},
		Hypervisor:   "nitro",
	},
	"x.noipv6": {
		Name: "x.noipv6", MaxENIs: 2, IPv4PerENI: 4,
		Hypervisor: "nitro",
	},
}

func lookupTestType(name string) (limits.InstanceType, bool) {
	t, ok := testTypes[name]
	return t, ok
}

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	subnetA    core.SubnetID = "subnet-a"    // 10.0.0.0/24, us-west-2a, IPv6
	subnetTiny core.SubnetID = "subnet-tiny" // 10.0.1.0/28, us-west-2a
	subnetB    core.SubnetID = "subnet-b"    // 10.0.2.0/24, us-west-2b
	subnetC    core.SubnetID = "subnet-c"    // 100.64.0.0/24, us-west-2a (second VPC CIDR)
	vpcID                    = "vpc-1"
)

type testEnv struct {
	c    *Cloud
	clk  *VirtualClock
	inst core.Instance
}

// newEnv builds a region with one VPC (two IPv4 blocks and one IPv6 block),
// four subnets and one running t3.small in subnet-a.
func newEnv(t *testing.T, mods ...func(*Config)) *testEnv {
	t.Helper()
	clk := NewVirtualClock(epoch)
	cfg := Config{Clock: clk, InstanceTypes: lookupTestType, Seed: 42}
	for _, m := range mods {
		m(&cfg)
	}
	c := New(cfg)
	must(t, c.AddVPC(vpcID,
		netip.MustParsePrefix("10.0.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/16"),
		netip.MustParsePrefix("2600:1f14:abc:de00::/56")))
	for _, s := range []core.Subnet{
		{ID: subnetA, VPCID: vpcID, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24"),
			IPv6CIDR: netip.MustParsePrefix("2600:1f14:abc:de01::/64")},
		{ID: subnetTiny, VPCID: vpcID, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.1.0/28")},
		{ID: subnetB, VPCID: vpcID, AvailabilityZone: "us-west-2b", CIDR: netip.MustParsePrefix("10.0.2.0/24")},
		{ID: subnetC, VPCID: vpcID, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("100.64.0.0/24")},
	} {
		if _, err := c.AddSubnet(s); err != nil {
			t.Fatalf("AddSubnet(%s): %v", s.ID, err)
		}
	}
	inst, err := c.LaunchInstance(LaunchSpec{ID: "i-0000000000000000a", Type: "t3.small", SubnetID: subnetA, SecurityGroups: []string{"sg-1"}})
	if err != nil {
		t.Fatalf("LaunchInstance: %v", err)
	}
	return &testEnv{c: c, clk: clk, inst: inst}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode checks that err is an *APIError with the code and that it
// unwraps to the sentinel.
func wantCode(t *testing.T, err error, code string, sentinel error) {
	t.Helper()
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an *APIError, want code %s", err, code)
	}
	if apiErr.Code != code {
		t.Fatalf("code = %s (%v), want %s", apiErr.Code, err, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
}

// newENI creates and attaches an ENI to the env's instance at device.
func (e *testEnv) newENI(t *testing.T, device int) (core.ENI, string) {
	t.Helper()
	ctx := context.Background()
	eni, err := e.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA, Description: "aws-K8S-" + string(e.inst.ID)})
	if err != nil {
		t.Fatalf("CreateENI: %v", err)
	}
	att, err := e.c.AttachENI(ctx, eni.ID, e.inst.ID, device, 0)
	if err != nil {
		t.Fatalf("AttachENI: %v", err)
	}
	return eni, att
}

func mustAddr(s string) netip.Addr     { return netip.MustParseAddr(s) }
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
