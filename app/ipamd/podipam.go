package ipamd

import (
	"context"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// podIPAM maps the node service onto ports.PodIPAM, the port the gRPC
// server drives.
type podIPAM struct {
	svc   *nodeipam.Service
	ready atomic.Bool
	// changed is called after every successful assign and release (metrics).
	changed func()
	// served remembers when each key last asked for an address, so the
	// orphan pass leaves alone an ADD that is wiring its pod.
	served *servedKeys
}

var _ ports.PodIPAM = (*podIPAM)(nil)

func newPodIPAM(svc *nodeipam.Service, pub *statsPublisher) *podIPAM {
	return &podIPAM{svc: svc, changed: pub.publish, served: newServedKeys()}
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

// CanServe is false while the node holds no pod address at all: at start
// before the pool's first addresses, or when none can be had (EC2 failing,
// an exhausted subnet, provisioning left to someone else who provided
// none). Then no pod could be networked here, and the plugin's STATUS says
// so. A node whose addresses are all taken is full, not unready, and a
// pool emptied by a burst of pods is growing: for either a failed STATUS
// would have the runtime report the node's network not ready, and
// Kubernetes would taint the node and, after the not-ready toleration
// (300 s by default), evict the pods running on it. Their ADDs get "try
// again later" instead, as upstream's do.
func (p *podIPAM) CanServe() bool {
	if !p.Ready() {
		return false
	}
	st := p.svc.Stats()
	return st.Total > 0 || st.Pods > 0
}
