package datastore

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Assign gives the pod interface an address. A key that already holds one
// gets the same address back (a retried CNI ADD). Otherwise the address
// comes from a block of the active kind on a usable ENI, out of cooldown:
// from the group (a /28 or /80 prefix, or an ENI's set of secondary IPs)
// with the most assigned addresses that still has room, ties going to the
// lowest device number and address, and within it the lowest address. The
// error wraps core.ErrNoAvailableAddress when nothing is free.
func (s *Store) Assign(key core.PodKey, pod core.PodRef, now time.Time) (Assignment, error) {
	s.expire(now)
	if sl, ok := s.keys[key]; ok {
		return s.assignment(sl), nil
	}
	l := s.lvNE.last()
	if l < 0 {
		return Assignment{}, s.noAddress()
	}
	g := s.order[s.lv[l].first()]
	var sl *slot
	if g.kind == kindV6 {
		sl = s.v6Slot(g, g.free.lowest())
	} else {
		for i, w := range g.avail {
			if w != 0 {
				sl = g.slots[i<<6|bits.TrailingZeros64(w)]
				break
			}
		}
	}
	sl.key, sl.pod, sl.assignedAt = key, pod, now
	s.setState(sl, stAssigned)
	s.keys[key] = sl
	return s.assignment(sl), nil
}

func (s *Store) noAddress() error {
	var total, assigned, cooling int
	for _, e := range s.enis {
		if e.info.usable() {
			c := e.cnt[s.active]
			total, assigned, cooling = total+c.total, assigned+c.assigned, cooling+c.cooling
		}
	}
	return fmt.Errorf("%w: %d %s addresses on usable ENIs, %d assigned, %d cooling down",
		core.ErrNoAvailableAddress, total, s.active, assigned, cooling)
}

func (k kind) String() string {
	switch k {
	case kindIP:
		return "secondary IP"
	case kindPrefix:
		return "/28 prefix"
	default:
		return "IPv6 prefix"
	}
}

// Release takes the address back from the pod interface and returns what
// it held. The address cools down: no pod gets it before now + Cooldown.
// The error wraps core.ErrUnknownPod when the key holds nothing.
func (s *Store) Release(key core.PodKey, now time.Time) (Assignment, error) {
	s.expire(now)
	sl, ok := s.keys[key]
	if !ok {
		return Assignment{}, fmt.Errorf("release %s/%s/%s: %w", key.NetworkName, key.ContainerID, key.IfName, core.ErrUnknownPod)
	}
	a := s.assignment(sl)
	delete(s.keys, key)
	sl.key, sl.pod = core.PodKey{}, core.PodRef{}
	if s.cfg.Cooldown <= 0 {
		s.setState(sl, stFree)
		return a, nil
	}
	s.startCooldown(sl, now)
	s.pushCool(coolEntry{sl: sl, gen: sl.gen, at: now.Add(s.cfg.Cooldown)})
	return a, nil
}

func (s *Store) startCooldown(sl *slot, releasedAt time.Time) {
	s.seq++
	sl.gen = s.seq
	sl.releasedAt = releasedAt
	s.setState(sl, stCooling)
}

// Lookup returns the address the key holds.
func (s *Store) Lookup(key core.PodKey) (Assignment, bool) {
	sl, ok := s.keys[key]
	if !ok {
		return Assignment{}, false
	}
	return s.assignment(sl), true
}

// Assignments lists every assignment, sorted by address.
func (s *Store) Assignments() []Assignment {
	out := make([]Assignment, 0, len(s.keys))
	for _, sl := range s.keys {
		out = append(out, s.assignment(sl))
	}
	slices.SortFunc(out, func(a, b Assignment) int { return a.Addr.Compare(b.Addr) })
	return out
}

func (s *Store) assignment(sl *slot) Assignment {
	info := &sl.grp.eni.info
	return Assignment{
		Key:          sl.key,
		Pod:          sl.pod,
		Addr:         sl.addr,
		ENI:          info.ID,
		DeviceNumber: info.DeviceNumber,
		NetworkCard:  info.NetworkCard,
		RouteTable:   core.RouteTableFor(info.NetworkCard, info.DeviceNumber),
		AssignedAt:   sl.assignedAt,
	}
}

// expire frees every cooling address whose period ended at or before now.
// The queue is sorted by expiry, so this looks at one entry when nothing
// is due.
func (s *Store) expire(now time.Time) {
	for s.head < len(s.ring) {
		e := &s.ring[s.head]
		if now.Before(e.at) {
			return
		}
		sl, gen := e.sl, e.gen
		*e = coolEntry{}
		s.head++
		if sl.state == stCooling && sl.gen == gen {
			s.setState(sl, stFree)
		}
	}
	s.ring, s.head = s.ring[:0], 0
}

// pushCool queues an expiry. Expiries normally arrive in order (now does
// not go backwards); one that does not is inserted in place.
func (s *Store) pushCool(e coolEntry) {
	n := len(s.ring)
	if n == cap(s.ring) && s.head >= n-s.head {
		// At least half the backing array is consumed: slide down
		// rather than grow.
		m := copy(s.ring, s.ring[s.head:])
		clear(s.ring[m:])
		s.ring, s.head, n = s.ring[:m], 0, m
	}
	if n == s.head || !e.at.Before(s.ring[n-1].at) {
		s.ring = append(s.ring, e)
		return
	}
	lo, hi := s.head, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if e.at.Before(s.ring[m].at) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	s.ring = append(s.ring, coolEntry{})
	copy(s.ring[lo+1:], s.ring[lo:n])
	s.ring[lo] = e
}
