package memory

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestAddVPCValidation(t *testing.T) {
	c := New(Config{})
	tests := []struct {
		name  string
		id    string
		cidrs []netip.Prefix
		want  error
	}{
		{"empty id", "", nil, core.ErrInvalidParameter},
		{"too large block", "vpc-a", []netip.Prefix{mustPrefix("10.0.0.0/8")}, core.ErrInvalidParameter},
		{"overlapping blocks", "vpc-b", []netip.Prefix{mustPrefix("10.0.0.0/16"), mustPrefix("10.0.128.0/17")}, core.ErrInvalidParameter},
		{"invalid prefix", "vpc-c", []netip.Prefix{{}}, core.ErrInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.AddVPC(tt.id, tt.cidrs...); !errors.Is(err, tt.want) {
				t.Fatalf("AddVPC = %v, want %v", err, tt.want)
			}
			// A rejected VPC leaves nothing behind.
			if tt.id != "" {
				if err := c.AddVPCCIDR(tt.id, mustPrefix("172.16.0.0/16")); !errors.Is(err, core.ErrNotFound) {
					t.Fatalf("rejected VPC %s exists: %v", tt.id, err)
				}
			}
		})
	}
	must(t, c.AddVPC("vpc-ok", mustPrefix("10.0.0.0/16")))
	if err := c.AddVPC("vpc-ok"); !errors.Is(err, core.ErrDuplicate) {
		t.Fatalf("duplicate AddVPC = %v", err)
	}
	if c.Region() != "us-west-2" {
		t.Fatalf("default region %q", c.Region())
	}
	if _, ok := c.Clock().(*VirtualClock); !ok {
		t.Fatalf("default clock is %T, want *VirtualClock", c.Clock())
	}
}

func TestLaunchInstanceValidation(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		spec LaunchSpec
		code string
	}{
		{"unknown type", LaunchSpec{Type: "z.none", SubnetID: subnetA}, CodeInvalidInstanceType},
		{"unknown subnet", LaunchSpec{Type: "t3.small", SubnetID: "subnet-x"}, CodeSubnetNotFound},
		{"zone mismatch", LaunchSpec{Type: "t3.small", SubnetID: subnetA, AvailabilityZone: "us-west-2c"}, CodeInvalidParameterValue},
		{"duplicate id", LaunchSpec{ID: env.inst.ID, Type: "t3.small", SubnetID: subnetA}, CodeInvalidParameterValue},
		{"primary address taken", LaunchSpec{Type: "t3.small", SubnetID: subnetA, PrimaryIP: mustAddr("10.0.0.4")}, CodeInvalidParameterValue},
		{"reserved primary address", LaunchSpec{Type: "t3.small", SubnetID: subnetTiny, PrimaryIP: mustAddr("10.0.1.15")}, CodeInvalidParameterValue},
		{"primary outside subnet", LaunchSpec{Type: "t3.small", SubnetID: subnetTiny, PrimaryIP: mustAddr("10.0.0.99")}, CodeInvalidParameterValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := env.c.ENICount()
			_, err := env.c.LaunchInstance(tt.spec)
			wantCode(t, err, tt.code, nil)
			if env.c.ENICount() != n {
				t.Fatal("failed launch left an ENI behind")
			}
		})
	}
	inst, err := env.c.LaunchInstance(LaunchSpec{Type: "m5.large", SubnetID: subnetB, PrimaryIP: mustAddr("10.0.2.200")})
	if err != nil {
		t.Fatal(err)
	}
	if inst.PrimaryIP != mustAddr("10.0.2.200") || inst.AvailabilityZone != "us-west-2b" || len(inst.ENIs) != 1 {
		t.Fatalf("launched %+v", inst)
	}
	got, ok := env.c.Instance(inst.ID)
	if !ok || got.PrimaryENI != inst.PrimaryENI {
		t.Fatalf("Instance(%s) = %+v, %v", inst.ID, got, ok)
	}
	if err := env.c.SetInstanceState(inst.ID, "rebooting"); !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("SetInstanceState(rebooting) = %v", err)
	}
	must(t, env.c.TerminateInstance(inst.ID))
	if _, ok := env.c.Instance(inst.ID); ok {
		t.Fatal("terminated instance still reported")
	}
}

func TestOutOfBandHelpers(t *testing.T) {
	env := newEnv(t)
	eni, _ := env.newENI(t, 1)
	got, err := env.c.AssignOutOfBand(eni.ID, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.AssignOutOfBand(eni.ID, 2, 0) // t3.small holds 4
	wantCode(t, err, CodePrivateIPAddressLimitExceeded, core.ErrAddressLimit)
	_, err = env.c.AssignOutOfBand("eni-0nothere", 1, 0)
	wantCode(t, err, CodeENINotFound, core.ErrNotFound)
	wantCode(t, env.c.UnassignOutOfBand(eni.ID, []netip.Addr{mustAddr("10.0.0.200")}, nil), CodeInvalidParameterValue, core.ErrInvalidParameter)
	must(t, env.c.UnassignOutOfBand(eni.ID, got.IPs, got.Prefixes))
	if e, _ := env.c.ENI(eni.ID); len(e.SecondaryIPs)+len(e.IPv4Prefixes) != 0 {
		t.Fatalf("UnassignOutOfBand left %+v", e)
	}
	if len(env.c.Calls()) != 2 { // CreateNetworkInterface and AttachNetworkInterface from newENI
		t.Fatalf("out-of-band helpers were counted: %v", env.c.Calls())
	}

	free := env.c.SubnetFree(subnetA)
	must(t, env.c.ReserveAddresses(subnetA, mustAddr("10.0.0.100")))
	if err := env.c.ReleaseAddresses(subnetA, eni.PrimaryIP); !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("releasing an ENI's address = %v", err)
	}
	must(t, env.c.ReleaseAddresses(subnetA, mustAddr("10.0.0.100")))
	if env.c.SubnetFree(subnetA) != free {
		t.Fatalf("reserve+release changed free count %d -> %d", free, env.c.SubnetFree(subnetA))
	}
	if env.c.SubnetFree("subnet-x") != -1 || env.c.SubnetFreePrefixes("subnet-x") != -1 {
		t.Fatal("unknown subnet not reported as -1")
	}
	if _, err := env.c.AddENI(ENISpec{InterfaceType: "bogus"}); err == nil {
		t.Fatal("AddENI accepted an unknown interface type")
	}
	n := env.c.ENICount()
	_, err = env.c.AddENI(ENISpec{Instance: env.inst.ID})
	wantCode(t, err, CodeMissingParameter, core.ErrInvalidParameter)
	efaReq := ENISpec{InterfaceType: InterfaceTypeEFA, Instance: env.inst.ID, Device: 0}
	efaReq.SubnetID = subnetA
	_, err = env.c.AddENI(efaReq) // device 0 is taken: nothing may be left behind
	wantCode(t, err, CodeInvalidParameterValue, core.ErrInvalidParameter)
	if env.c.ENICount() != n {
		t.Fatal("failed AddENI left an ENI behind")
	}
}

// Lowering the IMDS delay at run time applies to later changes.
func TestSetIMDSDelay(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.IMDSDelay = time.Hour })
	ctx := context.Background()
	env.c.SetIMDSDelay(0)
	env.newENI(t, 1)
	list, err := env.c.Metadata(env.inst.ID).Interfaces(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("with zero delay IMDS shows %d ENIs, %v", len(list), err)
	}
}
