package ipamd

import (
	"context"
	"sync"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/checkpoint"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var checkpointModule = fx.Module("checkpoint", fx.Provide(newCheckpoint))

// recordingCheckpoint keeps the last snapshot saved or loaded, so
// introspection can show release times (the service keeps them only in
// the datastore and the checkpoint).
type recordingCheckpoint struct {
	next ports.Checkpoint

	mu   sync.Mutex
	last core.Snapshot
}

var _ ports.Checkpoint = (*recordingCheckpoint)(nil)

// newCheckpoint opens AWS_VPC_K8S_CNI_BACKING_STORE.
func newCheckpoint(env config.Env) (*recordingCheckpoint, error) {
	f, err := checkpoint.New(checkpoint.Config{Path: env.BackingStore})
	if err != nil {
		return nil, err
	}
	return &recordingCheckpoint{next: f}, nil
}

func (c *recordingCheckpoint) Load(ctx context.Context) (core.Snapshot, error) {
	s, err := c.next.Load(ctx)
	if err == nil {
		c.mu.Lock()
		c.last = s
		c.mu.Unlock()
	}
	return s, err
}

func (c *recordingCheckpoint) Save(ctx context.Context, s core.Snapshot) error {
	if err := c.next.Save(ctx, s); err != nil {
		return err
	}
	c.mu.Lock()
	c.last = s
	c.mu.Unlock()
	return nil
}

// Cooldowns returns the release times of the last snapshot.
func (c *recordingCheckpoint) Cooldowns() []core.Cooldown {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]core.Cooldown(nil), c.last.Cooldowns...)
}
