package ipamd

import (
	"context"
	"log/slog"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/introspection"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// introspectionModule serves the debugging endpoint unless
// DISABLE_INTROSPECTION; the server is nil when disabled.
var introspectionModule = fx.Module("introspection",
	fx.Provide(newIntrospection),
	fx.Invoke(registerIntrospection),
)

func newIntrospection(env config.Env, svc *nodeipam.Service, ckpt *recordingCheckpoint, log *slog.Logger) (*introspection.Server, error) {
	if env.DisableIntrospection {
		return nil, nil
	}
	src := introspection.StateFunc(func() introspection.State {
		return introspection.State{ENIs: svc.ENIs(), Assignments: svc.Assignments(), Cooldowns: ckpt.Cooldowns()}
	})
	return introspection.New(introspection.Config{
		Address:         env.IntrospectionBindAddress,
		NetworkSettings: env.NetworkSettings(),
		IPAMDSettings:   env.IPAMDSettings(),
		// No Kubernetes client yet: /v1/eni-configs answers 404.
		Log: log.With("component", "introspection"),
	}, src)
}

func registerIntrospection(lc fx.Lifecycle, srv *introspection.Server) {
	if srv == nil {
		return
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { return srv.Start() },
		OnStop:  srv.Stop,
	})
}
