package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/vpc-cni/vpc-cni/core"
)

// Metadata is the instance metadata service as one instance sees it. It is
// derived from the simulator's EC2 state but lags it: an attachment,
// detachment or address change becomes visible only once the clock has
// passed the change time plus the configured IMDS delay. Tags, status,
// attachment ids and trunk/EFA flags are not part of metadata and stay zero.
type Metadata struct {
	cloud *Cloud
	id    core.InstanceID
}

// Metadata returns the metadata view of an instance. The instance does not
// need to exist yet; calls fail with core.ErrNotFound while it does not.
func (c *Cloud) Metadata(id core.InstanceID) *Metadata {
	return &Metadata{cloud: c, id: id}
}

func (m *Metadata) instance(ctx context.Context) (*instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("imds: %w", err)
	}
	inst, ok := m.cloud.instances[m.id]
	if !ok || inst.state == InstanceTerminated {
		return nil, fmt.Errorf("imds: instance %s: %w", m.id, core.ErrNotFound)
	}
	return inst, nil
}

// Identity returns the instance's id, type, placement and primary
// interface.
func (m *Metadata) Identity(ctx context.Context) (core.InstanceIdentity, error) {
	c := m.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, err := m.instance(ctx)
	if err != nil {
		return core.InstanceIdentity{}, err
	}
	return core.InstanceIdentity{
		ID:               inst.id,
		Type:             inst.typ.Name,
		AvailabilityZone: inst.subnet.info.AvailabilityZone,
		Region:           c.cfg.Region,
		PrimaryMAC:       inst.primary.mac,
		PrimaryIP:        inst.primary.primaryIP,
		VPCCIDRs:         slices.Clone(c.vpcs[inst.subnet.info.VPCID].cidrs),
	}, nil
}

// Interfaces lists the attached ENIs with their addresses as the metadata
// service currently shows them, in (card, device) order.
func (m *Metadata) Interfaces(ctx context.Context) ([]core.ENI, error) {
	c := m.cloud
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, err := m.instance(ctx)
	if err != nil {
		return nil, err
	}
	now := c.clock.Now()
	i := visibleIndex(inst.imds, now)
	if i < 0 {
		return nil, nil
	}
	inst.imds = slices.Delete(inst.imds, 0, i)
	out := make([]core.ENI, 0, len(inst.imds[0].enis))
	for _, e := range inst.imds[0].enis {
		e.SecondaryIPs = slices.Clone(e.SecondaryIPs)
		e.IPv4Prefixes = slices.Clone(e.IPv4Prefixes)
		e.IPv6Prefixes = slices.Clone(e.IPv6Prefixes)
		e.SecurityGroups = slices.Clone(e.SecurityGroups)
		out = append(out, e)
	}
	return out, nil
}
