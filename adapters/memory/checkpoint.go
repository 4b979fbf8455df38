package memory

import (
	"context"
	"sync"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Checkpoint keeps the datastore snapshot in memory. It deep-copies on Save
// and Load, like a file would, and can be told to fail, to test what the
// service does when the checkpoint is not durable.
type Checkpoint struct {
	mu      sync.Mutex
	snap    core.Snapshot
	saves   int
	failErr error
}

var _ ports.Checkpoint = (*Checkpoint)(nil)

// NewCheckpoint returns an empty in-memory checkpoint.
func NewCheckpoint() *Checkpoint { return &Checkpoint{} }

// Load returns a copy of the last saved snapshot.
func (c *Checkpoint) Load(context.Context) (core.Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return copySnapshot(c.snap), nil
}

// Save stores a copy of s, or fails with the error set by FailSaves.
func (c *Checkpoint) Save(_ context.Context, s core.Snapshot) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failErr != nil {
		return c.failErr
	}
	c.snap = copySnapshot(s)
	c.saves++
	return nil
}

// FailSaves makes every later Save return err (nil to stop failing).
func (c *Checkpoint) FailSaves(err error) {
	c.mu.Lock()
	c.failErr = err
	c.mu.Unlock()
}

// Saves counts successful saves.
func (c *Checkpoint) Saves() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.saves
}

func copySnapshot(s core.Snapshot) core.Snapshot {
	return core.Snapshot{
		Allocations: append([]core.Allocation(nil), s.Allocations...),
		Cooldowns:   append([]core.Cooldown(nil), s.Cooldowns...),
	}
}
