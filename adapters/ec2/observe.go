package ec2

import (
	"context"
	"net/netip"
	"time"

	wallclock "github.com/vpc-cni/vpc-cni/adapters/clock"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Observer is told about every cloud call: the EC2 operation it stands for
// (OpAttachNetworkInterface, ...), how long it took and how it ended.
type Observer interface {
	ObserveCall(op string, d time.Duration, err error)
}

// Observed is a ports.Cloud decorator reporting each call to an Observer.
// A port call is reported under the EC2 operation it is named after;
// DescribeInstance, which also reads subnets and the VPC, is one
// DescribeInstances observation.
type Observed struct {
	next  ports.Cloud
	obs   Observer
	clock ports.Clock
}

var _ ports.Cloud = (*Observed)(nil)

// NewObserved wraps next. clock nil is the wall clock.
func NewObserved(next ports.Cloud, obs Observer, clock ports.Clock) *Observed {
	if clock == nil {
		clock = wallclock.Real{}
	}
	return &Observed{next: next, obs: obs, clock: clock}
}

func (o *Observed) done(op string, start time.Time, err error) {
	o.obs.ObserveCall(op, o.clock.Now().Sub(start), err)
}

func (o *Observed) CreateENI(ctx context.Context, req ports.CreateENIRequest) (core.ENI, error) {
	start := o.clock.Now()
	e, err := o.next.CreateENI(ctx, req)
	o.done(OpCreateNetworkInterface, start, err)
	return e, err
}

func (o *Observed) AttachENI(ctx context.Context, eni core.ENIID, instance core.InstanceID, device, card int) (string, error) {
	start := o.clock.Now()
	id, err := o.next.AttachENI(ctx, eni, instance, device, card)
	o.done(OpAttachNetworkInterface, start, err)
	return id, err
}

func (o *Observed) SetDeleteOnTermination(ctx context.Context, eni core.ENIID, attachmentID string) error {
	start := o.clock.Now()
	err := o.next.SetDeleteOnTermination(ctx, eni, attachmentID)
	o.done(OpModifyNetworkInterfaceAttribute, start, err)
	return err
}

func (o *Observed) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	start := o.clock.Now()
	err := o.next.DetachENI(ctx, attachmentID, force)
	o.done(OpDetachNetworkInterface, start, err)
	return err
}

func (o *Observed) DeleteENI(ctx context.Context, eni core.ENIID) error {
	start := o.clock.Now()
	err := o.next.DeleteENI(ctx, eni)
	o.done(OpDeleteNetworkInterface, start, err)
	return err
}

func (o *Observed) AssignIPv4(ctx context.Context, eni core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	start := o.clock.Now()
	a, err := o.next.AssignIPv4(ctx, eni, ips, prefixes)
	o.done(OpAssignPrivateIPAddresses, start, err)
	return a, err
}

func (o *Observed) UnassignIPv4(ctx context.Context, eni core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	start := o.clock.Now()
	err := o.next.UnassignIPv4(ctx, eni, ips, prefixes)
	o.done(OpUnassignPrivateIPAddresses, start, err)
	return err
}

func (o *Observed) AssignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes int) ([]netip.Prefix, error) {
	start := o.clock.Now()
	p, err := o.next.AssignIPv6Prefixes(ctx, eni, prefixes)
	o.done(OpAssignIPv6Addresses, start, err)
	return p, err
}

func (o *Observed) UnassignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes []netip.Prefix) error {
	start := o.clock.Now()
	err := o.next.UnassignIPv6Prefixes(ctx, eni, prefixes)
	o.done(OpUnassignIPv6Addresses, start, err)
	return err
}

func (o *Observed) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	start := o.clock.Now()
	inst, err := o.next.DescribeInstance(ctx, id)
	o.done(OpDescribeInstances, start, err)
	return inst, err
}

func (o *Observed) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	start := o.clock.Now()
	enis, err := o.next.DescribeENIs(ctx, f)
	o.done(OpDescribeNetworkInterfaces, start, err)
	return enis, err
}

func (o *Observed) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	start := o.clock.Now()
	s, err := o.next.DescribeSubnets(ctx, f)
	o.done(OpDescribeSubnets, start, err)
	return s, err
}

func (o *Observed) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	start := o.clock.Now()
	t, err := o.next.DescribeInstanceType(ctx, name)
	o.done(OpDescribeInstanceTypes, start, err)
	return t, err
}

func (o *Observed) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	start := o.clock.Now()
	err := o.next.CreateTags(ctx, resourceID, tags)
	o.done(OpCreateTags, start, err)
	return err
}

// Stack wraps a cloud in the decorators the agent runs with, outermost
// first: the Coalescer (identical concurrent describes become one call,
// which then costs one token), the Limiter (cfg.QPS and cfg.Burst; none
// when cfg.QPS < 0) and, next to the cloud, Observed (when obs is not nil),
// so measured latency is the cloud's and not time spent waiting for a
// token.
func Stack(next ports.Cloud, cfg Config, obs Observer) (ports.Cloud, error) {
	cfg = cfg.withDefaults()
	c := next
	if obs != nil {
		c = NewObserved(c, obs, nil)
	}
	if cfg.QPS > 0 {
		l, err := NewLimiter(c, cfg.QPS, cfg.Burst, nil)
		if err != nil {
			return nil, err
		}
		c = l
	}
	return NewCoalescer(c), nil
}
