package ports

import (
	"context"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Clock is the service's only source of time, so tests and the simulator
// can run on virtual time.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or returns ctx.Err() when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// Checkpoint persists the datastore snapshot. Save must be durable when it
// returns (written, synced, renamed into place). Load returns an empty
// snapshot and no error when nothing was saved yet, and an error wrapping
// core.ErrCorruptCheckpoint when the stored data cannot be decoded.
type Checkpoint interface {
	Load(ctx context.Context) (core.Snapshot, error)
	Save(ctx context.Context, s core.Snapshot) error
}
