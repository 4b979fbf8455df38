package datastore

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }
func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func key(n int) core.PodKey {
	return core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("c%d", n), IfName: "eth0"}
}
func podRef(n int) core.PodRef { return core.PodRef{Namespace: "ns", Name: fmt.Sprintf("pod-%d", n)} }
func ips(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = ip(s)
	}
	return out
}
func pfxs(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = pfx(s)
	}
	return out
}

// eniSpec is a test ENI: device d in subnet 10.d.0.0/16, primary 10.d.0.1.
type eniSpec struct {
	dev      int
	ips      []string
	prefixes []string
	v6       []string
	flags    func(*ENIInfo)
}

func eniID(dev int) core.ENIID { return core.ENIID(fmt.Sprintf("eni-%d", dev)) }

func infoFor(dev int) ENIInfo {
	return ENIInfo{
		ID:           eniID(dev),
		DeviceNumber: dev,
		SubnetCIDR:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(dev), 0, 0}), 16),
		PrimaryIP:    netip.AddrFrom4([4]byte{10, byte(dev), 0, 1}),
		Primary:      dev == 0,
	}
}

func build(t testing.TB, cfg Config, specs ...eniSpec) *Store {
	t.Helper()
	s := New(cfg)
	for _, sp := range specs {
		info := infoFor(sp.dev)
		if sp.flags != nil {
			sp.flags(&info)
		}
		must(t, s.AddENI(info, t0))
		if len(sp.ips) > 0 {
			_, err := s.AddIPs(info.ID, ips(sp.ips...))
			must(t, err)
		}
		if len(sp.prefixes) > 0 {
			_, err := s.AddPrefixes(info.ID, pfxs(sp.prefixes...))
			must(t, err)
		}
		if len(sp.v6) > 0 {
			_, err := s.AddIPv6Prefixes(info.ID, pfxs(sp.v6...))
			must(t, err)
		}
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func assign(t testing.TB, s *Store, n int, now time.Time) Assignment {
	t.Helper()
	a, err := s.Assign(key(n), podRef(n), now)
	if err != nil {
		t.Fatalf("assign pod %d: %v", n, err)
	}
	return a
}

func release(t testing.TB, s *Store, n int, now time.Time) Assignment {
	t.Helper()
	a, err := s.Release(key(n), now)
	if err != nil {
		t.Fatalf("release pod %d: %v", n, err)
	}
	return a
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// seqIPs returns n addresses counting up from start.
func seqIPs(start string, n int) []string {
	out := make([]string, n)
	a := ip(start)
	for i := range out {
		out[i] = a.String()
		a = a.Next()
	}
	return out
}

// checkConsistent verifies the store's internal counters against a recount
// from its slots. It is the white-box half of every test's invariants.
func checkConsistent(t testing.TB, s *Store, now time.Time) {
	t.Helper()
	s.expire(now)
	seen := map[netip.Addr]core.PodKey{}
	for k, sl := range s.keys {
		if sl.state != stAssigned || sl.key != k {
			t.Fatalf("key %v maps to slot %v in state %d with key %v", k, sl.addr, sl.state, sl.key)
		}
		if other, dup := seen[sl.addr]; dup {
			t.Fatalf("address %v held by %v and %v", sl.addr, k, other)
		}
		seen[sl.addr] = k
	}
	var assignedSlots int
	for _, e := range s.enis {
		var want [numKinds]counts
		check := func(g *group) {
			var na, nc int
			for i, sl := range g.slots {
				if sl.grp != g || sl.pos != i {
					t.Fatalf("slot %v misplaced", sl.addr)
				}
				free := g.avail[i>>6]&(1<<(uint(i)&63)) != 0
				if free != (sl.state == stFree) {
					t.Fatalf("slot %v state %d but avail bit %v", sl.addr, sl.state, free)
				}
				switch sl.state {
				case stAssigned:
					na++
				case stCooling:
					nc++
					if !now.Before(sl.releasedAt.Add(s.cfg.Cooldown)) {
						t.Fatalf("slot %v still cooling at %v, released %v", sl.addr, now, sl.releasedAt)
					}
				case stDead:
					t.Fatalf("dead slot %v in a live group", sl.addr)
				}
				if g.kind == kindIP {
					want[kindIP].blocks++
					want[kindIP].total++
					if sl.state == stFree {
						want[kindIP].freeBlocks++
					}
				}
				if s.byAddr[sl.addr] != sl {
					t.Fatalf("byAddr[%v] stale", sl.addr)
				}
			}
			for off, sl := range g.used {
				if sl.off != off || sl.grp != g || g.free.contains(off) {
					t.Fatalf("IPv6 slot %v inconsistent", sl.addr)
				}
				switch sl.state {
				case stAssigned:
					na++
				case stCooling:
					nc++
				default:
					t.Fatalf("IPv6 slot %v in state %d", sl.addr, sl.state)
				}
			}
			if na != g.nAssigned || nc != g.nCooling {
				t.Fatalf("group %v of %s: counted %d/%d, stored %d/%d", g.prefix, e.info.ID, na, nc, g.nAssigned, g.nCooling)
			}
			assignedSlots += na
			c := &want[g.kind]
			if g.kind != kindIP {
				c.blocks++
				c.total += g.capacity
				if na+nc == 0 {
					c.freeBlocks++
				}
			}
			c.assigned += na
			c.cooling += nc
			wantLevel := -1
			if g.kind == s.active && g.available() > 0 && e.info.usable() {
				wantLevel = na
			}
			if g.level != wantLevel || (wantLevel >= 0 && !s.lv[wantLevel].has(g.idx)) {
				t.Fatalf("group %v of %s at level %d, want %d", g.prefix, e.info.ID, g.level, wantLevel)
			}
		}
		check(e.ips)
		for _, g := range e.prefixes {
			check(g)
		}
		for _, g := range e.v6 {
			check(g)
		}
		if want != e.cnt {
			t.Fatalf("ENI %s counts %+v, recounted %+v", e.info.ID, e.cnt, want)
		}
	}
	if assignedSlots != len(s.keys) {
		t.Fatalf("%d assigned slots, %d keys", assignedSlots, len(s.keys))
	}
	for l := range s.lv {
		if s.lvNE.has(l) == s.lv[l].empty() {
			t.Fatalf("level %d non-empty flag wrong", l)
		}
	}
}
