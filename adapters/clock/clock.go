// Package clock is the wall-clock implementation of ports.Clock, shared by
// every adapter that needs real time. Simulations use memory.VirtualClock.
package clock

import (
	"context"
	"time"

	"github.com/vpc-cni/vpc-cni/ports"
)

// Real is wall-clock time.
type Real struct{}

var _ ports.Clock = Real{}

// Now returns the current wall-clock time.
func (Real) Now() time.Time { return time.Now() }

// Sleep blocks for d or until ctx ends, and returns ctx.Err() in that case.
func (Real) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
