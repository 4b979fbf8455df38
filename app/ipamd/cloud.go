package ipamd

import (
	"fmt"
	"log/slog"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Cloud is what the node service needs from the cloud, as chosen by
// --cloud.
type Cloud struct {
	Cloud    ports.Cloud
	Metadata ports.Metadata
	Clock    ports.Clock
}

var cloudModule = fx.Module("cloud", fx.Provide(newCloud))

func newCloud(lc fx.Lifecycle, o Options, env config.Env, m *metrics.Metrics, log *slog.Logger) (Cloud, error) {
	switch o.Cloud {
	case CloudMemory:
		return newMemoryCloud(o, log)
	case CloudAWS:
		return newAWSCloud(o, env, m, log)
	case CloudEmulator:
		return newEmulatorCloud(lc, o, env, m, log)
	default:
		return Cloud{}, fmt.Errorf("--cloud=%q: want aws, memory or emulator: %w", o.Cloud, core.ErrInvalidParameter)
	}
}

// newMemoryCloud simulates EC2 and IMDS in the process: one VPC, one
// subnet and one running instance of the chosen type, on the wall clock
// with no API latency. Options.MemoryCloud reuses a region instead.
func newMemoryCloud(o Options, log *slog.Logger) (Cloud, error) {
	if o.MemoryCloud != nil {
		if o.MemoryInstance == "" {
			return Cloud{}, fmt.Errorf("memory cloud given without its instance ID: %w", core.ErrInvalidParameter)
		}
		return Cloud{Cloud: o.MemoryCloud, Metadata: o.MemoryCloud.Metadata(o.MemoryInstance), Clock: o.MemoryCloud.Clock()}, nil
	}
	region, inst, err := NewMemoryRegion(o)
	if err != nil {
		return Cloud{}, err
	}
	log.Info("simulating EC2 in memory", "instance", string(inst.ID), "type", inst.Type, "subnet", o.SubnetCIDR.String(), "vpc", o.VPCCIDR.String())
	return Cloud{Cloud: region, Metadata: region.Metadata(inst.ID), Clock: region.Clock()}, nil
}

// NewMemoryRegion builds the simulated region --cloud=memory runs on: VPC
// "vpc-local" (o.VPCCIDR), subnet "subnet-local" (o.SubnetCIDR) and one
// instance of o.InstanceType, on the wall clock.
func NewMemoryRegion(o Options) (*memory.Cloud, core.Instance, error) {
	region := memory.New(memory.Config{Clock: memory.RealClock{}, InstanceTypes: limits.Lookup, Seed: 1})
	if err := region.AddVPC("vpc-local", o.VPCCIDR); err != nil {
		return nil, core.Instance{}, fmt.Errorf("memory cloud: add VPC %s (--vpc-cidr): %w", o.VPCCIDR, err)
	}
	if _, err := region.AddSubnet(core.Subnet{ID: "subnet-local", VPCID: "vpc-local", CIDR: o.SubnetCIDR}); err != nil {
		return nil, core.Instance{}, fmt.Errorf("memory cloud: add subnet %s (--subnet-cidr): %w", o.SubnetCIDR, err)
	}
	inst, err := region.LaunchInstance(memory.LaunchSpec{Type: o.InstanceType, SubnetID: "subnet-local", SecurityGroups: []string{"sg-local"}})
	if err != nil {
		return nil, core.Instance{}, fmt.Errorf("memory cloud: launch a %s instance (--instance-type): %w", o.InstanceType, err)
	}
	return region, inst, nil
}
