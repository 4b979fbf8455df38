package datastore

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// The reference model: the same semantics written the slow, obvious way.
type refENI struct {
	info     ENIInfo
	ips      map[netip.Addr]bool
	prefixes map[netip.Prefix]bool
}

type refModel struct {
	cooldown   time.Duration
	prefixMode bool
	enis       map[core.ENIID]*refENI
	byKey      map[core.PodKey]netip.Addr
	byAddr     map[netip.Addr]core.PodKey
	coolUntil  map[netip.Addr]time.Time
}

func newRefModel(cooldown time.Duration) *refModel {
	return &refModel{
		cooldown:  cooldown,
		enis:      map[core.ENIID]*refENI{},
		byKey:     map[core.PodKey]netip.Addr{},
		byAddr:    map[netip.Addr]core.PodKey{},
		coolUntil: map[netip.Addr]time.Time{},
	}
}

func (m *refModel) cooling(a netip.Addr, now time.Time) bool {
	until, ok := m.coolUntil[a]
	return ok && now.Before(until)
}

func (m *refModel) available(a netip.Addr, now time.Time) bool {
	_, taken := m.byAddr[a]
	return !taken && !m.cooling(a, now)
}

func (m *refModel) sortedENIs() []*refENI {
	var out []*refENI
	for _, e := range m.enis {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *refENI) int {
		return cmp.Or(cmp.Compare(a.info.DeviceNumber, b.info.DeviceNumber),
			cmp.Compare(a.info.NetworkCard, b.info.NetworkCard), cmp.Compare(a.info.ID, b.info.ID))
	})
	return out
}

// groups returns the packing groups of one kind on an ENI, each as its
// addresses in ascending order.
func (e *refENI) groups(prefix bool) [][]netip.Addr {
	if !prefix {
		var g []netip.Addr
		for a := range e.ips {
			g = append(g, a)
		}
		slices.SortFunc(g, netip.Addr.Compare)
		return [][]netip.Addr{g}
	}
	var ps []netip.Prefix
	for p := range e.prefixes {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	var out [][]netip.Addr
	for _, p := range ps {
		out = append(out, prefixAddrs(p))
	}
	return out
}

func prefixAddrs(p netip.Prefix) []netip.Addr {
	var g []netip.Addr
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		g = append(g, a)
	}
	return g
}

// pick is the placement rule: fullest group with room, earliest in device
// and address order, lowest available address.
func (m *refModel) pick(now time.Time) (netip.Addr, bool) {
	best, bestFill := []netip.Addr(nil), -1
	for _, e := range m.sortedENIs() {
		if !e.info.usable() {
			continue
		}
		for _, g := range e.groups(m.prefixMode) {
			fill, room := 0, false
			for _, a := range g {
				if _, ok := m.byAddr[a]; ok {
					fill++
				} else if !m.cooling(a, now) {
					room = true
				}
			}
			if room && fill > bestFill {
				best, bestFill = g, fill
			}
		}
	}
	for _, a := range best {
		if m.available(a, now) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (m *refModel) release(k core.PodKey, now time.Time) {
	a := m.byKey[k]
	delete(m.byKey, k)
	delete(m.byAddr, a)
	if m.cooldown > 0 {
		m.coolUntil[a] = now.Add(m.cooldown)
	}
}

// dropAddrs forgets addresses whose block went away.
func (m *refModel) dropAddrs(addrs []netip.Addr) {
	for _, a := range addrs {
		if k, ok := m.byAddr[a]; ok {
			delete(m.byKey, k)
			delete(m.byAddr, a)
		}
		delete(m.coolUntil, a)
	}
}

func (m *refModel) eniAddrs(e *refENI) []netip.Addr {
	var out []netip.Addr
	for a := range e.ips {
		out = append(out, a)
	}
	for p := range e.prefixes {
		out = append(out, prefixAddrs(p)...)
	}
	return out
}

// usage computes what Store.Usage must report for an ENI.
func (m *refModel) usage(e *refENI, now time.Time) core.ENIUsage {
	u := core.ENIUsage{IPs: len(e.ips), Prefixes: len(e.prefixes)}
	count := func(g []netip.Addr) (assigned, cooling int) {
		for _, a := range g {
			if _, ok := m.byAddr[a]; ok {
				assigned++
			} else if m.cooling(a, now) {
				cooling++
			}
		}
		return
	}
	var blocks [2][][]netip.Addr // [IP blocks, prefix blocks]
	for a := range e.ips {
		blocks[0] = append(blocks[0], []netip.Addr{a})
	}
	for p := range e.prefixes {
		blocks[1] = append(blocks[1], prefixAddrs(p))
	}
	active := 0
	if m.prefixMode {
		active = 1
	}
	for k, bs := range blocks {
		for _, b := range bs {
			as, co := count(b)
			if k == active {
				u.Total += len(b)
				u.Assigned += as
				u.Cooling += co
				if as+co == 0 {
					u.FreeBlocks++
				}
			} else {
				u.InactiveBlocks++
				u.InactiveAssigned += as
				if as+co == 0 {
					u.InactiveFreeBlocks++
				}
			}
		}
	}
	return u
}

type propertyRun struct {
	t   *testing.T
	rnd *rand.Rand
	s   *Store
	m   *refModel
	now time.Time
	op  int
	// keys handed out so far, to pick existing ones from
	nextKey int
}

func (r *propertyRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("op %d: %s", r.op, fmt.Sprintf(format, args...))
}

// randomKey mostly returns a key that holds an address, sometimes one that
// held one before, sometimes one never seen.
func (r *propertyRun) randomKey() core.PodKey {
	switch n := r.rnd.Intn(10); {
	case n == 0 || r.nextKey == 0:
		return key(1_000_000 + r.rnd.Intn(1000))
	case n < 3 || len(r.m.byKey) == 0:
		return key(r.rnd.Intn(r.nextKey))
	default:
		live := make([]core.PodKey, 0, len(r.m.byKey))
		for k := range r.m.byKey {
			live = append(live, k)
		}
		slices.SortFunc(live, func(a, b core.PodKey) int { return cmp.Compare(a.ContainerID, b.ContainerID) })
		return live[r.rnd.Intn(len(live))]
	}
}

func (r *propertyRun) randomENI() *refENI {
	es := r.m.sortedENIs()
	if len(es) == 0 {
		return nil
	}
	return es[r.rnd.Intn(len(es))]
}

func (r *propertyRun) step() {
	t := r.t
	t.Helper()
	m, s, rnd := r.m, r.s, r.rnd
	if rnd.Intn(3) == 0 {
		r.now = r.now.Add(time.Duration(rnd.Intn(8000)) * time.Millisecond)
	}
	now := r.now
	switch op := rnd.Intn(100); {
	case op < 35: // Assign a new pod
		k := key(r.nextKey)
		r.nextKey++
		want, ok := m.pick(now)
		a, err := s.Assign(k, podRef(0), now)
		if !ok {
			if !errors.Is(err, core.ErrNoAvailableAddress) {
				r.fatalf("assign: %v, %v; model has no address", a, err)
			}
			return
		}
		if err != nil || a.Addr != want || a.Key != k {
			r.fatalf("assign got %v (%v), model picks %v", a.Addr, err, want)
		}
		if !slices.Contains(m.eniAddrs(m.enis[a.ENI]), a.Addr) {
			r.fatalf("assignment names ENI %s, which lacks %v", a.ENI, a.Addr)
		}
		m.byKey[k] = want
		m.byAddr[want] = k
	case op < 40: // Retried ADD, or Lookup
		k := r.randomKey()
		want, ok := m.byKey[k]
		got, found := s.Lookup(k)
		if found != ok || (ok && got.Addr != want) {
			r.fatalf("lookup %v: %v %v, model %v %v", k, got.Addr, found, want, ok)
		}
		if ok {
			a, err := s.Assign(k, podRef(1), now)
			if err != nil || a.Addr != want {
				r.fatalf("retried assign %v: %v %v, want %v", k, a.Addr, err, want)
			}
		}
	case op < 68: // Release
		k := r.randomKey()
		want, ok := m.byKey[k]
		a, err := s.Release(k, now)
		if !ok {
			if !errors.Is(err, core.ErrUnknownPod) {
				r.fatalf("release of unknown %v: %v", k, err)
			}
			return
		}
		if err != nil || a.Addr != want {
			r.fatalf("release %v: %v %v, want %v", k, a.Addr, err, want)
		}
		m.release(k, now)
	case op < 74: // Add secondary IPs
		e := r.randomENI()
		if e == nil {
			return
		}
		base := e.info.SubnetCIDR.Addr().As4()
		var add []netip.Addr
		for range 1 + rnd.Intn(4) {
			base[3] = byte(2 + rnd.Intn(40))
			add = append(add, netip.AddrFrom4(base))
		}
		n, err := s.AddIPs(e.info.ID, add)
		if err != nil {
			r.fatalf("add IPs %v: %v", add, err)
		}
		fresh := 0
		for _, a := range add {
			if !e.ips[a] {
				e.ips[a] = true
				fresh++
			}
		}
		if n != fresh {
			r.fatalf("added %d, model %d", n, fresh)
		}
	case op < 80: // Add a prefix
		e := r.randomENI()
		if e == nil {
			return
		}
		b := e.info.SubnetCIDR.Addr().As4()
		b[2], b[3] = 1, byte(16*rnd.Intn(8))
		p := netip.PrefixFrom(netip.AddrFrom4(b), 28)
		n, err := s.AddPrefixes(e.info.ID, []netip.Prefix{p})
		if err != nil || n != map[bool]int{true: 0, false: 1}[e.prefixes[p]] {
			r.fatalf("add prefix %v: %d %v", p, n, err)
		}
		e.prefixes[p] = true
	case op < 84: // Remove a block
		e := r.randomENI()
		if e == nil {
			return
		}
		var blocks []netip.Prefix
		for a := range e.ips {
			blocks = append(blocks, netip.PrefixFrom(a, 32))
		}
		for p := range e.prefixes {
			blocks = append(blocks, p)
		}
		if len(blocks) == 0 {
			return
		}
		slices.SortFunc(blocks, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		b := blocks[rnd.Intn(len(blocks))]
		force := rnd.Intn(2) == 0
		addrs := prefixAddrs(b)
		var held []netip.Addr
		for _, a := range addrs {
			if _, ok := m.byAddr[a]; ok {
				held = append(held, a)
			}
		}
		got, err := s.RemoveBlock(e.info.ID, b, force)
		if len(held) > 0 && !force {
			if !errors.Is(err, core.ErrAddressInUse) {
				r.fatalf("remove busy %v: %v", b, err)
			}
			return
		}
		if err != nil || len(got) != len(held) {
			r.fatalf("remove %v: %v %v, model held %v", b, got, err, held)
		}
		for i, a := range got {
			if a.Addr != held[i] || a.Key != m.byAddr[a.Addr] {
				r.fatalf("remove %v returned %v, model %v", b, got, held)
			}
		}
		m.dropAddrs(addrs)
		delete(e.ips, b.Addr())
		delete(e.prefixes, b)
	case op < 89: // Take free blocks
		e := r.randomENI()
		if e == nil {
			return
		}
		k := core.BlockKind(rnd.Intn(2))
		n := rnd.Intn(4)
		// What the model allows, highest first.
		var free []netip.Prefix
		if k == core.BlockIP {
			for a := range e.ips {
				if m.available(a, now) {
					free = append(free, netip.PrefixFrom(a, 32))
				}
			}
		} else {
			for p := range e.prefixes {
				if !slices.ContainsFunc(prefixAddrs(p), func(a netip.Addr) bool { return !m.available(a, now) }) {
					free = append(free, p)
				}
			}
		}
		slices.SortFunc(free, func(a, b netip.Prefix) int { return b.Addr().Compare(a.Addr()) })
		want := free[:min(n, len(free))]
		got := s.TakeFreeBlocks(e.info.ID, k, n, now)
		if !slices.Equal(got, want) {
			r.fatalf("took %v, model %v", got, want)
		}
		for _, b := range got {
			m.dropAddrs(prefixAddrs(b))
			delete(e.ips, b.Addr())
			delete(e.prefixes, b)
		}
	case op < 91:
		m.prefixMode = !m.prefixMode
		s.SetPrefixMode(m.prefixMode)
	case op < 93:
		e := r.randomENI()
		if e == nil {
			return
		}
		e.info.Excluded = !e.info.Excluded
		if err := s.SetExcluded(e.info.ID, e.info.Excluded); err != nil {
			r.fatalf("exclude: %v", err)
		}
	case op < 96: // Add an ENI
		dev, card := rnd.Intn(4), rnd.Intn(2)
		id := core.ENIID(fmt.Sprintf("eni-%d-%d", dev, card))
		info := ENIInfo{
			ID: id, DeviceNumber: dev, NetworkCard: card,
			SubnetCIDR: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(2*dev + card), 0, 0}), 16),
			PrimaryIP:  netip.AddrFrom4([4]byte{10, byte(2*dev + card), 0, 1}),
			Trunk:      rnd.Intn(10) == 0,
		}
		err := s.AddENI(info, now)
		if _, dup := m.enis[id]; dup {
			if !errors.Is(err, core.ErrDuplicate) {
				r.fatalf("duplicate ENI: %v", err)
			}
			return
		}
		if err != nil {
			r.fatalf("add ENI: %v", err)
		}
		m.enis[id] = &refENI{info: info, ips: map[netip.Addr]bool{}, prefixes: map[netip.Prefix]bool{}}
	case op < 97: // Remove an ENI
		e := r.randomENI()
		if e == nil {
			return
		}
		force := rnd.Intn(2) == 0
		addrs := m.eniAddrs(e)
		busy := slices.ContainsFunc(addrs, func(a netip.Addr) bool { _, ok := m.byAddr[a]; return ok })
		_, err := s.RemoveENI(e.info.ID, force)
		if busy && !force {
			if !errors.Is(err, core.ErrENIInUse) {
				r.fatalf("remove busy ENI: %v", err)
			}
			return
		}
		if err != nil {
			r.fatalf("remove ENI: %v", err)
		}
		m.dropAddrs(addrs)
		delete(m.enis, e.info.ID)
	default: // Restart: snapshot, rebuild from the model's topology, restore
		snap := s.Snapshot(now)
		ns := New(Config{Cooldown: m.cooldown, PrefixMode: m.prefixMode})
		for _, e := range m.sortedENIs() {
			must(t, ns.AddENI(e.info, now))
			var add []netip.Addr
			for a := range e.ips {
				add = append(add, a)
			}
			_, err := ns.AddIPs(e.info.ID, add)
			must(t, err)
			var ps []netip.Prefix
			for p := range e.prefixes {
				ps = append(ps, p)
			}
			_, err = ns.AddPrefixes(e.info.ID, ps)
			must(t, err)
		}
		rep, err := ns.Restore(snap, now)
		if err != nil || len(rep.Dropped) != 0 || rep.Restored != len(m.byKey) {
			r.fatalf("restore: %+v %v", rep, err)
		}
		if !slices.Equal(ns.Assignments(), s.Assignments()) {
			r.fatalf("assignments differ after restore")
		}
		r.s = ns
	}
}

// check compares the store with the model.
func (r *propertyRun) check() {
	r.t.Helper()
	m, s, now := r.m, r.s, r.now
	checkConsistent(r.t, s, now)
	got := s.Assignments()
	if len(got) != len(m.byKey) {
		r.fatalf("%d assignments, model %d", len(got), len(m.byKey))
	}
	for _, a := range got {
		if m.byKey[a.Key] != a.Addr {
			r.fatalf("%v holds %v, model %v", a.Key, a.Addr, m.byKey[a.Key])
		}
		if m.cooling(a.Addr, now) {
			// An address goes from cooling to assigned only once its
			// period is over, so the two never overlap.
			r.fatalf("assigned address %v is cooling", a.Addr)
		}
	}
	es := m.sortedENIs()
	usage := s.Usage(now).ENIs
	if len(usage) != len(es) {
		r.fatalf("%d ENIs in usage, model %d", len(usage), len(es))
	}
	var want Stats
	want.ENIs, want.Pods = len(es), len(m.byKey)
	for i, e := range es {
		u := usage[i]
		w := m.usage(e, now)
		if u.ID != e.info.ID || !sameCounts(u, w) || u.Free() < 0 {
			r.fatalf("usage of %s\n got %+v\nwant %+v", e.info.ID, u, w)
		}
		want.IPs += len(e.ips)
		want.Prefixes += len(e.prefixes)
		if e.info.usable() {
			want.Total += w.Total
			want.Assigned += w.Assigned
			want.Cooling += w.Cooling
		}
		v, ok := s.ENI(e.info.ID)
		if !ok || len(v.IPs) != len(e.ips) || len(v.Prefixes) != len(e.prefixes) {
			r.fatalf("view of %s: %+v", e.info.ID, v)
		}
		for _, a := range v.IPs {
			if !e.ips[a] {
				r.fatalf("%s has IP %v the model lacks", e.info.ID, a)
			}
		}
		for _, p := range v.Prefixes {
			if !e.prefixes[p] {
				r.fatalf("%s has prefix %v the model lacks", e.info.ID, p)
			}
		}
	}
	want.Free = want.Total - want.Assigned - want.Cooling
	if st := s.Stats(now); st != want {
		r.fatalf("stats %+v, model %+v", st, want)
	}
}

func TestRandomOperationsAgainstModel(t *testing.T) {
	for _, tc := range []struct {
		seed     int64
		cooldown time.Duration
	}{{1, 30 * time.Second}, {2, 0}, {3, 5 * time.Second}, {4, time.Minute}} {
		t.Run(fmt.Sprintf("seed=%d,cooldown=%v", tc.seed, tc.cooldown), func(t *testing.T) {
			ops := 5000
			if testing.Short() {
				ops = 1000
			}
			r := &propertyRun{t: t, rnd: rand.New(rand.NewSource(tc.seed)), s: New(Config{Cooldown: tc.cooldown}),
				m: newRefModel(tc.cooldown), now: t0}
			for r.op = 0; r.op < ops; r.op++ {
				r.step()
				r.check()
			}
			if len(r.m.byKey) == 0 && r.nextKey < 100 {
				t.Fatalf("run exercised too little: %d pods ever", r.nextKey)
			}
		})
	}
}
