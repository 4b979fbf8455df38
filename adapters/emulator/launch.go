package emulator

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// NodeConfig describes a one-node region: one VPC, one subnet and one
// running instance, the set-up behind `vpc-cni emulator`.
type NodeConfig struct {
	// InstanceType must be known to InstanceTypes. Required.
	InstanceType string
	// Region defaults to "us-west-2".
	Region string
	// VPCCIDRs are the VPC's IPv4 blocks (default 10.0.0.0/16); one of
	// them must hold SubnetCIDR.
	VPCCIDRs []netip.Prefix
	// SubnetCIDR defaults to 10.0.0.0/24.
	SubnetCIDR netip.Prefix
	// SubnetIPv6CIDR, when set, is a /64 given to the subnet (and its /56
	// to the VPC), so IPv6 prefixes can be delegated.
	SubnetIPv6CIDR netip.Prefix
	// SecurityGroups of the primary ENI (default one made-up group).
	SecurityGroups []string
	// IMDSDelay is how long metadata lags EC2.
	IMDSDelay time.Duration
	// Latency per EC2 action (memory.Op* names).
	Latency map[string]time.Duration
	// Clock defaults to memory.RealClock, so latency and metadata lag are
	// real time, as a process talking over HTTP expects.
	Clock ports.Clock
	// InstanceTypes resolves limits; defaults to limits.Lookup.
	InstanceTypes func(string) (limits.InstanceType, bool)
	// Seed makes generated ids deterministic.
	Seed uint64
}

// Node is a region built by NewNode.
type Node struct {
	Cloud    *memory.Cloud
	Instance core.Instance
	Subnet   core.Subnet
}

// NewNode builds a memory cloud with one VPC, one subnet and one running
// instance of the configured type. An unknown instance type fails with an
// error naming it that wraps core.ErrUnknownInstanceType.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.InstanceType == "" {
		return nil, fmt.Errorf("build emulated node: instance type is required: %w", core.ErrInvalidParameter)
	}
	if cfg.InstanceTypes == nil {
		cfg.InstanceTypes = limits.Lookup
	}
	if _, ok := cfg.InstanceTypes(cfg.InstanceType); !ok {
		return nil, fmt.Errorf("build emulated node: instance type %q: %w", cfg.InstanceType, core.ErrUnknownInstanceType)
	}
	if len(cfg.VPCCIDRs) == 0 {
		cfg.VPCCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	}
	if !cfg.SubnetCIDR.IsValid() {
		cfg.SubnetCIDR = netip.MustParsePrefix("10.0.0.0/24")
	}
	if cfg.Clock == nil {
		cfg.Clock = memory.RealClock{}
	}
	if len(cfg.SecurityGroups) == 0 {
		cfg.SecurityGroups = []string{"sg-0e1a2b3c4d5e6f701"}
	}
	cloud := memory.New(memory.Config{
		Region:        cfg.Region,
		Clock:         cfg.Clock,
		Latency:       cfg.Latency,
		IMDSDelay:     cfg.IMDSDelay,
		InstanceTypes: cfg.InstanceTypes,
		Seed:          cfg.Seed,
	})
	const vpcID = "vpc-0e1a2b3c4d5e6f701"
	cidrs := slices.Clone(cfg.VPCCIDRs)
	if cfg.SubnetIPv6CIDR.IsValid() {
		if !cfg.SubnetIPv6CIDR.Addr().Is6() || cfg.SubnetIPv6CIDR.Bits() != 64 {
			return nil, fmt.Errorf("build emulated node: subnet IPv6 CIDR %s must be a /64: %w", cfg.SubnetIPv6CIDR, core.ErrInvalidParameter)
		}
		v6, err := cfg.SubnetIPv6CIDR.Addr().Prefix(56)
		if err != nil {
			return nil, fmt.Errorf("build emulated node: VPC IPv6 block of %s: %w", cfg.SubnetIPv6CIDR, err)
		}
		cidrs = append(cidrs, v6)
	}
	if err := cloud.AddVPC(vpcID, cidrs...); err != nil {
		return nil, fmt.Errorf("build emulated node: %w", err)
	}
	sn, err := cloud.AddSubnet(core.Subnet{
		VPCID:    vpcID,
		CIDR:     cfg.SubnetCIDR,
		IPv6CIDR: cfg.SubnetIPv6CIDR,
	})
	if err != nil {
		return nil, fmt.Errorf("build emulated node: %w", err)
	}
	inst, err := cloud.LaunchInstance(memory.LaunchSpec{
		Type:           cfg.InstanceType,
		SubnetID:       sn.ID,
		SecurityGroups: cfg.SecurityGroups,
	})
	if err != nil {
		return nil, fmt.Errorf("build emulated node: %w", err)
	}
	return &Node{Cloud: cloud, Instance: inst, Subnet: sn}, nil
}

// EnvVar is one environment variable for a process using the emulator.
type EnvVar struct {
	Name, Value string
}

// Env returns the variables that point the AWS SDKs (Go v2, and the
// upstream CNI's EC2 and IMDS clients) at the emulator, with dummy
// credentials. AWS_ENDPOINT_URL_EC2 is what SDK v2 reads for EC2;
// AWS_EC2_ENDPOINT is what the upstream CNI reads.
func Env(ec2URL, imdsURL, region string) []EnvVar {
	out := []EnvVar{
		{"AWS_ENDPOINT_URL_EC2", ec2URL},
		{"AWS_EC2_ENDPOINT", ec2URL},
	}
	if imdsURL != "" {
		out = append(out, EnvVar{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imdsURL})
	}
	return append(out,
		EnvVar{"AWS_REGION", region},
		EnvVar{"AWS_ACCESS_KEY_ID", "AKIDEMULATOR"},
		EnvVar{"AWS_SECRET_ACCESS_KEY", "emulator-secret"},
	)
}
