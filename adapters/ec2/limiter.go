package ec2

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	wallclock "github.com/vpc-cni/vpc-cni/adapters/clock"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// tokenBucket holds up to burst tokens and refills qps tokens per second.
// A caller takes a token at once, going into debt when none is left, and
// then sleeps until its debt is paid; so concurrent callers queue in
// arrival order without holding the lock while they wait.
type tokenBucket struct {
	clock ports.Clock
	qps   float64
	burst float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newTokenBucket(qps float64, burst int, clock ports.Clock) *tokenBucket {
	if burst < 1 {
		burst = 1
	}
	return &tokenBucket{clock: clock, qps: qps, burst: float64(burst), tokens: float64(burst), last: clock.Now()}
}

// take reserves a token and returns how long to wait for it.
func (b *tokenBucket) take() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed.Seconds()*b.qps)
		b.last = now
	}
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.qps * float64(time.Second))
}

// giveBack returns a token whose wait was abandoned.
func (b *tokenBucket) giveBack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+1)
}

// wait blocks until a token is available or ctx ends.
func (b *tokenBucket) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d := b.take()
	if d <= 0 {
		return nil
	}
	if err := b.clock.Sleep(ctx, d); err != nil {
		b.giveBack()
		return err
	}
	return nil
}

// Limiter is a ports.Cloud decorator that lets at most QPS calls per second
// (with bursts of Burst) through to the wrapped cloud, process-wide. A call
// without a token waits for one, or fails with the context's error when the
// context ends first. Every port call costs one token, whatever it costs
// upstream.
type Limiter struct {
	next   ports.Cloud
	bucket *tokenBucket
}

var _ ports.Cloud = (*Limiter)(nil)

// NewLimiter wraps next. qps must be positive; burst < 1 means 1. clock nil
// is the wall clock.
func NewLimiter(next ports.Cloud, qps float64, burst int, clock ports.Clock) (*Limiter, error) {
	if qps <= 0 {
		return nil, fmt.Errorf("ec2 limiter: rate %v must be positive: %w", qps, core.ErrInvalidParameter)
	}
	if clock == nil {
		clock = wallclock.Real{}
	}
	return &Limiter{next: next, bucket: newTokenBucket(qps, burst, clock)}, nil
}

func (l *Limiter) wait(ctx context.Context, op string) error {
	if err := l.bucket.wait(ctx); err != nil {
		return fmt.Errorf("ec2 %s: wait for rate limiter: %w", op, err)
	}
	return nil
}

func (l *Limiter) CreateENI(ctx context.Context, req ports.CreateENIRequest) (core.ENI, error) {
	if err := l.wait(ctx, OpCreateNetworkInterface); err != nil {
		return core.ENI{}, err
	}
	return l.next.CreateENI(ctx, req)
}

func (l *Limiter) AttachENI(ctx context.Context, eni core.ENIID, instance core.InstanceID, device, card int) (string, error) {
	if err := l.wait(ctx, OpAttachNetworkInterface); err != nil {
		return "", err
	}
	return l.next.AttachENI(ctx, eni, instance, device, card)
}

func (l *Limiter) SetDeleteOnTermination(ctx context.Context, eni core.ENIID, attachmentID string) error {
	if err := l.wait(ctx, OpModifyNetworkInterfaceAttribute); err != nil {
		return err
	}
	return l.next.SetDeleteOnTermination(ctx, eni, attachmentID)
}

func (l *Limiter) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	if err := l.wait(ctx, OpDetachNetworkInterface); err != nil {
		return err
	}
	return l.next.DetachENI(ctx, attachmentID, force)
}

func (l *Limiter) DeleteENI(ctx context.Context, eni core.ENIID) error {
	if err := l.wait(ctx, OpDeleteNetworkInterface); err != nil {
		return err
	}
	return l.next.DeleteENI(ctx, eni)
}

func (l *Limiter) AssignIPv4(ctx context.Context, eni core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	if err := l.wait(ctx, OpAssignPrivateIPAddresses); err != nil {
		return ports.Assigned{}, err
	}
	return l.next.AssignIPv4(ctx, eni, ips, prefixes)
}

func (l *Limiter) UnassignIPv4(ctx context.Context, eni core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	if err := l.wait(ctx, OpUnassignPrivateIPAddresses); err != nil {
		return err
	}
	return l.next.UnassignIPv4(ctx, eni, ips, prefixes)
}

func (l *Limiter) AssignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes int) ([]netip.Prefix, error) {
	if err := l.wait(ctx, OpAssignIPv6Addresses); err != nil {
		return nil, err
	}
	return l.next.AssignIPv6Prefixes(ctx, eni, prefixes)
}

func (l *Limiter) UnassignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes []netip.Prefix) error {
	if err := l.wait(ctx, OpUnassignIPv6Addresses); err != nil {
		return err
	}
	return l.next.UnassignIPv6Prefixes(ctx, eni, prefixes)
}

func (l *Limiter) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	if err := l.wait(ctx, OpDescribeInstances); err != nil {
		return core.Instance{}, err
	}
	return l.next.DescribeInstance(ctx, id)
}

func (l *Limiter) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	if err := l.wait(ctx, OpDescribeNetworkInterfaces); err != nil {
		return nil, err
	}
	return l.next.DescribeENIs(ctx, f)
}

func (l *Limiter) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	if err := l.wait(ctx, OpDescribeSubnets); err != nil {
		return nil, err
	}
	return l.next.DescribeSubnets(ctx, f)
}

func (l *Limiter) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	if err := l.wait(ctx, OpDescribeInstanceTypes); err != nil {
		return limits.InstanceType{}, err
	}
	return l.next.DescribeInstanceType(ctx, name)
}

func (l *Limiter) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	if err := l.wait(ctx, OpCreateTags); err != nil {
		return err
	}
	return l.next.CreateTags(ctx, resourceID, tags)
}
