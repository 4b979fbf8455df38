package ipamd

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// nodeModule builds the node IPAM service and initialises it at start:
// instance discovery, limits, ENIs, checkpoint restore.
var nodeModule = fx.Module("node",
	fx.Provide(newNodeService, newPodIPAM),
	fx.Invoke(registerNodeInit),
)

func newNodeService(env config.Env, c Cloud, ckpt *recordingCheckpoint, dp *datapath, log *slog.Logger) (*nodeipam.Service, error) {
	svc, err := nodeipam.New(env.NodeIPAM(), nodeipam.Deps{
		Cloud:      c.Cloud,
		Metadata:   c.Metadata,
		Clock:      c.Clock,
		Checkpoint: ckpt,
		Log:        log.With("component", "nodeipam"),
		OnENIReady: dp.onENIReady,
	})
	if err != nil {
		return nil, fmt.Errorf("build node IPAM service: %w", err)
	}
	return svc, nil
}

// initState is what Init reported, for the modules that start after it.
type initState struct {
	mu  sync.Mutex
	rep nodeipam.InitReport
	at  time.Time
}

func (s *initState) report() nodeipam.InitReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rep
}

func registerNodeInit(lc fx.Lifecycle, svc *nodeipam.Service, st *initState, log *slog.Logger) {
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
		rep, err := svc.Init(ctx)
		if err != nil {
			return fmt.Errorf("initialise node IPAM: %w", err)
		}
		if rep.CheckpointError != nil {
			log.Warn("checkpoint could not be read; pods started before this restart keep running but are unknown to ipamd",
				"error", rep.CheckpointError)
		}
		st.mu.Lock()
		st.rep, st.at = rep, time.Now()
		st.mu.Unlock()
		return nil
	}})
}
