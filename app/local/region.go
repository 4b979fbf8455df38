package local

import (
	"fmt"
	"net/netip"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
)

// The simulated VPC. Node i (1-based) has subnet 10.0.(16·(i-1)).0/20; the
// last /20 holds the VPC's own endpoints.
var (
	VPCCIDR = netip.MustParsePrefix("10.0.0.0/16")
	// EC2Endpoint is where the EC2 API answers inside the VPC namespace.
	EC2Endpoint = netip.MustParseAddr("10.0.255.254")
	// MetadataAddress is the instance metadata service, as on EC2.
	MetadataAddress = netip.MustParseAddr("169.254.169.254")
	// InternetServer is the "public" server behind the VPC; it answers
	// every connection with the source address it saw.
	InternetServer = netip.MustParseAddr("198.51.100.10")
	// The link between the VPC and internet namespaces.
	vpcInternetSide = netip.MustParsePrefix("203.0.113.1/24")
	internetSide    = netip.MustParsePrefix("203.0.113.2/24")
)

const (
	vpcID  = "vpc-0local"
	region = "us-west-2"
	sgID   = "sg-0local"
)

// subnetOf returns node i's subnet (1-based).
func subnetOf(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(16 * (i - 1)), 0}), 20)
}

// gatewayOf is the subnet's first host address, the VPC router.
func gatewayOf(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// newRegion builds the simulated region: one VPC, one subnet and one
// running instance per node, on the wall clock (a process talking over
// HTTP expects real time).
func newRegion(cfg Config) (*memory.Cloud, []core.Instance, error) {
	c := memory.New(memory.Config{
		Region:        region,
		Clock:         memory.RealClock{},
		Latency:       cfg.EC2Latency,
		InstanceTypes: limits.Lookup,
		Seed:          1,
	})
	if err := c.AddVPC(vpcID, VPCCIDR); err != nil {
		return nil, nil, fmt.Errorf("build region: %w", err)
	}
	var insts []core.Instance
	for i := 1; i <= cfg.Nodes; i++ {
		sn, err := c.AddSubnet(core.Subnet{ID: core.SubnetID(fmt.Sprintf("subnet-0node%d", i)), VPCID: vpcID, CIDR: subnetOf(i)})
		if err != nil {
			return nil, nil, fmt.Errorf("build region: node %d subnet: %w", i, err)
		}
		inst, err := c.LaunchInstance(memory.LaunchSpec{Type: cfg.InstanceType, SubnetID: sn.ID, SecurityGroups: []string{sgID}})
		if err != nil {
			return nil, nil, fmt.Errorf("build region: launch node %d (%s): %w", i, cfg.InstanceType, err)
		}
		insts = append(insts, inst)
	}
	return c, insts, nil
}

// eniOwning finds the attached ENI of inst holding addr.
func eniOwning(c *memory.Cloud, inst core.InstanceID, addr netip.Addr) (core.ENI, bool) {
	for _, e := range c.ENIsOf(inst) {
		if e.PrimaryIP == addr {
			return e, true
		}
		for _, a := range e.SecondaryIPs {
			if a == addr {
				return e, true
			}
		}
		for _, p := range e.IPv4Prefixes {
			if p.Contains(addr) {
				return e, true
			}
		}
	}
	return core.ENI{}, false
}

// linkName is the node-side name of an ENI's link, as on an instance.
func linkName(e core.ENI) string {
	if e.NetworkCard != 0 {
		return fmt.Sprintf("eth%d-%d", e.NetworkCard, e.DeviceNumber)
	}
	return fmt.Sprintf("eth%d", e.DeviceNumber)
}
