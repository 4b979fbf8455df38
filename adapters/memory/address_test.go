package memory

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// A /28 subnet has 16 addresses of which EC2 keeps five: .0-.3 and .15.
func TestTinySubnetReservedAddresses(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	if got := env.c.SubnetFree(subnetTiny); got != 11 {
		t.Fatalf("fresh /28 has %d free addresses, want 11", got)
	}
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetTiny, SecondaryIPs: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := append([]netip.Addr{eni.PrimaryIP}, eni.SecondaryIPs...)
	var want []netip.Addr
	for i := 4; i <= 14; i++ {
		want = append(want, netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("addresses = %v, want %v", got, want)
	}
	if free := env.c.SubnetFree(subnetTiny); free != 0 {
		t.Fatalf("free = %d after using all 11", free)
	}
	subs, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{IDs: []core.SubnetID{subnetTiny}})
	if err != nil || len(subs) != 1 || subs[0].AvailableIPs != 0 {
		t.Fatalf("DescribeSubnets = %+v, %v; want one subnet with 0 available", subs, err)
	}
	_, err = env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetTiny})
	wantCode(t, err, CodeInsufficientFreeAddressesInSubnet, core.ErrSubnetFull)

	must(t, env.c.DeleteENI(ctx, eni.ID))
	if free := env.c.SubnetFree(subnetTiny); free != 11 {
		t.Fatalf("free = %d after delete, want 11", free)
	}
}

// CreateENI is all or nothing: when the subnet cannot hold the requested
// secondary addresses or prefixes, no ENI exists afterwards and no address
// is consumed.
func TestCreateENIAtomic(t *testing.T) {
	tests := []struct {
		name string
		req  ports.CreateENIRequest
		code string
		sent error
	}{
		{"too many addresses", ports.CreateENIRequest{SubnetID: subnetTiny, SecondaryIPs: 11}, CodeInsufficientFreeAddressesInSubnet, core.ErrSubnetFull},
		{"prefix in /28", ports.CreateENIRequest{SubnetID: subnetTiny, IPv4Prefixes: 1}, CodeInsufficientCidrBlocks, core.ErrNoFreePrefix},
		{"prefixes fit, addresses do not", ports.CreateENIRequest{SubnetID: subnetB, IPv4Prefixes: 14, SecondaryIPs: 27}, CodeInsufficientFreeAddressesInSubnet, core.ErrSubnetFull},
		{"IPv6 without IPv6 block", ports.CreateENIRequest{SubnetID: subnetB, IPv6Prefixes: 1}, CodeInvalidParameterValue, core.ErrInvalidParameter},
		{"over unattached limit", ports.CreateENIRequest{SubnetID: subnetB, SecondaryIPs: 50}, CodePrivateIPAddressLimitExceeded, core.ErrAddressLimit},
		{"unknown subnet", ports.CreateENIRequest{SubnetID: "subnet-nope"}, CodeSubnetNotFound, core.ErrNotFound},
		{"no subnet", ports.CreateENIRequest{}, CodeMissingParameter, core.ErrInvalidParameter},
		{"negative count", ports.CreateENIRequest{SubnetID: subnetB, SecondaryIPs: -1}, CodeInvalidParameterValue, core.ErrInvalidParameter},
		{"reserved tag", ports.CreateENIRequest{SubnetID: subnetB, Tags: map[string]string{"aws:x": "1"}}, CodeInvalidParameterValue, core.ErrInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			enis, freeTiny, freeB := env.c.ENICount(), env.c.SubnetFree(subnetTiny), env.c.SubnetFree(subnetB)
			_, err := env.c.CreateENI(context.Background(), tt.req)
			wantCode(t, err, tt.code, tt.sent)
			if env.c.ENICount() != enis || env.c.SubnetFree(subnetTiny) != freeTiny || env.c.SubnetFree(subnetB) != freeB {
				t.Fatalf("failed CreateENI changed state: enis %d->%d, tiny %d->%d, b %d->%d",
					enis, env.c.ENICount(), freeTiny, env.c.SubnetFree(subnetTiny), freeB, env.c.SubnetFree(subnetB))
			}
		})
	}
}

func TestCreateENIRecordsRequest(t *testing.T) {
	env := newEnv(t)
	req := ports.CreateENIRequest{
		SubnetID: subnetA, SecurityGroups: []string{"sg-1", "sg-2"}, Description: "aws-K8S-i-1",
		Tags:         map[string]string{core.TagInstanceID: "i-1"},
		SecondaryIPs: 2, IPv4Prefixes: 1, IPv6Prefixes: 1,
	}
	got, err := env.c.CreateENI(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusAvailable || got.DeviceNumber != -1 || got.AttachmentID != "" || got.InstanceID != "" {
		t.Fatalf("new ENI is not detached: %+v", got)
	}
	if got.Description != req.Description || !slices.Equal(got.SecurityGroups, req.SecurityGroups) || got.Tags[core.TagInstanceID] != "i-1" {
		t.Fatalf("description/SGs/tags not recorded: %+v", got)
	}
	if len(got.SecondaryIPs) != 2 || len(got.IPv4Prefixes) != 1 || len(got.IPv6Prefixes) != 1 {
		t.Fatalf("addresses not assigned at creation: %+v", got)
	}
	if got.SubnetID != subnetA || got.VPCID != vpcID || got.SubnetCIDR != mustPrefix("10.0.0.0/24") {
		t.Fatalf("subnet fields wrong: %+v", got)
	}
	if !got.CreatedAt.Equal(epoch) {
		t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, epoch)
	}
	// The caller's request must not alias the stored ENI.
	req.Tags[core.TagInstanceID] = "changed"
	req.SecurityGroups[0] = "sg-x"
	stored, _ := env.c.ENI(got.ID)
	if stored.Tags[core.TagInstanceID] != "i-1" || stored.SecurityGroups[0] != "sg-1" {
		t.Fatalf("stored ENI aliases the request: %+v", stored)
	}
}

// Prefixes are aligned /28 blocks that never include reserved or used
// addresses, so the first block of a subnet (which holds .0-.3) is never
// delegated.
func TestPrefixAlignment(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB, IPv4Prefixes: 14})
	if err != nil {
		t.Fatal(err)
	}
	if eni.PrimaryIP != mustAddr("10.0.2.4") {
		t.Fatalf("primary = %s, want lowest free 10.0.2.4", eni.PrimaryIP)
	}
	for i, p := range eni.IPv4Prefixes {
		want := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 2, byte(16 * (i + 1))}), 28)
		if p != want {
			t.Fatalf("prefix %d = %s, want %s", i, p, want)
		}
		if p.Contains(eni.PrimaryIP) {
			t.Fatalf("prefix %s overlaps the primary address", p)
		}
	}
	// The first block still holds .5-.15 and the last block .240-.254, but
	// no aligned /28 is free: fragmentation, not exhaustion.
	if free := env.c.SubnetFree(subnetB); free != 11+15 {
		t.Fatalf("free = %d, want 26", free)
	}
	_, err = env.c.AssignIPv4(ctx, eni.ID, 0, 1)
	wantCode(t, err, CodeInsufficientCidrBlocks, core.ErrNoFreePrefix)
	// Single addresses still work, lowest first.
	got, err := env.c.AssignIPv4(ctx, eni.ID, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IPs, []netip.Addr{mustAddr("10.0.2.5"), mustAddr("10.0.2.6")}) {
		t.Fatalf("assigned %v, want .5 and .6", got.IPs)
	}
	// Releasing one prefix makes exactly that block available again.
	must(t, env.c.UnassignIPv4(ctx, eni.ID, nil, []netip.Prefix{mustPrefix("10.0.2.96/28")}))
	got, err = env.c.AssignIPv4(ctx, eni.ID, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Prefixes, []netip.Prefix{mustPrefix("10.0.2.96/28")}) {
		t.Fatalf("re-assigned %v, want 10.0.2.96/28", got.Prefixes)
	}
}

// A single used address inside a block keeps the block from being delegated.
func TestPrefixSkipsPartlyUsedBlocks(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	must(t, env.c.ReserveAddresses(subnetB, mustAddr("10.0.2.20"), mustAddr("10.0.2.47")))
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB, IPv4Prefixes: 2})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{mustPrefix("10.0.2.48/28"), mustPrefix("10.0.2.64/28")}
	if !slices.Equal(eni.IPv4Prefixes, want) {
		t.Fatalf("prefixes = %v, want %v", eni.IPv4Prefixes, want)
	}
	// Single addresses fill the holes, lowest first.
	got, err := env.c.AssignIPv4(ctx, eni.ID, 12, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.IPs[0] != mustAddr("10.0.2.5") || got.IPs[len(got.IPs)-1] != mustAddr("10.0.2.16") {
		t.Fatalf("addresses = %v, want .5 ... .16", got.IPs)
	}
}

func TestFragmentSubnet(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	n, err := env.c.FragmentSubnet(subnetB)
	if err != nil {
		t.Fatal(err)
	}
	if n != 14 {
		t.Fatalf("FragmentSubnet reserved %d addresses, want 14 (one per free block)", n)
	}
	if env.c.SubnetFreePrefixes(subnetB) != 0 {
		t.Fatalf("free prefixes = %d after fragmenting", env.c.SubnetFreePrefixes(subnetB))
	}
	free := env.c.SubnetFree(subnetB)
	if free != 251-14 {
		t.Fatalf("free = %d, want %d", free, 251-14)
	}
	_, err = env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB, IPv4Prefixes: 1})
	wantCode(t, err, CodeInsufficientCidrBlocks, core.ErrNoFreePrefix)
	if _, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB, SecondaryIPs: 20}); err != nil {
		t.Fatalf("single addresses must still be available: %v", err)
	}
}

func TestReserveAddressesRejects(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		addr netip.Addr
	}{
		{"network address", mustAddr("10.0.2.0")},
		{"router", mustAddr("10.0.2.1")},
		{"broadcast", mustAddr("10.0.2.255")},
		{"outside", mustAddr("10.0.3.10")},
		{"IPv6", mustAddr("2600:1f14:abc:de01::10")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := env.c.SubnetFree(subnetB)
			// The valid first address must be rolled back with the bad one.
			err := env.c.ReserveAddresses(subnetB, mustAddr("10.0.2.100"), tt.addr)
			if err == nil {
				t.Fatalf("ReserveAddresses(%s) succeeded", tt.addr)
			}
			if env.c.SubnetFree(subnetB) != before {
				t.Fatalf("failed reserve changed free count %d -> %d", before, env.c.SubnetFree(subnetB))
			}
		})
	}
}

// Freed addresses are reused lowest first, so runs are reproducible.
func TestLowestFreeReuse(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, _ := env.newENI(t, 1) // primary 10.0.0.5
	got, err := env.c.AssignIPv4(ctx, eni.ID, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IPs, []netip.Addr{mustAddr("10.0.0.6"), mustAddr("10.0.0.7"), mustAddr("10.0.0.8")}) {
		t.Fatalf("assigned %v", got.IPs)
	}
	must(t, env.c.UnassignIPv4(ctx, eni.ID, []netip.Addr{mustAddr("10.0.0.7")}, nil))
	got, err = env.c.AssignIPv4(ctx, eni.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.IPs[0] != mustAddr("10.0.0.7") {
		t.Fatalf("re-assigned %v, want 10.0.0.7", got.IPs)
	}
}

func TestAddressLimitPerENI(t *testing.T) {
	tests := []struct {
		name          string
		first         [2]int // ips, prefixes that succeed
		second        [2]int // ips, prefixes that must fail
		wantIPs, want int
	}{
		// t3.small: 4 addresses per ENI, the primary included.
		{"addresses", [2]int{3, 0}, [2]int{1, 0}, 3, 0},
		{"prefix counts as one", [2]int{2, 1}, [2]int{0, 1}, 2, 1},
		{"one call over the limit", [2]int{0, 0}, [2]int{2, 2}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			ctx := context.Background()
			eni, _ := env.newENI(t, 1)
			if tt.first != [2]int{} {
				if _, err := env.c.AssignIPv4(ctx, eni.ID, tt.first[0], tt.first[1]); err != nil {
					t.Fatal(err)
				}
			}
			free := env.c.SubnetFree(subnetA)
			_, err := env.c.AssignIPv4(ctx, eni.ID, tt.second[0], tt.second[1])
			wantCode(t, err, CodePrivateIPAddressLimitExceeded, core.ErrAddressLimit)
			got, _ := env.c.ENI(eni.ID)
			if len(got.SecondaryIPs) != tt.wantIPs || len(got.IPv4Prefixes) != tt.want || env.c.SubnetFree(subnetA) != free {
				t.Fatalf("failed assign changed state: %v %v free %d->%d", got.SecondaryIPs, got.IPv4Prefixes, free, env.c.SubnetFree(subnetA))
			}
		})
	}
}

func TestAssignIPv4Rejects(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, _ := env.newENI(t, 1)
	_, err := env.c.AssignIPv4(ctx, "eni-00000000000000000", 1, 0)
	wantCode(t, err, CodeENINotFound, core.ErrNotFound)
	_, err = env.c.AssignIPv4(ctx, eni.ID, 0, 0)
	wantCode(t, err, CodeMissingParameter, core.ErrInvalidParameter)
	_, err = env.c.AssignIPv4(ctx, eni.ID, -1, 0)
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
}

// Subnet exhaustion during AssignIPv4 leaves the ENI untouched.
func TestAssignIPv4SubnetFull(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetTiny, SecondaryIPs: 8})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.AssignIPv4(ctx, eni.ID, 3, 0)
	wantCode(t, err, CodeInsufficientFreeAddressesInSubnet, core.ErrSubnetFull)
	got, _ := env.c.ENI(eni.ID)
	if len(got.SecondaryIPs) != 8 || env.c.SubnetFree(subnetTiny) != 2 {
		t.Fatalf("failed assign changed state: %d secondaries, %d free", len(got.SecondaryIPs), env.c.SubnetFree(subnetTiny))
	}
	if _, err := env.c.AssignIPv4(ctx, eni.ID, 2, 0); err != nil {
		t.Fatalf("the last two addresses must be assignable: %v", err)
	}
}

func TestUnassignIPv4Rejects(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, _ := env.newENI(t, 1)
	got, err := env.c.AssignIPv4(ctx, eni.ID, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	other := env.inst.PrimaryIP
	tests := []struct {
		name     string
		ips      []netip.Addr
		prefixes []netip.Prefix
		code     string
	}{
		{"address of another ENI", []netip.Addr{got.IPs[0], other}, nil, CodeInvalidParameterValue},
		{"primary address", []netip.Addr{eni.PrimaryIP}, nil, CodeInvalidParameterValue},
		{"unknown prefix", nil, []netip.Prefix{mustPrefix("10.0.0.224/28")}, CodeInvalidParameterValue},
		{"duplicate", []netip.Addr{got.IPs[0], got.IPs[0]}, nil, CodeInvalidParameterValue},
		{"nothing", nil, nil, CodeMissingParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			free := env.c.SubnetFree(subnetA)
			err := env.c.UnassignIPv4(ctx, eni.ID, tt.ips, tt.prefixes)
			wantCode(t, err, tt.code, core.ErrInvalidParameter)
			now, _ := env.c.ENI(eni.ID)
			if !slices.Equal(now.SecondaryIPs, got.IPs) || !slices.Equal(now.IPv4Prefixes, got.Prefixes) || env.c.SubnetFree(subnetA) != free {
				t.Fatalf("failed unassign changed state: %+v", now)
			}
		})
	}
	must(t, env.c.UnassignIPv4(ctx, eni.ID, got.IPs, got.Prefixes))
	now, _ := env.c.ENI(eni.ID)
	if len(now.SecondaryIPs) != 0 || len(now.IPv4Prefixes) != 0 {
		t.Fatalf("unassign left %+v", now)
	}
}

// Nitro-only /28 prefixes are refused on Xen instances.
func TestPrefixesRefusedOnXen(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	inst, err := env.c.LaunchInstance(LaunchSpec{Type: "m4.large", SubnetID: subnetA})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.AssignIPv4(ctx, inst.PrimaryENI, 0, 1)
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
	if _, err := env.c.AssignIPv4(ctx, inst.PrimaryENI, 2, 0); err != nil {
		t.Fatalf("secondary addresses work on Xen: %v", err)
	}
	withPrefix, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA, IPv4Prefixes: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.AttachENI(ctx, withPrefix.ID, inst.ID, 1, 0)
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
}

func TestIPv6Prefixes(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, _ := env.newENI(t, 1)
	got, err := env.c.AssignIPv6Prefixes(ctx, eni.ID, 2)
	if err != nil {
		t.Fatal(err)
	}
	subnet6 := mustPrefix("2600:1f14:abc:de01::/64")
	for _, p := range got {
		if p.Bits() != 80 || p.Masked() != p || !subnet6.Contains(p.Addr()) {
			t.Fatalf("prefix %s is not an aligned /80 of %s", p, subnet6)
		}
		if p.Addr() == subnet6.Addr() {
			t.Fatalf("prefix %s holds the subnet's reserved addresses", p)
		}
	}
	if got[0] == got[1] {
		t.Fatalf("duplicate prefixes %v", got)
	}
	_, err = env.c.AssignIPv6Prefixes(ctx, eni.ID, 3) // t3.small: 4 per ENI
	wantCode(t, err, CodePrivateIPAddressLimitExceeded, core.ErrAddressLimit)

	err = env.c.UnassignIPv6Prefixes(ctx, eni.ID, []netip.Prefix{mustPrefix("2600:1f14:abc:de01:ffff::/80")})
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
	must(t, env.c.UnassignIPv6Prefixes(ctx, eni.ID, got[:1]))
	again, err := env.c.AssignIPv6Prefixes(ctx, eni.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	if again[0] != got[0] {
		t.Fatalf("freed /80 %s not reused, got %s", got[0], again[0])
	}

	noV6, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.AssignIPv6Prefixes(ctx, noV6.ID, 1)
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
	_, err = env.c.AssignIPv6Prefixes(ctx, "eni-0ffffffffffffffff", 1)
	wantCode(t, err, CodeENINotFound, core.ErrNotFound)
}

func TestLargeSubnet(t *testing.T) {
	c := New(Config{InstanceTypes: lookupTestType})
	must(t, c.AddVPC("vpc-big", mustPrefix("10.0.0.0/16")))
	s, err := c.AddSubnet(core.Subnet{VPCID: "vpc-big", CIDR: mustPrefix("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	if s.AvailableIPs != 65536-5 {
		t.Fatalf("AvailableIPs = %d", s.AvailableIPs)
	}
	eni, err := c.CreateENI(context.Background(), ports.CreateENIRequest{SubnetID: s.ID, IPv4Prefixes: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{mustPrefix("10.0.0.16/28"), mustPrefix("10.0.0.32/28"), mustPrefix("10.0.0.48/28")}
	if !slices.Equal(eni.IPv4Prefixes, want) {
		t.Fatalf("prefixes %v, want %v", eni.IPv4Prefixes, want)
	}
	if c.SubnetFree(s.ID) != 65536-5-1-48 {
		t.Fatalf("free = %d", c.SubnetFree(s.ID))
	}
}

func TestAddSubnetValidation(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		s    core.Subnet
	}{
		{"unknown VPC", core.Subnet{VPCID: "vpc-x", CIDR: mustPrefix("10.0.9.0/24")}},
		{"outside VPC", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("192.168.0.0/24")}},
		{"overlap", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.0.128/25")}},
		{"too small", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.9.0/29")}},
		{"wider than VPC block", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.0.0/15")}},
		{"IPv6 not /64", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.9.0/24"), IPv6CIDR: mustPrefix("2600:1f14:abc:de02::/80")}},
		{"IPv6 outside", core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.9.0/24"), IPv6CIDR: mustPrefix("2600:1f14:abc:ff00::/64")}},
		{"duplicate id", core.Subnet{ID: subnetA, VPCID: vpcID, CIDR: mustPrefix("10.0.9.0/24")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := env.c.AddSubnet(tt.s); err == nil {
				t.Fatalf("AddSubnet(%+v) succeeded", tt.s)
			}
		})
	}
	// A subnet in the VPC's second block works and gets a generated id.
	s, err := env.c.AddSubnet(core.Subnet{VPCID: vpcID, CIDR: mustPrefix("100.64.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ID) != len("subnet-")+17 || s.AvailabilityZone != "us-west-2a" || s.AvailableIPs != 251 {
		t.Fatalf("generated subnet %+v", s)
	}
}
