package datastore

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Snapshot returns the durable state at now: every allocation (in address
// order) and every cooldown still running (in address order).
func (s *Store) Snapshot(now time.Time) core.Snapshot {
	s.expire(now)
	snap := core.Snapshot{Allocations: make([]core.Allocation, 0, len(s.keys))}
	for _, sl := range s.keys {
		snap.Allocations = append(snap.Allocations, core.Allocation{Key: sl.key, Pod: sl.pod, Addr: sl.addr, AssignedAt: sl.assignedAt})
	}
	sortAllocations(snap.Allocations)
	for _, e := range s.ring[s.head:] {
		if e.sl.state == stCooling && e.sl.gen == e.gen {
			snap.Cooldowns = append(snap.Cooldowns, core.Cooldown{Addr: e.sl.addr, ReleasedAt: e.sl.releasedAt})
		}
	}
	slices.SortFunc(snap.Cooldowns, func(a, b core.Cooldown) int { return a.Addr.Compare(b.Addr) })
	return snap
}

// RestoreReport tells what Restore did with a snapshot.
type RestoreReport struct {
	// Restored counts allocations now held (again) by their key.
	Restored int
	// Dropped lists allocations that could not be placed, and
	// DroppedReasons, index for index, why: the address is in no known
	// block (core.ErrUnknownAddress) or it, or the key, is taken by
	// another allocation (core.ErrDuplicate).
	Dropped        []core.Allocation
	DroppedReasons []error
	// CooldownsRestored counts addresses cooling again; CooldownsIgnored
	// those whose period already ended, whose address is unknown, or that a
	// pod holds.
	CooldownsRestored int
	CooldownsIgnored  int
}

// Restore loads a snapshot. Call it once the ENIs and their blocks are in the
// store: each allocation goes back to the block holding its address, whatever
// the block's kind or the ENI's flags, so every key keeps its address. Release
// times are restored too, so an address freed shortly before a restart keeps
// cooling for the rest of its period. Allocations that cannot be placed are
// reported, never fatal; the error is always nil today.
func (s *Store) Restore(snap core.Snapshot, now time.Time) (RestoreReport, error) {
	s.expire(now)
	var r RestoreReport
	drop := func(a core.Allocation, err error) {
		r.Dropped = append(r.Dropped, a)
		r.DroppedReasons = append(r.DroppedReasons, err)
	}
	for _, a := range snap.Allocations {
		addr := a.Addr.Unmap()
		if held, ok := s.keys[a.Key]; ok {
			if held.addr == addr {
				r.Restored++
			} else {
				drop(a, fmt.Errorf("restore %v: key already holds %v: %w", addr, held.addr, core.ErrDuplicate))
			}
			continue
		}
		sl, err := s.slotAt(addr)
		if err != nil {
			drop(a, fmt.Errorf("restore %v: %w", addr, err))
			continue
		}
		if sl.state == stAssigned {
			drop(a, fmt.Errorf("restore %v: address already held by %s: %w", addr, sl.pod, core.ErrDuplicate))
			continue
		}
		sl.key, sl.pod, sl.assignedAt = a.Key, a.Pod, a.AssignedAt
		s.setState(sl, stAssigned)
		s.keys[a.Key] = sl
		r.Restored++
	}
	for _, c := range snap.Cooldowns {
		at := c.ReleasedAt.Add(s.cfg.Cooldown)
		if !now.Before(at) {
			r.CooldownsIgnored++
			continue
		}
		sl, err := s.slotAt(c.Addr.Unmap())
		if err != nil || sl.state == stAssigned {
			r.CooldownsIgnored++
			continue
		}
		if sl.state == stCooling && !c.ReleasedAt.After(sl.releasedAt) {
			r.CooldownsRestored++
			continue
		}
		if sl.state == stCooling {
			// A later release time wins: re-arm it.
			s.seq++
			sl.gen = s.seq
			sl.releasedAt = c.ReleasedAt
		} else {
			s.startCooldown(sl, c.ReleasedAt)
		}
		s.ring = append(s.ring, coolEntry{sl: sl, gen: sl.gen, at: at})
		r.CooldownsRestored++
	}
	slices.SortStableFunc(s.ring[s.head:], func(a, b coolEntry) int { return a.at.Compare(b.at) })
	return r, nil
}

// slotAt finds the slot of an address, materialising it for a free IPv6
// offset (the caller must use it or set it free again).
func (s *Store) slotAt(addr netip.Addr) (*slot, error) {
	if addr.Is4() {
		if sl, ok := s.byAddr[addr]; ok {
			return sl, nil
		}
		return nil, fmt.Errorf("in no known block: %w", core.ErrUnknownAddress)
	}
	if !addr.Is6() {
		return nil, fmt.Errorf("invalid address: %w", core.ErrUnknownAddress)
	}
	g, ok := s.v6[netip.PrefixFrom(addr, 80).Masked()]
	if !ok {
		return nil, fmt.Errorf("in no known block: %w", core.ErrUnknownAddress)
	}
	off := v6Offset(addr)
	if off == 0 {
		return nil, fmt.Errorf("the first address of %v is not a pod address: %w", g.prefix, core.ErrUnknownAddress)
	}
	if sl, ok := g.used[off]; ok {
		return sl, nil
	}
	return s.v6Slot(g, off), nil
}
