package ipamd

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/metrics"
	"github.com/vpc-cni/vpc-cni/adapters/rpcserver"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// grpcModule serves the CNI plugin on the unix socket. It starts first, so
// health probes get NOT_SERVING (rather than no socket) while the node
// initialises.
var grpcModule = fx.Module("grpc",
	fx.Provide(newRPCServer),
	fx.Invoke(registerRPCServer),
)

func newRPCServer(o Options, env config.Env, ipam *podIPAM, svc *nodeipam.Service, m *metrics.Metrics, log *slog.Logger) (*rpcserver.Server, error) {
	return rpcserver.New(rpcserver.Config{
		Socket:            o.Socket,
		Version:           version.Get(),
		ExternalSNAT:      env.ExternalSNAT,
		ExcludeSNATCIDRs:  env.ExcludeSNATCIDRs,
		NetworkPolicyMode: string(env.NetworkPolicyEnforcingMode),
		NodeInfo: func() rpcserver.NodeInfo {
			inst := svc.Instance()
			return rpcserver.NodeInfo{InstanceID: inst.ID, Region: inst.Region, IPv4: inst.PrimaryIP, MultiNICEnabled: env.EnableMultiNIC}
		},
		Observer: m,
		Log:      log.With("component", "grpc"),
	}, ipam)
}

func registerRPCServer(lc fx.Lifecycle, srv *rpcserver.Server) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return srv.Start() },
		OnStop:  srv.Stop,
	})
}
