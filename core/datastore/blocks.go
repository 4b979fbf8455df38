package datastore

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// AddIPs adds secondary IPv4 addresses to an ENI. Addresses it already has
// are skipped, so the call can be repeated with the full list EC2 reports.
// Nothing is added when any address is invalid (not IPv4, the ENI's primary
// address, outside its subnet: core.ErrInvalidParameter) or belongs to
// another ENI or a prefix (core.ErrDuplicate).
func (s *Store) AddIPs(id core.ENIID, addrs []netip.Addr) (added int, err error) {
	e, err := s.lookupENI(id)
	if err != nil {
		return 0, err
	}
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case !a.Is4():
			return 0, fmt.Errorf("add IP %v to %s: not an IPv4 address: %w", a, id, core.ErrInvalidParameter)
		case a == e.info.PrimaryIP:
			return 0, fmt.Errorf("add IP %v to %s: the ENI's primary address: %w", a, id, core.ErrInvalidParameter)
		case e.info.SubnetCIDR.IsValid() && !e.info.SubnetCIDR.Contains(a):
			return 0, fmt.Errorf("add IP %v to %s: outside subnet %v: %w", a, id, e.info.SubnetCIDR, core.ErrInvalidParameter)
		}
		if sl, ok := s.byAddr[a]; ok && sl.grp != e.ips {
			return 0, fmt.Errorf("add IP %v to %s: held by %s: %w", a, id, sl.grp.describe(), core.ErrDuplicate)
		}
	}
	g := e.ips
	c := &e.cnt[kindIP]
	for _, a := range addrs {
		a = a.Unmap()
		if _, ok := s.byAddr[a]; ok {
			continue
		}
		sl := &slot{addr: a, grp: g, state: stFree}
		g.slots = append(g.slots, sl)
		s.byAddr[a] = sl
		c.blocks++
		c.total++
		c.freeBlocks++
		added++
	}
	if added > 0 {
		rebuildIPs(g)
		s.reindex()
	}
	return added, nil
}

func (g *group) describe() string {
	if g.kind == kindIP {
		return string(g.eni.info.ID)
	}
	return fmt.Sprintf("prefix %v of %s", g.prefix, g.eni.info.ID)
}

// AddPrefixes adds delegated IPv4 /28 prefixes to an ENI. The prefix must be
// in canonical form (its first address is its network address, which is a
// valid pod address). Prefixes the ENI already has are skipped; nothing is
// added when any prefix is invalid or overlaps another ENI's addresses.
func (s *Store) AddPrefixes(id core.ENIID, prefixes []netip.Prefix) (added int, err error) {
	e, err := s.lookupENI(id)
	if err != nil {
		return 0, err
	}
	for _, p := range prefixes {
		if !p.Addr().Is4() || p.Bits() != 28 || p.Masked() != p {
			return 0, fmt.Errorf("add prefix %v to %s: want a canonical IPv4 /28: %w", p, id, core.ErrInvalidParameter)
		}
		if sub := e.info.SubnetCIDR; sub.IsValid() && (sub.Bits() > 28 || !sub.Contains(p.Addr())) {
			return 0, fmt.Errorf("add prefix %v to %s: outside subnet %v: %w", p, id, sub, core.ErrInvalidParameter)
		}
		if p.Contains(e.info.PrimaryIP) {
			return 0, fmt.Errorf("add prefix %v to %s: holds the ENI's primary address: %w", p, id, core.ErrInvalidParameter)
		}
		if g, ok := s.prefixes[p]; ok {
			if g.eni != e {
				return 0, fmt.Errorf("add prefix %v to %s: held by %s: %w", p, id, g.eni.info.ID, core.ErrDuplicate)
			}
			continue
		}
		for i, a := 0, p.Addr(); i < core.AddressesPerPrefix; i, a = i+1, a.Next() {
			if sl, ok := s.byAddr[a]; ok {
				return 0, fmt.Errorf("add prefix %v to %s: address %v held by %s: %w", p, id, a, sl.grp.describe(), core.ErrDuplicate)
			}
		}
	}
	c := &e.cnt[kindPrefix]
	for _, p := range prefixes {
		if _, ok := s.prefixes[p]; ok {
			continue
		}
		g := newPrefixGroup(e, p)
		for _, sl := range g.slots {
			s.byAddr[sl.addr] = sl
		}
		s.prefixes[p] = g
		e.prefixes = append(e.prefixes, g)
		c.blocks++
		c.total += g.capacity
		c.freeBlocks++
		added++
	}
	if added > 0 {
		sortGroups(e.prefixes)
		s.reindex()
	}
	return added, nil
}

func newPrefixGroup(e *eni, p netip.Prefix) *group {
	type block struct {
		g     group
		arr   [core.AddressesPerPrefix]slot
		ptrs  [core.AddressesPerPrefix]*slot
		avail [1]uint64
	}
	b := &block{}
	g := &b.g
	*g = group{eni: e, kind: kindPrefix, prefix: p, capacity: core.AddressesPerPrefix, idx: -1, level: -1,
		slots: b.ptrs[:], avail: b.avail[:]}
	a := p.Addr()
	for i := range b.arr {
		b.arr[i] = slot{addr: a, grp: g, pos: i, state: stFree}
		b.ptrs[i] = &b.arr[i]
		a = a.Next()
	}
	b.avail[0] = 1<<core.AddressesPerPrefix - 1
	return g
}

func sortGroups(gs []*group) {
	slices.SortFunc(gs, func(a, b *group) int { return a.prefix.Addr().Compare(b.prefix.Addr()) })
}

// AddIPv6Prefixes adds delegated IPv6 /80 prefixes to an ENI. Pods get
// single addresses out of them, never the prefix's first address.
func (s *Store) AddIPv6Prefixes(id core.ENIID, prefixes []netip.Prefix) (added int, err error) {
	e, err := s.lookupENI(id)
	if err != nil {
		return 0, err
	}
	for _, p := range prefixes {
		if !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() != 80 || p.Masked() != p {
			return 0, fmt.Errorf("add IPv6 prefix %v to %s: want a canonical IPv6 /80: %w", p, id, core.ErrInvalidParameter)
		}
		if g, ok := s.v6[p]; ok && g.eni != e {
			return 0, fmt.Errorf("add IPv6 prefix %v to %s: held by %s: %w", p, id, g.eni.info.ID, core.ErrDuplicate)
		}
	}
	c := &e.cnt[kindV6]
	for _, p := range prefixes {
		if _, ok := s.v6[p]; ok {
			continue
		}
		g := &group{eni: e, kind: kindV6, prefix: p, capacity: v6Capacity, idx: -1, level: -1,
			used: make(map[uint64]*slot)}
		g.free.spans = []span{{1, 1 << 48}}
		s.v6[p] = g
		e.v6 = append(e.v6, g)
		c.blocks++
		c.total += g.capacity
		c.freeBlocks++
		added++
	}
	if added > 0 {
		sortGroups(e.v6)
		s.reindex()
	}
	return added, nil
}

// RemoveBlock removes one block from an ENI: a secondary IP (/32), an IPv4
// prefix (/28) or an IPv6 prefix (/80). Cooling addresses do not hold it
// back. Without force it refuses with core.ErrAddressInUse while an address
// of the block is assigned; with force it drops those assignments and
// returns them.
func (s *Store) RemoveBlock(id core.ENIID, block netip.Prefix, force bool) ([]core.Allocation, error) {
	e, err := s.lookupENI(id)
	if err != nil {
		return nil, err
	}
	a := block.Addr()
	switch {
	case a.Is4() && block.Bits() == 32:
		sl, ok := s.byAddr[a]
		if !ok || sl.grp != e.ips {
			return nil, fmt.Errorf("remove %v from %s: %w", block, id, core.ErrUnknownAddress)
		}
		if sl.state == stAssigned && !force {
			return nil, fmt.Errorf("remove %v from %s: held by pod %s: %w", block, id, sl.pod, core.ErrAddressInUse)
		}
		out := s.dropIP(sl, nil)
		e.ips.slots = slices.DeleteFunc(e.ips.slots, func(x *slot) bool { return x == sl })
		rebuildIPs(e.ips)
		s.reindex()
		return out, nil
	case a.Is4() && block.Bits() == 28 && block.Masked() == block,
		a.Is6() && !a.Is4In6() && block.Bits() == 80 && block.Masked() == block:
		k, m := kindPrefix, s.prefixes
		if a.Is6() {
			k, m = kindV6, s.v6
		}
		g, ok := m[block]
		if !ok || g.eni != e {
			return nil, fmt.Errorf("remove %v from %s: %w", block, id, core.ErrUnknownAddress)
		}
		if g.nAssigned > 0 && !force {
			return nil, fmt.Errorf("remove %v from %s: %d addresses assigned: %w", block, id, g.nAssigned, core.ErrAddressInUse)
		}
		out := s.dropGroup(g, nil)
		if k == kindPrefix {
			e.prefixes = slices.DeleteFunc(e.prefixes, func(x *group) bool { return x == g })
		} else {
			e.v6 = slices.DeleteFunc(e.v6, func(x *group) bool { return x == g })
		}
		s.reindex()
		sortAllocations(out)
		return out, nil
	default:
		return nil, fmt.Errorf("remove %v from %s: want a /32, a canonical /28 or a canonical IPv6 /80: %w", block, id, core.ErrInvalidParameter)
	}
}

// TakeFreeBlocks removes up to n blocks of the given kind from the ENI that
// hold no assigned and no cooling address at now, and returns them so the
// caller can give them back to EC2. It takes the highest addresses first:
// pods are packed from the lowest up, so those are the ones packing needs
// least. The returned blocks are gone from the store; no pod can get an
// address out of them afterwards. An unknown ENI yields nothing.
func (s *Store) TakeFreeBlocks(id core.ENIID, k core.BlockKind, n int, now time.Time) []netip.Prefix {
	s.expire(now)
	e, ok := s.byID[id]
	if !ok || n <= 0 {
		return nil
	}
	var out []netip.Prefix
	if kindOf(k) == kindIP {
		g := e.ips
		for i := len(g.slots) - 1; i >= 0 && len(out) < n; i-- {
			if sl := g.slots[i]; sl.state == stFree {
				out = append(out, netip.PrefixFrom(sl.addr, 32))
				s.dropIP(sl, nil)
			}
		}
		if len(out) > 0 {
			g.slots = slices.DeleteFunc(g.slots, func(x *slot) bool { return x.state == stDead })
			rebuildIPs(g)
		}
	} else {
		for i := len(e.prefixes) - 1; i >= 0 && len(out) < n; i-- {
			if g := e.prefixes[i]; !g.busy() {
				out = append(out, g.prefix)
				s.dropGroup(g, nil)
				e.prefixes[i] = nil
			}
		}
		if len(out) > 0 {
			e.prefixes = slices.DeleteFunc(e.prefixes, func(x *group) bool { return x == nil })
		}
	}
	if len(out) > 0 {
		s.reindex()
	}
	return out
}
