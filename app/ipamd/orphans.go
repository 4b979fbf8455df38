package ipamd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// orphans takes back the addresses of pods that are gone while ipamd still
// holds them. The CNI plugin tears a pod down on its own, from the result
// it printed at ADD, and reports success when ipamd cannot be reached
// (stopped, restarting, still initialising): the DEL never reaches ipamd,
// whose checkpoint would keep the address forever. A pod is taken to be
// gone when its host veth (named from its namespace and name) is not on
// the node, under any veth prefix.
//
// An allocation is kept, whatever the host shows, when it is younger than
// minAge or its key asked for an address within minAge (an ADD between
// assignment and veth creation, including a retried ADD that got an old
// allocation back), or when it names no pod (nothing to look for).
type orphans struct {
	svc    *nodeipam.Service
	host   ports.HostNetwork
	served *servedKeys
	prefix string
	minAge time.Duration
	every  time.Duration
	log    *slog.Logger

	reclaimed prometheus.Counter
	changed   func()
}

func newOrphans(svc *nodeipam.Service, host ports.HostNetwork, ipam *podIPAM, pub *statsPublisher, m *metrics.Metrics,
	env config.Env, o Options, log *slog.Logger) (*orphans, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "awscni_reclaimed_ip_addresses",
		Help: "Addresses ipamd released itself because their pod's host veth was gone (the CNI DEL never reached ipamd).",
	})
	if err := m.Registry().Register(c); err != nil {
		return nil, fmt.Errorf("register orphan metrics: %w", err)
	}
	return &orphans{
		svc: svc, host: host, served: ipam.served, prefix: env.VethPrefix,
		minAge: o.OrphanMinAge, every: o.OrphanInterval,
		log:       log.With("component", "orphans"),
		reclaimed: c, changed: pub.publish,
	}, nil
}

// pass releases every orphaned allocation once and returns them.
func (r *orphans) pass(ctx context.Context) ([]core.Allocation, error) {
	veths, err := r.host.HostVeths(ctx)
	if err != nil {
		return nil, fmt.Errorf("list host veths: %w", err)
	}
	// A pod's veth is found by the part of its name that comes from the
	// pod, whatever the prefix: after a change of the veth prefix setting
	// the running pods keep the veths they were wired with, and taking
	// them for gone would hand their addresses to new pods.
	live := netstate.PodVeths(veths, r.prefix)
	now := time.Now()
	r.served.prune(now, r.minAge)
	gone, err := r.svc.ReleaseOrphans(ctx, func(a core.Allocation) bool {
		if a.Pod.Name == "" || a.Pod.Namespace == "" {
			return true
		}
		_, alive := live[netstate.VethSuffix(a.Pod.Namespace, a.Pod.Name)]
		return alive || r.served.within(a.Key, now, r.minAge)
	}, r.minAge)
	if len(gone) > 0 {
		r.reclaimed.Add(float64(len(gone)))
		r.changed()
		r.svc.Wake()
		r.log.Info("reclaimed addresses of pods whose host veth is gone", "count", len(gone))
	}
	if err != nil {
		return gone, fmt.Errorf("release addresses of gone pods: %w", err)
	}
	return gone, nil
}

// loop runs a pass every interval until ctx ends.
func (r *orphans) loop(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.pass(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("orphaned address pass failed", "error", err)
			}
		}
	}
}

// servedKeys remembers when each pod key last asked for an address.
type servedKeys struct {
	mu sync.Mutex
	at map[core.PodKey]time.Time
}

func newServedKeys() *servedKeys { return &servedKeys{at: map[core.PodKey]time.Time{}} }

func (s *servedKeys) mark(k core.PodKey, now time.Time) {
	s.mu.Lock()
	s.at[k] = now
	s.mu.Unlock()
}

// within reports whether k asked for an address less than window before now.
func (s *servedKeys) within(k core.PodKey, now time.Time, window time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.at[k]
	return ok && now.Sub(at) < window
}

// prune forgets keys that asked window or longer before now.
func (s *servedKeys) prune(now time.Time, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, at := range s.at {
		if now.Sub(at) >= window {
			delete(s.at, k)
		}
	}
}
