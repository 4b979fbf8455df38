package ipamd

import (
	"context"
	"log/slog"
	"sync"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// metricsModule keeps the Prometheus registry (always: it counts requests)
// and serves it unless DISABLE_METRICS.
var metricsModule = fx.Module("metrics",
	fx.Provide(newMetrics, newStatsPublisher),
	fx.Invoke(registerMetrics),
)

func newMetrics(o Options, log *slog.Logger) (*metrics.Metrics, error) {
	return metrics.New(metrics.Config{Address: o.MetricsAddress, Version: version.Get(), Log: log.With("component", "metrics")})
}

func registerMetrics(lc fx.Lifecycle, m *metrics.Metrics, env config.Env) {
	if env.DisableMetrics {
		return
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return m.Start() },
		OnStop:  m.Stop,
	})
}

// statsPublisher turns the service's numbers into metrics.Stats.
type statsPublisher struct {
	svc *nodeipam.Service
	m   *metrics.Metrics
	dp  *datapath
	pd  bool

	mu sync.Mutex
}

func newStatsPublisher(svc *nodeipam.Service, m *metrics.Metrics, dp *datapath, env config.Env) *statsPublisher {
	return &statsPublisher{svc: svc, m: m, dp: dp, pd: env.EnablePrefixDelegation}
}

// publish pushes the current numbers to the registry.
func (p *statsPublisher) publish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.svc.Stats()
	lim := p.svc.Limits()
	c := p.svc.Counters()
	perBlock := 1
	if p.pd {
		perBlock = core.AddressesPerPrefix
	}
	s := metrics.Stats{
		ENIs:             st.ENIs,
		MaxENIs:          lim.MaxENIs,
		MaxIPs:           lim.MaxENIs * lim.BlocksPerENI * perBlock,
		TotalIPs:         st.Total,
		AssignedIPs:      st.Assigned,
		CooldownIPs:      st.Cooling,
		IPv4Prefixes:     st.Prefixes,
		AssignedPerENI:   map[core.ENIID]int{},
		Reconciles:       map[string]int{"reconcile": c.Reconciles, "ec2_reconcile": c.EC2Reconciles},
		Errors:           map[string]int{"cloud": c.CloudErrors, "throttled": c.Throttled, "assign": c.AssignFailures},
		ForceRemovedENIs: c.ForceRemovedENIs,
		ForceRemovedIPs:  c.ForceRemovedIPs,
	}
	for _, v := range p.svc.ENIs() {
		s.AssignedPerENI[v.ID] = v.Assigned
	}
	for step, n := range p.dp.errorTotals() {
		s.Errors[step] = n
	}
	p.m.Update(s)
}
