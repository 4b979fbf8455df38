package memory

import (
	"context"
	"github.com/vpc-cni/vpc-cni/adapters/clock"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	_ ports.Clock = RealClock{}
	_ ports.Clock = (*VirtualClock)(nil)
)

// RealClock is wall-clock time (adapters/clock.Real under its historical
// name here).
type RealClock = clock.Real

// VirtualClock is a settable clock for simulations. Sleep does not block: it
// moves virtual time forward by the requested duration, because in a
// single-threaded simulation sleeping simply means that time passes. It is
// safe for concurrent use.
type VirtualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewVirtualClock returns a clock that reads start until it is moved.
func NewVirtualClock(start time.Time) *VirtualClock {
	return &VirtualClock{now: start}
}

// Now returns the virtual time.
func (c *VirtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (backwards too).
func (c *VirtualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d and returns the new time. Negative
// durations are ignored.
func (c *VirtualClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return c.now
}

// Sleep advances the clock by d and returns immediately. When ctx has
// already ended it returns ctx.Err() and leaves the clock alone.
func (c *VirtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
