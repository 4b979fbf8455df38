package ec2

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// flight is one describe call in progress, shared by every caller that
// asked the same question while it ran.
type flight struct {
	done   chan struct{}
	val    any
	err    error
	cancel context.CancelFunc
	refs   int // callers still waiting
	joined int // callers that joined in total, the first included
}

// flightGroup runs one call per key at a time. Unlike a plain singleflight,
// the shared call does not run on the first caller's context: it keeps the
// first caller's values but is cancelled only when every caller waiting for
// it has given up, so one impatient caller cannot fail the others.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f := g.m[key]
	if f == nil {
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		g.m[key] = f
		go func() {
			val, err := fn(sctx)
			g.mu.Lock()
			f.val, f.err = val, err
			if g.m[key] == f {
				delete(g.m, key)
			}
			g.mu.Unlock()
			cancel()
			close(f.done)
		}()
	}
	f.refs++
	f.joined++
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.refs--
		if f.refs == 0 {
			f.cancel()
			if g.m[key] == f {
				delete(g.m, key) // later callers start afresh
			}
		}
		g.mu.Unlock()
		return nil, ctx.Err()
	}
}

// joined reports how many callers share the call in flight for key.
func (g *flightGroup) joined(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f := g.m[key]; f != nil {
		return f.joined
	}
	return 0
}

// Coalescer is a ports.Cloud decorator that merges identical describe
// calls made while one is already in flight (same operation, same filter)
// into a single upstream request; each caller gets its own copy of the
// answer. Mutating calls pass straight through. A node's pool loop,
// reconcile and leak cleanup often ask the same question at the same time;
// this keeps them from multiplying the request rate.
type Coalescer struct {
	next  ports.Cloud
	group flightGroup
}

var _ ports.Cloud = (*Coalescer)(nil)

// NewCoalescer wraps next.
func NewCoalescer(next ports.Cloud) *Coalescer { return &Coalescer{next: next} }

func (c *Coalescer) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	v, err := c.group.do(ctx, OpDescribeInstances+"|"+strconv.Quote(string(id)), func(ctx context.Context) (any, error) {
		return c.next.DescribeInstance(ctx, id)
	})
	if v == nil {
		return core.Instance{}, err
	}
	return cloneInstance(v.(core.Instance)), err
}

func (c *Coalescer) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	v, err := c.group.do(ctx, eniFilterKey(f), func(ctx context.Context) (any, error) {
		return c.next.DescribeENIs(ctx, f)
	})
	if v == nil {
		return nil, err
	}
	return cloneENIs(v.([]core.ENI)), err
}

func (c *Coalescer) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	v, err := c.group.do(ctx, subnetFilterKey(f), func(ctx context.Context) (any, error) {
		return c.next.DescribeSubnets(ctx, f)
	})
	if v == nil {
		return nil, err
	}
	in := v.([]core.Subnet)
	if in == nil {
		return nil, err
	}
	out := make([]core.Subnet, len(in))
	for i, s := range in {
		s.Tags = maps.Clone(s.Tags)
		out[i] = s
	}
	return out, err
}

func (c *Coalescer) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	v, err := c.group.do(ctx, OpDescribeInstanceTypes+"|"+strconv.Quote(name), func(ctx context.Context) (any, error) {
		return c.next.DescribeInstanceType(ctx, name)
	})
	if v == nil {
		return limits.InstanceType{}, err
	}
	t := v.(limits.InstanceType)
	t.NetworkCards = slices.Clone(t.NetworkCards)
	return t, err
}

func (c *Coalescer) CreateENI(ctx context.Context, req ports.CreateENIRequest) (core.ENI, error) {
	return c.next.CreateENI(ctx, req)
}

func (c *Coalescer) AttachENI(ctx context.Context, eni core.ENIID, instance core.InstanceID, device, card int) (string, error) {
	return c.next.AttachENI(ctx, eni, instance, device, card)
}

func (c *Coalescer) SetDeleteOnTermination(ctx context.Context, eni core.ENIID, attachmentID string) error {
	return c.next.SetDeleteOnTermination(ctx, eni, attachmentID)
}

func (c *Coalescer) DetachENI(ctx context.Context, attachmentID string, force bool) error {
	return c.next.DetachENI(ctx, attachmentID, force)
}

func (c *Coalescer) DeleteENI(ctx context.Context, eni core.ENIID) error {
	return c.next.DeleteENI(ctx, eni)
}

func (c *Coalescer) AssignIPv4(ctx context.Context, eni core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	return c.next.AssignIPv4(ctx, eni, ips, prefixes)
}

func (c *Coalescer) UnassignIPv4(ctx context.Context, eni core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	return c.next.UnassignIPv4(ctx, eni, ips, prefixes)
}

func (c *Coalescer) AssignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes int) ([]netip.Prefix, error) {
	return c.next.AssignIPv6Prefixes(ctx, eni, prefixes)
}

func (c *Coalescer) UnassignIPv6Prefixes(ctx context.Context, eni core.ENIID, prefixes []netip.Prefix) error {
	return c.next.UnassignIPv6Prefixes(ctx, eni, prefixes)
}

func (c *Coalescer) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	return c.next.CreateTags(ctx, resourceID, tags)
}

// eniFilterKey renders a filter canonically: two filters that select the
// same ENIs in any field order give the same key.
func eniFilterKey(f ports.ENIFilter) string {
	var b strings.Builder
	b.WriteString(OpDescribeNetworkInterfaces)
	ids := make([]string, len(f.IDs))
	for i, id := range f.IDs {
		ids[i] = string(id)
	}
	writeList(&b, "ids", ids)
	writeList(&b, "instance", []string{string(f.InstanceID)})
	writeList(&b, "vpc", []string{f.VPCID})
	writeList(&b, "status", []string{f.Status})
	writeList(&b, "tagkeys", slices.Clone(f.TagKeys))
	tags := make([]string, 0, len(f.Tags))
	for k, v := range f.Tags {
		tags = append(tags, strconv.Quote(k)+"="+strconv.Quote(v))
	}
	writeList(&b, "tags", tags)
	return b.String()
}

func subnetFilterKey(f ports.SubnetFilter) string {
	var b strings.Builder
	b.WriteString(OpDescribeSubnets)
	ids := make([]string, len(f.IDs))
	for i, id := range f.IDs {
		ids[i] = string(id)
	}
	writeList(&b, "ids", ids)
	writeList(&b, "vpc", []string{f.VPCID})
	writeList(&b, "az", []string{f.AvailabilityZone})
	return b.String()
}

func writeList(b *strings.Builder, name string, vals []string) {
	slices.Sort(vals)
	vals = slices.Compact(vals)
	b.WriteString("|" + name + "=")
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(v))
	}
}

func cloneENI(e core.ENI) core.ENI {
	e.SecondaryIPs = slices.Clone(e.SecondaryIPs)
	e.IPv4Prefixes = slices.Clone(e.IPv4Prefixes)
	e.IPv6Prefixes = slices.Clone(e.IPv6Prefixes)
	e.SecurityGroups = slices.Clone(e.SecurityGroups)
	e.Tags = maps.Clone(e.Tags)
	return e
}

func cloneENIs(in []core.ENI) []core.ENI {
	if in == nil {
		return nil
	}
	out := make([]core.ENI, len(in))
	for i, e := range in {
		out[i] = cloneENI(e)
	}
	return out
}

func cloneInstance(in core.Instance) core.Instance {
	in.VPCCIDRs = slices.Clone(in.VPCCIDRs)
	in.VPCIPv6CIDRs = slices.Clone(in.VPCIPv6CIDRs)
	in.SecurityGroups = slices.Clone(in.SecurityGroups)
	in.ENIs = cloneENIs(in.ENIs)
	return in
}
