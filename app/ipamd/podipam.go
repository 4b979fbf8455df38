package ipamd

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// podIPAM maps the node service onto ports.PodIPAM, the port the gRPC
// server drives.
type podIPAM struct {
	svc         *nodeipam.Service
	ready       atomic.Bool
	skipPrimary bool
	noGrowth    bool
	// changed is called after every successful assign and release (metrics).
	changed func()
	// served remembers when each key last asked for an address, so the
	// orphan pass leaves alone an ADD that is wiring its pod.
	served *servedKeys
}

var _ ports.PodIPAM = (*podIPAM)(nil)

func newPodIPAM(svc *nodeipam.Service, env config.Env, pub *statsPublisher) *podIPAM {
	c := env.NodeIPAM()
	return &podIPAM{svc: svc, skipPrimary: c.SkipPrimaryENI, noGrowth: c.DisableProvisioning, changed: pub.publish, served: newServedKeys()}
}

func podAddress(a datastore.Assignment) ports.PodAddress {
	return ports.PodAddress{Addr: a.Addr, ENI: a.ENI, DeviceNumber: a.DeviceNumber, NetworkCard: a.NetworkCard, RouteTable: a.RouteTable}
}

func (p *podIPAM) AssignPod(ctx context.Context, req ports.AssignRequest) (ports.PodAddress, error) {
	// Marked before the service answers: a retried ADD gets back an
	// allocation whose AssignedAt may be old, and the orphan pass must not
	// take it between the answer and the plugin creating the veth.
	p.served.mark(req.Key, time.Now())
	a, err := p.svc.Assign(ctx, nodeipam.AssignRequest{Key: req.Key, Pod: req.Pod})
	if err != nil {
		return ports.PodAddress{}, err
	}
	p.changed()
	return podAddress(a), nil
}

func (p *podIPAM) ReleasePod(ctx context.Context, key core.PodKey) (ports.PodAddress, error) {
	a, err := p.svc.Release(ctx, key)
	if err != nil {
		return ports.PodAddress{}, err
	}
	p.changed()
	return podAddress(a), nil
}

func (p *podIPAM) Allocations(network string) []core.Allocation {
	var out []core.Allocation
	for _, a := range p.svc.Assignments() {
		if network == "" || a.Key.NetworkName == network {
			out = append(out, a.Allocation())
		}
	}
	return out
}

func (p *podIPAM) VPCCIDRs() []netip.Prefix {
	inst := p.svc.Instance()
	return append(append([]netip.Prefix(nil), inst.VPCCIDRs...), inst.VPCIPv6CIDRs...)
}

func (p *podIPAM) Ready() bool { return p.ready.Load() }

// CanServe: a free address now, or room to grow (below max pods, and an
// ENI with address room or a free attachment slot).
func (p *podIPAM) CanServe() bool {
	if !p.Ready() {
		return false
	}
	st := p.svc.Stats()
	if st.Free > 0 {
		return true
	}
	lim := p.svc.Limits()
	if lim.MaxPods > 0 && st.Assigned >= lim.MaxPods {
		return false
	}
	if p.noGrowth {
		return false
	}
	for _, u := range p.svc.Usage().ENIs {
		if u.Usable() && !(p.skipPrimary && u.Primary) && u.IPs+u.Prefixes < lim.BlocksPerENI {
			return true
		}
	}
	attached := 0
	for _, e := range p.svc.Instance().ENIs {
		if e.NetworkCard == 0 {
			attached++
		}
	}
	return attached < lim.MaxENIs-lim.ReservedENISlots
}
