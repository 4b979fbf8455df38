package datastore

import (
	"net/netip"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Usage describes every ENI in device order, counting addresses at now, for
// the warm-pool policy. Inactive* fields describe the blocks of the IPv4 kind
// that is not active (both IPv4 kinds under IPv6). It costs O(ENIs).
func (s *Store) Usage(now time.Time) core.PoolUsage {
	s.expire(now)
	out := make([]core.ENIUsage, len(s.enis))
	for i, e := range s.enis {
		out[i] = s.usage(e)
	}
	return core.PoolUsage{ENIs: out}
}

func (s *Store) usage(e *eni) core.ENIUsage {
	a := &e.cnt[s.active]
	u := core.ENIUsage{
		ID:           e.info.ID,
		DeviceNumber: e.info.DeviceNumber,
		NetworkCard:  e.info.NetworkCard,
		Primary:      e.info.Primary,
		Trunk:        e.info.Trunk,
		EFA:          e.info.EFA,
		NoManage:     e.info.NoManage,
		Excluded:     e.info.Excluded,
		Since:        e.since,
		IPs:          e.cnt[kindIP].blocks,
		Prefixes:     e.cnt[kindPrefix].blocks,
		Total:        a.total,
		Assigned:     a.assigned,
		Cooling:      a.cooling,
		FreeBlocks:   a.freeBlocks,
	}
	for _, k := range [...]kind{kindIP, kindPrefix} {
		if k == s.active {
			continue
		}
		c := &e.cnt[k]
		u.InactiveBlocks += c.blocks
		u.InactiveAssigned += c.assigned
		u.InactiveFreeBlocks += c.freeBlocks
	}
	return u
}

// Stats are pool-wide numbers, for metrics and introspection.
type Stats struct {
	// Total, Assigned, Cooling and Free count addresses of the active kind
	// on usable ENIs (as core.PoolUsage.Totals does); Free = Total -
	// Assigned - Cooling.
	Total    int
	Assigned int
	Cooling  int
	Free     int
	// ENIs counts every ENI in the store, usable or not.
	ENIs int
	// Prefixes, IPs and IPv6Prefixes count blocks on every ENI.
	Prefixes     int
	IPs          int
	IPv6Prefixes int
	// Pods counts every assignment, of any kind, on any ENI.
	Pods int
}

// Stats returns pool-wide numbers at now. It costs O(ENIs).
func (s *Store) Stats(now time.Time) Stats {
	s.expire(now)
	st := Stats{ENIs: len(s.enis), Pods: len(s.keys)}
	for _, e := range s.enis {
		st.IPs += e.cnt[kindIP].blocks
		st.Prefixes += e.cnt[kindPrefix].blocks
		st.IPv6Prefixes += e.cnt[kindV6].blocks
		if e.info.usable() {
			c := &e.cnt[s.active]
			st.Total += c.total
			st.Assigned += c.assigned
			st.Cooling += c.cooling
		}
	}
	st.Free = st.Total - st.Assigned - st.Cooling
	return st
}

// ENIs lists the ENIs in device order (device number, then network card,
// then ID).
func (s *Store) ENIs() []ENIInfo {
	out := make([]ENIInfo, len(s.enis))
	for i, e := range s.enis {
		out[i] = e.info
	}
	return out
}

// ENIView is one ENI with its blocks and counts, for introspection.
type ENIView struct {
	ENIInfo
	// Since is when the ENI joined the pool.
	Since        time.Time
	IPs          []netip.Addr
	Prefixes     []netip.Prefix
	IPv6Prefixes []netip.Prefix
	// Usage is as core.PoolUsage reports the ENI. Cooling counts are as of
	// the latest call that was given a time.
	Usage core.ENIUsage
	// Assigned and Cooling count addresses of every kind.
	Assigned int
	Cooling  int
}

// ENI returns one ENI, its blocks in address order and its counts.
func (s *Store) ENI(id core.ENIID) (ENIView, bool) {
	e, ok := s.byID[id]
	if !ok {
		return ENIView{}, false
	}
	v := ENIView{ENIInfo: e.info, Since: e.since, Usage: s.usage(e)}
	for _, sl := range e.ips.slots {
		v.IPs = append(v.IPs, sl.addr)
	}
	for _, g := range e.prefixes {
		v.Prefixes = append(v.Prefixes, g.prefix)
	}
	for _, g := range e.v6 {
		v.IPv6Prefixes = append(v.IPv6Prefixes, g.prefix)
	}
	for _, c := range e.cnt {
		v.Assigned += c.assigned
		v.Cooling += c.cooling
	}
	return v, true
}
