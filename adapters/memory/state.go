package memory

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// This file holds the state transitions shared by the EC2 operations and
// the out-of-band helpers. Every function here runs with c.mu held.

func eniNotFound(id core.ENIID) *APIError {
	return fail(CodeENINotFound, fmt.Sprintf("the networkInterface ID '%s' does not exist", id))
}

func subnetNotFound(id core.SubnetID) *APIError {
	return fail(CodeSubnetNotFound, fmt.Sprintf("the subnet ID '%s' does not exist", id))
}

func instanceNotFound(id core.InstanceID) *APIError {
	return fail(CodeInstanceNotFound, fmt.Sprintf("the instance ID '%s' does not exist", id))
}

func attachmentNotFound(id string) *APIError {
	return fail(CodeAttachmentNotFound, fmt.Sprintf("the attachment ID '%s' does not exist", id))
}

// validateTags rejects what EC2 rejects: empty keys, over-long keys or
// values and the reserved "aws:" prefix.
func validateTags(tags map[string]string) *APIError {
	for k, v := range tags {
		switch {
		case k == "":
			return fail(CodeInvalidParameterValue, "tag key must not be empty")
		case len(k) > 128:
			return fail(CodeInvalidParameterValue, fmt.Sprintf("tag key %q is longer than 128 characters", k))
		case len(v) > 256:
			return fail(CodeInvalidParameterValue, fmt.Sprintf("value of tag %q is longer than 256 characters", k))
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			return fail(CodeInvalidParameterValue, fmt.Sprintf("tag key %q uses the reserved prefix aws:", k))
		}
	}
	return nil
}

// ipv4Limit is how many IPv4 addresses (the primary included, each /28
// counting as one) the ENI may hold where it is now.
func (c *Cloud) ipv4Limit(e *eni) int {
	if e.att != nil && e.att.inst.typ.IPv4PerENI > 0 {
		return e.att.inst.typ.IPv4PerENI
	}
	return c.cfg.UnattachedAddressLimit
}

// ipv6Limit is how many IPv6 prefixes the ENI may hold where it is now.
func (c *Cloud) ipv6Limit(e *eni) int {
	if e.att != nil && e.att.inst.typ.IPv6PerENI > 0 {
		return e.att.inst.typ.IPv6PerENI
	}
	return c.cfg.UnattachedAddressLimit
}

func (e *eni) ipv4Count() int { return 1 + len(e.secondary) + len(e.prefixes) }

// noPrefixDelegation reports whether the ENI sits on a Xen instance (not
// bare metal), where EC2 refuses /28 prefixes.
func noPrefixDelegation(e *eni) bool {
	return e.att != nil && e.att.inst.typ.Hypervisor == "xen" && !e.att.inst.typ.BareMetal
}

// createENILocked creates an available ENI with its primary address (the
// given one when valid, else the lowest free) and the requested secondary
// addresses and prefixes, all or nothing.
func (c *Cloud) createENILocked(req ports.CreateENIRequest, primary netip.Addr, now time.Time) (*eni, *APIError) {
	if req.SubnetID == "" {
		return nil, fail(CodeMissingParameter, "the request must contain the parameter subnetId")
	}
	sn, ok := c.subnets[req.SubnetID]
	if !ok {
		return nil, subnetNotFound(req.SubnetID)
	}
	if req.SecondaryIPs < 0 || req.IPv4Prefixes < 0 || req.IPv6Prefixes < 0 {
		return nil, fail(CodeInvalidParameterValue, "address counts must not be negative")
	}
	if apiErr := validateTags(req.Tags); apiErr != nil {
		return nil, apiErr
	}
	if n := 1 + req.SecondaryIPs + req.IPv4Prefixes; n > c.cfg.UnattachedAddressLimit {
		return nil, fail(CodePrivateIPAddressLimitExceeded,
			fmt.Sprintf("number of private addresses (%d) exceeds the limit of %d", n, c.cfg.UnattachedAddressLimit))
	}
	if req.IPv6Prefixes > 0 {
		if sn.v6 == nil {
			return nil, fail(CodeInvalidParameterValue, fmt.Sprintf("subnet %s has no IPv6 CIDR block", sn.info.ID))
		}
		if req.IPv6Prefixes > c.cfg.UnattachedAddressLimit {
			return nil, fail(CodePrivateIPAddressLimitExceeded,
				fmt.Sprintf("number of IPv6 prefixes (%d) exceeds the limit of %d", req.IPv6Prefixes, c.cfg.UnattachedAddressLimit))
		}
	}
	// Prefixes first: they need whole aligned blocks, which single
	// addresses would otherwise break up.
	prefixes, ok := sn.v4.allocPrefixes(req.IPv4Prefixes)
	if !ok {
		return nil, fail(CodeInsufficientCidrBlocks, fmt.Sprintf("subnet %s has no %d free aligned /28 blocks", sn.info.ID, req.IPv4Prefixes))
	}
	undo := func(addrs []netip.Addr) {
		for _, p := range prefixes {
			sn.v4.releasePrefix(p)
		}
		for _, a := range addrs {
			sn.v4.release(a)
		}
	}
	var addrs []netip.Addr
	if primary.IsValid() {
		if !sn.v4.take(primary) {
			undo(nil)
			return nil, fail(CodeInvalidParameterValue, fmt.Sprintf("address %s is not available in subnet %s", primary, sn.info.ID))
		}
		addrs = append(addrs, primary)
	}
	more, ok := sn.v4.allocAddrs(1 + req.SecondaryIPs - len(addrs))
	if !ok {
		undo(addrs)
		return nil, fail(CodeInsufficientFreeAddressesInSubnet,
			fmt.Sprintf("subnet %s has %d free addresses, %d requested", sn.info.ID, sn.v4.free, 1+req.SecondaryIPs))
	}
	addrs = append(addrs, more...)
	var prefixes6 []netip.Prefix
	if req.IPv6Prefixes > 0 {
		if prefixes6, ok = sn.v6.alloc(req.IPv6Prefixes); !ok {
			undo(addrs)
			return nil, fail(CodeInsufficientCidrBlocks, fmt.Sprintf("subnet %s has no %d free IPv6 /80 blocks", sn.info.ID, req.IPv6Prefixes))
		}
	}
	e := &eni{
		seq:           c.nextSeq(),
		id:            core.ENIID(c.newID("eni-", func(id string) bool { return c.enis[core.ENIID(id)] != nil })),
		mac:           c.newMAC(),
		description:   req.Description,
		subnet:        sn,
		primaryIP:     addrs[0],
		secondary:     addrs[1:],
		prefixes:      prefixes,
		prefixes6:     prefixes6,
		sgs:           slices.Clone(req.SecurityGroups),
		tags:          maps.Clone(req.Tags),
		interfaceType: InterfaceTypeInterface,
		createdAt:     now,
	}
	if e.tags == nil {
		e.tags = map[string]string{}
	}
	c.enis[e.id] = e
	return e, nil
}

// runningInstance finds an instance that can take attachments.
func (c *Cloud) runningInstance(id core.InstanceID) (*instance, *APIError) {
	inst, ok := c.instances[id]
	if !ok {
		return nil, instanceNotFound(id)
	}
	if inst.state != InstanceRunning {
		return nil, fail(CodeIncorrectInstanceState, fmt.Sprintf("instance '%s' is %s, not running", id, inst.state))
	}
	return inst, nil
}

// cardLimit returns how many interfaces the network card takes; ok is false
// when the type has no such card.
func cardLimit(inst *instance, card int) (int, bool) {
	t := inst.typ
	if len(t.NetworkCards) == 0 {
		return t.MaxENIs, card == t.DefaultNetworkCard
	}
	for _, nc := range t.NetworkCards {
		if nc.Index == card {
			if nc.MaxInterfaces == 0 && card == t.DefaultNetworkCard {
				return t.MaxENIs, true
			}
			return nc.MaxInterfaces, true
		}
	}
	return 0, false
}

// checkAttach applies EC2's attachment rules without changing anything.
func (c *Cloud) checkAttach(e *eni, inst *instance, device, card int) *APIError {
	if e.att != nil {
		return fail(CodeENIInUse, fmt.Sprintf("interface %s is already attached to %s", e.id, e.att.inst.id))
	}
	if e.subnet.info.VPCID != inst.subnet.info.VPCID {
		return fail(CodeInvalidParameterValue, fmt.Sprintf("interface %s and instance %s are in different VPCs", e.id, inst.id))
	}
	if e.subnet.info.AvailabilityZone != inst.subnet.info.AvailabilityZone {
		return fail(CodeInvalidParameterValue, fmt.Sprintf("interface %s is in %s and instance %s in %s",
			e.id, e.subnet.info.AvailabilityZone, inst.id, inst.subnet.info.AvailabilityZone))
	}
	if device < 0 {
		return fail(CodeInvalidParameterValue, fmt.Sprintf("device index %d is invalid", device))
	}
	limit, ok := cardLimit(inst, card)
	if !ok || card < 0 {
		return fail(CodeInvalidParameterValue, fmt.Sprintf("instance type %s has no network card %d", inst.typ.Name, card))
	}
	onCard := 0
	for _, o := range inst.enis {
		if o.att.card != card {
			continue
		}
		if o.att.device == device {
			return fail(CodeInvalidParameterValue,
				fmt.Sprintf("instance '%s' already has an interface attached at device index '%d'", inst.id, device))
		}
		onCard++
	}
	if onCard >= limit {
		return fail(CodeAttachmentLimitExceeded,
			fmt.Sprintf("interface count %d exceeds the limit for %s on network card %d", onCard+1, inst.typ.Name, card))
	}
	if t := inst.typ; t.IPv4PerENI > 0 && e.ipv4Count() > t.IPv4PerENI {
		return fail(CodePrivateIPAddressLimitExceeded,
			fmt.Sprintf("interface %s holds %d addresses, more than %s allows (%d)", e.id, e.ipv4Count(), t.Name, t.IPv4PerENI))
	}
	if len(e.prefixes) > 0 && inst.typ.Hypervisor == "xen" && !inst.typ.BareMetal {
		return fail(CodeInvalidParameterValue, fmt.Sprintf("instance type %s does not support IPv4 prefixes", inst.typ.Name))
	}
	return nil
}

func (c *Cloud) attachLocked(e *eni, inst *instance, device, card int) {
	id := c.newID("eni-attach-", func(id string) bool { return c.attachments[id] != nil })
	e.att = &attachment{id: id, inst: inst, device: device, card: card}
	inst.enis[e.id] = e
	c.attachments[id] = e
}

// detachLocked makes an attached ENI available again.
func (c *Cloud) detachLocked(e *eni) {
	if e.att == nil {
		return
	}
	delete(e.att.inst.enis, e.id)
	delete(c.attachments, e.att.id)
	e.att = nil
}

// deleteLocked removes an available ENI and returns its addresses.
func (c *Cloud) deleteLocked(e *eni) {
	sn := e.subnet
	sn.v4.release(e.primaryIP)
	for _, a := range e.secondary {
		sn.v4.release(a)
	}
	for _, p := range e.prefixes {
		sn.v4.releasePrefix(p)
	}
	for _, p := range e.prefixes6 {
		sn.v6.release(p)
	}
	delete(c.enis, e.id)
}

func (c *Cloud) assignV4Locked(e *eni, ips, prefixes int, now time.Time) (ports.Assigned, *APIError) {
	if ips < 0 || prefixes < 0 {
		return ports.Assigned{}, fail(CodeInvalidParameterValue, "address counts must not be negative")
	}
	if ips == 0 && prefixes == 0 {
		return ports.Assigned{}, fail(CodeMissingParameter, "specify a secondary address count or an IPv4 prefix count")
	}
	if limit := c.ipv4Limit(e); e.ipv4Count()+ips+prefixes > limit {
		return ports.Assigned{}, fail(CodePrivateIPAddressLimitExceeded,
			fmt.Sprintf("interface %s holds %d of %d addresses, %d more requested", e.id, e.ipv4Count(), limit, ips+prefixes))
	}
	if prefixes > 0 && noPrefixDelegation(e) {
		return ports.Assigned{}, fail(CodeInvalidParameterValue,
			fmt.Sprintf("instance type %s does not support IPv4 prefixes", e.att.inst.typ.Name))
	}
	sn := e.subnet
	pfx, ok := sn.v4.allocPrefixes(prefixes)
	if !ok {
		return ports.Assigned{}, fail(CodeInsufficientCidrBlocks,
			fmt.Sprintf("subnet %s has no %d free aligned /28 blocks", sn.info.ID, prefixes))
	}
	addrs, ok := sn.v4.allocAddrs(ips)
	if !ok {
		for _, p := range pfx {
			sn.v4.releasePrefix(p)
		}
		return ports.Assigned{}, fail(CodeInsufficientFreeAddressesInSubnet,
			fmt.Sprintf("subnet %s has %d free addresses, %d requested", sn.info.ID, sn.v4.free, ips))
	}
	e.secondary = append(e.secondary, addrs...)
	e.prefixes = append(e.prefixes, pfx...)
	c.touchENI(e, now)
	return ports.Assigned{IPs: slices.Clone(addrs), Prefixes: slices.Clone(pfx)}, nil
}

func (c *Cloud) unassignV4Locked(e *eni, ips []netip.Addr, prefixes []netip.Prefix, now time.Time) *APIError {
	if len(ips) == 0 && len(prefixes) == 0 {
		return fail(CodeMissingParameter, "specify addresses or prefixes to unassign")
	}
	for i, a := range ips {
		if a == e.primaryIP {
			return fail(CodeInvalidParameterValue, fmt.Sprintf("%s is the primary address of %s and cannot be unassigned", a, e.id))
		}
		if !slices.Contains(e.secondary, a) || slices.Contains(ips[:i], a) {
			return fail(CodeInvalidParameterValue, fmt.Sprintf("some of the specified addresses are not assigned to interface %s: %s", e.id, a))
		}
	}
	for i, p := range prefixes {
		if !slices.Contains(e.prefixes, p) || slices.Contains(prefixes[:i], p) {
			return fail(CodeInvalidParameterValue, fmt.Sprintf("some of the specified prefixes are not assigned to interface %s: %s", e.id, p))
		}
	}
	for _, a := range ips {
		e.secondary = slices.DeleteFunc(e.secondary, func(x netip.Addr) bool { return x == a })
		e.subnet.v4.release(a)
	}
	for _, p := range prefixes {
		e.prefixes = slices.DeleteFunc(e.prefixes, func(x netip.Prefix) bool { return x == p })
		e.subnet.v4.releasePrefix(p)
	}
	c.touchENI(e, now)
	return nil
}

func (c *Cloud) assignV6Locked(e *eni, n int, now time.Time) ([]netip.Prefix, *APIError) {
	if n <= 0 {
		return nil, fail(CodeInvalidParameterValue, "IPv6 prefix count must be positive")
	}
	sn := e.subnet
	if sn.v6 == nil {
		return nil, fail(CodeInvalidParameterValue, fmt.Sprintf("subnet %s has no IPv6 CIDR block", sn.info.ID))
	}
	if e.att != nil && !e.att.inst.typ.IPv6Supported {
		return nil, fail(CodeInvalidParameterValue, fmt.Sprintf("instance type %s does not support IPv6", e.att.inst.typ.Name))
	}
	if limit := c.ipv6Limit(e); len(e.prefixes6)+n > limit {
		return nil, fail(CodePrivateIPAddressLimitExceeded,
			fmt.Sprintf("interface %s holds %d of %d IPv6 prefixes, %d more requested", e.id, len(e.prefixes6), limit, n))
	}
	got, ok := sn.v6.alloc(n)
	if !ok {
		return nil, fail(CodeInsufficientCidrBlocks, fmt.Sprintf("subnet %s has no %d free IPv6 /80 blocks", sn.info.ID, n))
	}
	e.prefixes6 = append(e.prefixes6, got...)
	c.touchENI(e, now)
	return slices.Clone(got), nil
}

func (c *Cloud) unassignV6Locked(e *eni, prefixes []netip.Prefix, now time.Time) *APIError {
	if len(prefixes) == 0 {
		return fail(CodeMissingParameter, "specify IPv6 prefixes to unassign")
	}
	for i, p := range prefixes {
		if !slices.Contains(e.prefixes6, p) || slices.Contains(prefixes[:i], p) {
			return fail(CodeInvalidParameterValue, fmt.Sprintf("some of the specified IPv6 prefixes are not assigned to interface %s: %s", e.id, p))
		}
	}
	for _, p := range prefixes {
		e.prefixes6 = slices.DeleteFunc(e.prefixes6, func(x netip.Prefix) bool { return x == p })
		e.subnet.v6.release(p)
	}
	c.touchENI(e, now)
	return nil
}

// touchENI records a new metadata view for the instance the ENI is attached
// to, if any.
func (c *Cloud) touchENI(e *eni, now time.Time) {
	if e.att != nil {
		c.touch(e.att.inst, now)
	}
}

// touch records the instance's current metadata view, to become visible
// after the propagation delay, and drops views nobody can see any more.
func (c *Cloud) touch(inst *instance, now time.Time) {
	inst.imds = append(inst.imds, imdsView{visibleAt: now.Add(c.imdsDelay), enis: c.imdsENIs(inst)})
	if i := visibleIndex(inst.imds, now); i > 0 {
		inst.imds = slices.Delete(inst.imds, 0, i)
	}
}

// visibleIndex returns the newest view visible at now, or -1.
func visibleIndex(views []imdsView, now time.Time) int {
	for i := len(views) - 1; i >= 0; i-- {
		if !views[i].visibleAt.After(now) {
			return i
		}
	}
	return -1
}

// imdsENIs renders the attached ENIs the way the metadata service lists
// them: no tags, status, attachment or interface-type information.
func (c *Cloud) imdsENIs(inst *instance) []core.ENI {
	var out []core.ENI
	for _, e := range inst.attachedSorted() {
		out = append(out, core.ENI{
			ID:             e.id,
			MAC:            e.mac,
			DeviceNumber:   e.att.device,
			NetworkCard:    e.att.card,
			SubnetID:       e.subnet.info.ID,
			SubnetCIDR:     e.subnet.info.CIDR,
			SubnetIPv6CIDR: e.subnet.info.IPv6CIDR,
			VPCID:          e.subnet.info.VPCID,
			PrimaryIP:      e.primaryIP,
			SecondaryIPs:   slices.Clone(e.secondary),
			IPv4Prefixes:   slices.Clone(e.prefixes),
			IPv6Prefixes:   slices.Clone(e.prefixes6),
			SecurityGroups: slices.Clone(e.sgs),
			Primary:        e == inst.primary,
		})
	}
	return out
}

// eniView renders an ENI the way DescribeNetworkInterfaces reports it.
func (c *Cloud) eniView(e *eni) core.ENI {
	v := core.ENI{
		ID:             e.id,
		MAC:            e.mac,
		Description:    e.description,
		DeviceNumber:   -1,
		SubnetID:       e.subnet.info.ID,
		SubnetCIDR:     e.subnet.info.CIDR,
		SubnetIPv6CIDR: e.subnet.info.IPv6CIDR,
		VPCID:          e.subnet.info.VPCID,
		PrimaryIP:      e.primaryIP,
		SecondaryIPs:   slices.Clone(e.secondary),
		IPv4Prefixes:   slices.Clone(e.prefixes),
		IPv6Prefixes:   slices.Clone(e.prefixes6),
		SecurityGroups: slices.Clone(e.sgs),
		Tags:           maps.Clone(e.tags),
		Status:         e.status(),
		Trunk:          e.interfaceType == InterfaceTypeTrunk,
		EFA:            e.interfaceType == InterfaceTypeEFA,
		CreatedAt:      e.createdAt,
	}
	if e.att != nil {
		v.DeviceNumber = e.att.device
		v.NetworkCard = e.att.card
		v.AttachmentID = e.att.id
		v.InstanceID = e.att.inst.id
		v.DeleteOnTermination = e.att.deleteOnTermination
		v.Primary = e == e.att.inst.primary
	}
	return v
}

func (c *Cloud) subnetView(sn *subnet) core.Subnet {
	s := sn.info
	s.AvailableIPs = sn.v4.free
	s.Tags = maps.Clone(sn.info.Tags)
	return s
}

func (c *Cloud) instanceView(inst *instance) core.Instance {
	v := c.vpcs[inst.subnet.info.VPCID]
	out := core.Instance{
		ID:               inst.id,
		Type:             inst.typ.Name,
		AvailabilityZone: inst.subnet.info.AvailabilityZone,
		Region:           c.cfg.Region,
		VPCID:            v.id,
		VPCCIDRs:         slices.Clone(v.cidrs),
		VPCIPv6CIDRs:     slices.Clone(v.cidrs6),
		SubnetID:         inst.subnet.info.ID,
	}
	if p := inst.primary; p != nil && p.att != nil && p.att.inst == inst {
		out.PrimaryMAC = p.mac
		out.PrimaryIP = p.primaryIP
		out.PrimaryENI = p.id
		out.SecurityGroups = slices.Clone(p.sgs)
	}
	for _, e := range inst.attachedSorted() {
		out.ENIs = append(out.ENIs, c.eniView(e))
	}
	return out
}
