package cloudcontract_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/cloudcontract"
	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

const (
	vpcID       = "vpc-0c0c0c0c0c0c0c0c1"
	subnetMain  = core.SubnetID("subnet-0c0c0c0c0c0c0c0c1")
	subnetSmall = core.SubnetID("subnet-0c0c0c0c0c0c0c0c2")
	subnetOther = core.SubnetID("subnet-0c0c0c0c0c0c0c0c3")
	sg          = "sg-0c0c0c0c0c0c0c0c1"
)

// newRegion builds the region every environment starts from: one VPC, a
// /24 with an IPv6 /64 and a /28 in us-west-2a, a /24 in us-west-2b, and a
// running t3.small in the /24.
func newRegion(t *testing.T) (*memory.Cloud, *memory.VirtualClock, cloudcontract.Env) {
	t.Helper()
	clk := memory.NewVirtualClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	cloud := memory.New(memory.Config{Clock: clk, InstanceTypes: limits.Lookup, Seed: 11})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cloud.AddVPC(vpcID, netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2600:1f14:abc:de00::/56")))
	for _, s := range []core.Subnet{
		{ID: subnetMain, VPCID: vpcID, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24"),
			IPv6CIDR: netip.MustParsePrefix("2600:1f14:abc:de01::/64")},
		{ID: subnetSmall, VPCID: vpcID, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.1.0/28")},
		{ID: subnetOther, VPCID: vpcID, AvailabilityZone: "us-west-2b", CIDR: netip.MustParsePrefix("10.0.2.0/24")},
	} {
		_, err := cloud.AddSubnet(s)
		must(err)
	}
	typ, _ := limits.Lookup("t3.small")
	inst, err := cloud.LaunchInstance(memory.LaunchSpec{Type: typ.Name, SubnetID: subnetMain, SecurityGroups: []string{sg}})
	must(err)
	env := cloudcontract.Env{
		Cloud:          cloud,
		Instance:       inst.ID,
		Type:           typ,
		VPCID:          vpcID,
		Subnet:         subnetMain,
		SmallSubnet:    subnetSmall,
		SecurityGroups: []string{sg},
		Fail: func(op, code string) func() {
			cloud.InjectError(op, code, -1)
			return cloud.ClearFaults
		},
		AdvanceClock: func(d time.Duration) { clk.Advance(d) },
	}
	return cloud, clk, env
}

func TestMemoryCloud(t *testing.T) {
	cloudcontract.Run(t, func(t *testing.T) cloudcontract.Env {
		_, _, env := newRegion(t)
		return env
	})
}
