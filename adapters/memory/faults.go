package memory

import (
	"maps"
	"time"
)

type fault struct {
	code string
	// left is how many more calls fail; negative means every call.
	left int
}

// InjectError makes the next times calls of the EC2 operation op fail with
// the EC2 error code (after their latency, like a real error response).
// Several injections for one operation queue up in order. A negative times
// fails every call until ClearFaults.
func (c *Cloud) InjectError(op, code string, times int) {
	if times == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[op] = append(c.faults[op], fault{code: code, left: times})
}

// ClearFaults drops every injected fault.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.faults)
}

// popFault consumes the next injected fault of op.
func (c *Cloud) popFault(op string) (string, bool) {
	q := c.faults[op]
	if len(q) == 0 {
		return "", false
	}
	code := q[0].code
	if q[0].left > 0 {
		q[0].left--
		if q[0].left == 0 {
			q = q[1:]
		}
	}
	if len(q) == 0 {
		delete(c.faults, op)
	} else {
		c.faults[op] = q
	}
	return code, true
}

// SetLatency changes how long the EC2 operation op takes; zero removes it.
func (c *Cloud) SetLatency(op string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d <= 0 {
		delete(c.latency, op)
		return
	}
	c.latency[op] = d
}

// SetThrottle limits all EC2 operations together with a token bucket that
// holds burst tokens and refills at ratePerSecond on the simulator's clock.
// A call finding the bucket empty fails with RequestLimitExceeded (and is
// still counted). The bucket starts full. A rate or burst of zero or less
// turns throttling off.
func (c *Cloud) SetThrottle(ratePerSecond float64, burst int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ratePerSecond <= 0 || burst <= 0 {
		c.throttle = bucket{}
		return
	}
	c.throttle = bucket{
		on:     true,
		rate:   ratePerSecond,
		burst:  float64(burst),
		tokens: float64(burst),
		last:   c.clock.Now(),
	}
}

// bucket is a token bucket driven by the caller's clock.
type bucket struct {
	on     bool
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time) bool {
	if !b.on {
		return true
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Calls returns how many times each EC2 operation was called since the
// start or the last ResetCalls, failed and throttled calls included.
// Out-of-band helpers are not counted.
func (c *Cloud) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

// ResetCalls zeroes the call counters.
func (c *Cloud) ResetCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.calls)
}
