package memory

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// request runs one EC2 operation the way a client experiences it: the call
// is counted, may be throttled, takes its latency (spent on the clock
// without holding the state lock), may hit an injected fault, and then fn
// runs under the state lock with the time after the latency.
func (c *Cloud) request(ctx context.Context, op string, fn func(now time.Time) *APIError) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ec2 %s: %w", op, err)
	}
	c.mu.Lock()
	c.calls[op]++
	if !c.throttle.take(c.clock.Now()) {
		e := c.stamp(op, fail(CodeRequestLimitExceeded, "Request limit exceeded."))
		c.mu.Unlock()
		return e
	}
	latency := c.latency[op]
	c.mu.Unlock()

	if err := c.clock.Sleep(ctx, latency); err != nil {
		return fmt.Errorf("ec2 %s: %w", op, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if code, ok := c.popFault(op); ok {
		return c.stamp(op, fail(code, "injected fault"))
	}
	if e := fn(c.clock.Now()); e != nil {
		return c.stamp(op, e)
	}
	return nil
}

// CreateENI creates an available ENI in the subnet and assigns the
// requested secondary addresses and prefixes in the same call; when the
// subnet cannot satisfy the whole request nothing is created.
func (c *Cloud) CreateENI(ctx context.Context, req ports.CreateENIRequest) (core.ENI, error) {
	var out core.ENI
	err := c.request(ctx, OpCreateNetworkInterface, func(now time.Time) *APIError {
		e, apiErr := c.createENILocked(req, netip.Addr{}, now)
		if apiErr != nil {
			return apiErr
		}
		out = c.eniView(e)
		return nil
	})
	return out, err
}

// AttachENI attaches an available ENI to a running instance in the same
// availability zone at a free device index of the network card, within the
// card's interface limit.
func (c *Cloud) AttachENI(ctx context.Context, id core.ENIID, instID core.InstanceID, device, card int) (string, error) {
	var attID string
	err := c.request(ctx, OpAttachNetworkInterface, func(now time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		inst, apiErr := c.runningInstance(instID)
		if apiErr != nil {
			return apiErr
		}
		if apiErr := c.checkAttach(e, inst, device, card); apiErr != nil {
			return apiErr
		}
		c.attachLocked(e, inst, device, card)
		c.touch(inst, now)
		attID = e.att.id
		return nil
	})
	return attID, err
}

// SetDeleteOnTermination sets the attachment's DeleteOnTermination flag.
func (c *Cloud) SetDeleteOnTermination(ctx context.Context, id core.ENIID, attachmentID string) error {
	return c.request(ctx, OpModifyNetworkInterfaceAttribute, func(time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		if e.att == nil || e.att.id != attachmentID {
			return attachmentNotFound(attachmentID)
		}
		e.att.deleteOnTermination = true
		return nil
	})
}

// DetachENI detaches an ENI by attachment id; it becomes available. The
// primary interface cannot be detached.
func (c *Cloud) DetachENI(ctx context.Context, attachmentID string, _ bool) error {
	return c.request(ctx, OpDetachNetworkInterface, func(now time.Time) *APIError {
		e, ok := c.attachments[attachmentID]
		if !ok {
			return attachmentNotFound(attachmentID)
		}
		inst := e.att.inst
		if e == inst.primary {
			return fail(CodeOperationNotPermitted, fmt.Sprintf("the primary interface %s of %s cannot be detached", e.id, inst.id))
		}
		c.detachLocked(e)
		c.touch(inst, now)
		return nil
	})
}

// DeleteENI deletes an available ENI and returns its addresses to the
// subnet.
func (c *Cloud) DeleteENI(ctx context.Context, id core.ENIID) error {
	return c.request(ctx, OpDeleteNetworkInterface, func(time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		if e.att != nil {
			return fail(CodeENIInUse, fmt.Sprintf("the interface %s is currently in use", id))
		}
		c.deleteLocked(e)
		return nil
	})
}

// AssignIPv4 adds secondary addresses and /28 prefixes, all or nothing.
// Each prefix counts as one address against the instance type's
// per-interface limit.
func (c *Cloud) AssignIPv4(ctx context.Context, id core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	var out ports.Assigned
	err := c.request(ctx, OpAssignPrivateIPAddresses, func(now time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		got, apiErr := c.assignV4Locked(e, ips, prefixes, now)
		out = got
		return apiErr
	})
	return out, err
}

// UnassignIPv4 removes secondary addresses and prefixes; every one of them
// must be on the ENI, else nothing changes.
func (c *Cloud) UnassignIPv4(ctx context.Context, id core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	return c.request(ctx, OpUnassignPrivateIPAddresses, func(now time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		return c.unassignV4Locked(e, ips, prefixes, now)
	})
}

// AssignIPv6Prefixes delegates /80 prefixes from the subnet's IPv6 /64.
func (c *Cloud) AssignIPv6Prefixes(ctx context.Context, id core.ENIID, n int) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := c.request(ctx, OpAssignIPv6Addresses, func(now time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		got, apiErr := c.assignV6Locked(e, n, now)
		out = got
		return apiErr
	})
	return out, err
}

// UnassignIPv6Prefixes removes /80 prefixes from the ENI.
func (c *Cloud) UnassignIPv6Prefixes(ctx context.Context, id core.ENIID, prefixes []netip.Prefix) error {
	return c.request(ctx, OpUnassignIPv6Addresses, func(now time.Time) *APIError {
		e, ok := c.enis[id]
		if !ok {
			return eniNotFound(id)
		}
		return c.unassignV6Locked(e, prefixes, now)
	})
}

// DescribeInstance reports a running or stopped instance with its attached
// ENIs in (card, device) order. Terminated instances are not found.
func (c *Cloud) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	var out core.Instance
	err := c.request(ctx, OpDescribeInstances, func(time.Time) *APIError {
		inst, ok := c.instances[id]
		if !ok || inst.state == InstanceTerminated {
			return instanceNotFound(id)
		}
		out = c.instanceView(inst)
		return nil
	})
	return out, err
}

// DescribeENIs lists ENIs matching the filter in creation order. Like EC2,
// naming an ENI id that does not exist fails the whole call.
func (c *Cloud) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	var out []core.ENI
	err := c.request(ctx, OpDescribeNetworkInterfaces, func(time.Time) *APIError {
		for _, id := range f.IDs {
			if _, ok := c.enis[id]; !ok {
				return eniNotFound(id)
			}
		}
		var match []*eni
		for _, e := range c.enis {
			if eniMatches(e, f) {
				match = append(match, e)
			}
		}
		slices.SortFunc(match, func(a, b *eni) int { return a.seq - b.seq })
		out = make([]core.ENI, 0, len(match))
		for _, e := range match {
			out = append(out, c.eniView(e))
		}
		return nil
	})
	return out, err
}

func eniMatches(e *eni, f ports.ENIFilter) bool {
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, e.id) {
		return false
	}
	if f.InstanceID != "" && (e.att == nil || e.att.inst.id != f.InstanceID) {
		return false
	}
	if f.VPCID != "" && e.subnet.info.VPCID != f.VPCID {
		return false
	}
	if f.Status != "" && e.status() != f.Status {
		return false
	}
	for _, k := range f.TagKeys {
		if _, ok := e.tags[k]; !ok {
			return false
		}
	}
	for k, v := range f.Tags {
		if got, ok := e.tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// DescribeSubnets lists subnets matching the filter in creation order, with
// their current count of free addresses. Naming a subnet id that does not
// exist fails the whole call.
func (c *Cloud) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	var out []core.Subnet
	err := c.request(ctx, OpDescribeSubnets, func(time.Time) *APIError {
		for _, id := range f.IDs {
			if _, ok := c.subnets[id]; !ok {
				return subnetNotFound(id)
			}
		}
		var match []*subnet
		for _, sn := range c.subnets {
			s := sn.info
			if (len(f.IDs) > 0 && !slices.Contains(f.IDs, s.ID)) ||
				(f.VPCID != "" && s.VPCID != f.VPCID) ||
				(f.AvailabilityZone != "" && s.AvailabilityZone != f.AvailabilityZone) {
				continue
			}
			match = append(match, sn)
		}
		slices.SortFunc(match, func(a, b *subnet) int { return a.seq - b.seq })
		out = make([]core.Subnet, 0, len(match))
		for _, sn := range match {
			out = append(out, c.subnetView(sn))
		}
		return nil
	})
	return out, err
}

// DescribeInstanceType reports an instance type's limits from the
// configured lookup.
func (c *Cloud) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	var out limits.InstanceType
	err := c.request(ctx, OpDescribeInstanceTypes, func(time.Time) *APIError {
		t, ok := c.lookupType(name)
		if !ok {
			return fail(CodeInvalidInstanceType, fmt.Sprintf("the following supplied instance types do not exist: [%s]", name))
		}
		if t.Name == "" {
			t.Name = name
		}
		t.NetworkCards = slices.Clone(t.NetworkCards)
		out = t
		return nil
	})
	return out, err
}

// CreateTags adds or overwrites tags on an ENI, a subnet or an instance.
func (c *Cloud) CreateTags(ctx context.Context, resourceID string, tags map[string]string) error {
	return c.request(ctx, OpCreateTags, func(time.Time) *APIError {
		if len(tags) == 0 {
			return fail(CodeMissingParameter, "the request must contain the parameter Tags")
		}
		if apiErr := validateTags(tags); apiErr != nil {
			return apiErr
		}
		var dst map[string]string
		if e, ok := c.enis[core.ENIID(resourceID)]; ok {
			dst = e.tags
		} else if sn, ok := c.subnets[core.SubnetID(resourceID)]; ok {
			if sn.info.Tags == nil {
				sn.info.Tags = map[string]string{}
			}
			dst = sn.info.Tags
		} else if inst, ok := c.instances[core.InstanceID(resourceID)]; ok && inst.state != InstanceTerminated {
			if inst.tags == nil {
				inst.tags = map[string]string{}
			}
			dst = inst.tags
		} else {
			switch {
			case strings.HasPrefix(resourceID, "eni-"):
				return eniNotFound(core.ENIID(resourceID))
			case strings.HasPrefix(resourceID, "subnet-"):
				return subnetNotFound(core.SubnetID(resourceID))
			case strings.HasPrefix(resourceID, "i-"):
				return instanceNotFound(core.InstanceID(resourceID))
			}
			return fail("InvalidID", fmt.Sprintf("the ID '%s' is not valid", resourceID))
		}
		maps.Copy(dst, tags)
		return nil
	})
}
