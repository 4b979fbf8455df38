// Package lazyctx provides a context with a deadline whose timer starts
// only when something waits for the context.
//
// context.WithDeadline starts a runtime timer at once. A live timer keeps
// one idle thread of the Go scheduler blocked in epoll instead of asleep,
// and epoll wakes it for every event on every descriptor the runtime
// polls, netlink sockets included: in the CNI plugin, whose command
// context lives through the whole ADD, that was about 15 wake-ups of the
// other core per pod while the plugin talked to the kernel, 0.04–0.08 ms
// of ADD latency on a 2-core node (docs/local.md). Most users of such a
// context only ask for its deadline and its Err, which need no timer: the
// plugin's netlink calls check Err, and the ipamd client puts the deadline
// on its socket only when a read would block, so the timer starts only if
// the plugin has to wait for ipamd's reply.
package lazyctx

import (
	"context"
	"sync"
	"time"
)

// lazy is a context that ends at deadline, when cancelled, or when its
// parent ends. Until Done or Value is called it holds no timer: Err reads
// the clock. The first Done or Value call makes the equivalent
// context.WithDeadline context, and everything is answered by it from
// then on.
type lazy struct {
	parent   context.Context
	deadline time.Time

	mu    sync.Mutex
	armed context.Context    // nil until the first Done or Value
	stop  context.CancelFunc // armed's cancel
	err   error              // the outcome seen while unarmed; never reset
}

// WithDeadline is context.WithDeadline with the timer started lazily (see
// the package comment). The deadline is the earlier of d and the parent's.
// As with context.WithDeadline, call cancel when the work is done.
func WithDeadline(parent context.Context, d time.Time) (ctx context.Context, cancel context.CancelFunc) {
	if pd, ok := parent.Deadline(); ok && pd.Before(d) {
		d = pd
	}
	c := &lazy{parent: parent, deadline: d}
	return c, c.cancel
}

// WithTimeout is WithDeadline(parent, time.Now().Add(timeout)).
func WithTimeout(parent context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return WithDeadline(parent, time.Now().Add(timeout))
}

// Lazy reports whether ctx is a context of this package that has not
// started its timer (nothing waited on it yet). It exists for tests and
// diagnostics.
func Lazy(ctx context.Context) bool {
	c, ok := ctx.(*lazy)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed == nil
}

func (c *lazy) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *lazy) Done() <-chan struct{} { return c.arm().Done() }

// Value starts the timer too: the context package finds the cancellation
// state of a context through Value (context.Cause, and contexts derived
// from this one), and that state must be the timer-backed one.
func (c *lazy) Value(key any) any { return c.arm().Value(key) }

func (c *lazy) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed != nil {
		return c.armed.Err()
	}
	if c.err == nil {
		c.err = c.ended()
	}
	return c.err
}

// ended is the outcome an unarmed context has reached by itself: its
// parent's error, or DeadlineExceeded once the clock passed the deadline;
// nil while it runs. Call with c.mu held.
func (c *lazy) ended() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *lazy) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed != nil {
		c.stop()
		return
	}
	if c.err == nil {
		if c.err = c.ended(); c.err == nil {
			c.err = context.Canceled
		}
	}
}

// arm makes the timer-backed context, ended already with the outcome seen
// so far, if any.
func (c *lazy) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed, c.stop = context.WithDeadline(c.parent, c.deadline)
		if c.err == context.Canceled {
			c.stop()
		}
		// A deadline already passed ends armed by itself, and a parent's
		// error is the parent's to report.
	}
	return c.armed
}

func (c *lazy) String() string {
	return "lazyctx.WithDeadline(" + c.deadline.String() + ")"
}
