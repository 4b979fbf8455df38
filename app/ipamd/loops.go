package ipamd

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/adapters/rpcserver"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// statsInterval is how often metrics are refreshed besides every ADD/DEL.
const statsInterval = 5 * time.Second

// loopsModule starts the background work once everything else is up, and
// then declares the node ready: the pool loop, the datapath repair loop,
// the orphaned-address pass, the metrics refresher.
var loopsModule = fx.Module("loops", fx.Invoke(registerLoops))

// startedAt is when the daemon was created, for the start-up metric.
type startedAt time.Time

type loopDeps struct {
	fx.In
	Lifecycle fx.Lifecycle
	Options   Options
	Service   *nodeipam.Service
	Datapath  *datapath
	Orphans   *orphans
	IPAM      *podIPAM
	RPC       *rpcserver.Server
	Metrics   *metrics.Metrics
	Publisher *statsPublisher
	Init      *initState
	Started   startedAt
	Log       *slog.Logger
}

func registerLoops(d loopDeps) {
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	d.Lifecycle.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			run := func(f func()) {
				wg.Add(1)
				go func() { defer wg.Done(); f() }()
			}
			run(func() { _ = d.Service.Run(ctx) })
			run(func() { d.Datapath.repairLoop(ctx, d.Service, d.Options.DatapathInterval) })
			run(func() { d.Orphans.loop(ctx) })
			run(func() {
				t := time.NewTicker(statsInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						d.Publisher.publish()
					}
				}
			})
			d.IPAM.ready.Store(true)
			d.Publisher.publish()
			d.RPC.Refresh()
			took := time.Since(time.Time(d.Started))
			d.Metrics.StartupDone(took, true, "")
			rep := d.Init.report()
			d.Log.Info("ipamd ready", "version", version.Get(), "startup_seconds", took.Seconds(),
				"instance", string(rep.Instance.ID), "type", rep.InstanceType.Name, "max_pods", rep.MaxPods,
				"enis", rep.ENIs, "restored_allocations", rep.Restored)
			return nil
		},
		OnStop: func(context.Context) error {
			// New requests get "initialising"/NOT_SERVING from here on.
			d.IPAM.ready.Store(false)
			d.RPC.Refresh()
			if cancel != nil {
				cancel()
			}
			wg.Wait()
			return nil
		},
	})
}
