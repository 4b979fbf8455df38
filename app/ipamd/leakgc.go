package ipamd

import (
	"context"
	"log/slog"
	"sync"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/service/leakgc"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// leakGCModule runs the cluster-wide leaked-ENI collector (mark on one
// pass, delete on a later one, hourly, a bounded number per pass). The node
// service separately deletes this instance's own detached ENIs right after
// a restart, which is when a crash leaves them behind.
var leakGCModule = fx.Module("leakgc", fx.Invoke(registerLeakGC))

// leakGCEnabled says whether the collector runs: not when the operator
// turned it off, not when ipamd may not call mutating EC2 APIs, not in IPv6
// mode (as upstream), and not against the in-process memory cloud, which
// has no other node to clean up after.
func leakGCEnabled(o Options, env config.Env) bool {
	return !env.DisableLeakedENICleanup && !env.DisableNetworkResourceProvisioning && !env.EnableIMDSOnlyMode &&
		!env.EnableIPv6 && o.Cloud != CloudMemory
}

func registerLeakGC(lc fx.Lifecycle, o Options, env config.Env, c Cloud, svc *nodeipam.Service, log *slog.Logger) {
	if !leakGCEnabled(o, env) {
		log.Info("leaked ENI cleanup disabled")
		return
	}
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			inst := svc.Instance()
			gc, err := leakgc.New(leakgc.Config{ClusterName: env.ClusterName, VPCID: inst.VPCID},
				leakgc.Deps{Cloud: c.Cloud, Clock: c.Clock, Log: log.With("component", "leakgc")})
			if err != nil {
				return err
			}
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			wg.Add(1)
			go func() { defer wg.Done(); _ = gc.Run(ctx) }()
			return nil
		},
		OnStop: func(context.Context) error {
			if cancel != nil {
				cancel()
			}
			wg.Wait()
			return nil
		},
	})
}
