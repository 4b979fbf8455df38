package datastore

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

func snapshotTopology() []eniSpec {
	return []eniSpec{
		{dev: 0, ips: seqIPs("10.0.0.10", 4), prefixes: []string{"10.0.1.0/28"}},
		{dev: 1, ips: seqIPs("10.1.0.10", 4), v6: []string{"2001:db8:1::/80"}},
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	const period = 30 * time.Second
	cfg := Config{Cooldown: period}
	src := build(t, cfg, snapshotTopology()...)
	snapAt := t0.Add(time.Hour)
	// Pods 0-5 on IPs; pod 0 released long ago, pod 1 two seconds before
	// the snapshot; two pods on the prefix in prefix mode.
	for i := range 6 {
		assign(t, src, i, t0)
	}
	release(t, src, 0, t0)
	release(t, src, 1, snapAt.Add(-2*time.Second))
	src.SetPrefixMode(true)
	assign(t, src, 10, t0)
	assign(t, src, 11, t0)
	snap := src.Snapshot(snapAt)
	if len(snap.Allocations) != 6 {
		t.Fatalf("allocations %v", snap.Allocations)
	}
	wantCool := []core.Cooldown{{Addr: ip("10.0.0.11"), ReleasedAt: snapAt.Add(-2 * time.Second)}}
	if !reflect.DeepEqual(snap.Cooldowns, wantCool) {
		t.Fatalf("cooldowns %v, want %v", snap.Cooldowns, wantCool)
	}
	if !slices.IsSortedFunc(snap.Allocations, func(a, b core.Allocation) int { return a.Addr.Compare(b.Addr) }) {
		t.Fatal("allocations not sorted")
	}

	// A restart: same ENIs, same mode, two seconds later.
	dst := build(t, Config{Cooldown: period, PrefixMode: true}, snapshotTopology()...)
	restoreAt := snapAt.Add(2 * time.Second)
	rep, err := dst.Restore(snap, restoreAt)
	must(t, err)
	if rep.Restored != 6 || len(rep.Dropped) != 0 || rep.CooldownsRestored != 1 || rep.CooldownsIgnored != 0 {
		t.Fatalf("report %+v", rep)
	}
	if !reflect.DeepEqual(dst.Assignments(), src.Assignments()) {
		t.Fatalf("assignments differ:\n%v\n%v", dst.Assignments(), src.Assignments())
	}
	if got := dst.Snapshot(snapAt); !reflect.DeepEqual(got, snap) {
		t.Fatalf("snapshot after restore %+v, want %+v", got, snap)
	}
	checkConsistent(t, dst, restoreAt)

	// The address released 2 s before the snapshot is still cooling...
	dst.SetPrefixMode(false)
	if st := dst.Stats(restoreAt); st.Cooling != 1 || st.Assigned != 4 || st.Free != 3 {
		t.Fatalf("stats %+v", st)
	}
	// ...so the next pod skips it (eni-0 keeps .12 .13 and gets .10 back)...
	if a := assign(t, dst, 20, restoreAt); a.Addr != ip("10.0.0.10") {
		t.Fatalf("got %v", a.Addr)
	}
	// ...and eni-0 is now full but for the cooling one: the next pod goes
	// to eni-1 until the period is over.
	if a := assign(t, dst, 21, restoreAt); a.ENI != "eni-1" {
		t.Fatalf("got %+v", a)
	}
	release(t, dst, 21, restoreAt) // keep eni-1 empty; the release cools there
	justBefore := snapAt.Add(-2 * time.Second).Add(period - time.Nanosecond)
	if a := assign(t, dst, 22, justBefore); a.ENI != "eni-1" {
		t.Fatalf("got %+v", a)
	}
	release(t, dst, 22, justBefore)
	if a := assign(t, dst, 23, snapAt.Add(-2*time.Second).Add(period)); a.Addr != ip("10.0.0.11") {
		t.Fatalf("after the period got %v", a.Addr)
	}
	checkConsistent(t, dst, snapAt.Add(period))
}

func TestRestoreDrops(t *testing.T) {
	alloc := func(n int, addr string) core.Allocation {
		return core.Allocation{Key: key(n), Pod: podRef(n), Addr: ip(addr), AssignedAt: t0}
	}
	snap := core.Snapshot{
		Allocations: []core.Allocation{
			alloc(1, "10.0.0.10"),
			alloc(2, "10.9.9.9"),                 // no block
			alloc(3, "10.0.0.10"),                // address taken by pod 1
			alloc(1, "10.0.0.11"),                // key already placed elsewhere
			alloc(1, "10.0.0.10"),                // exact repeat: harmless
			alloc(4, "::ffff:10.0.1.5"),          // mapped form of a prefix address
			alloc(5, "2001:db8:1::"),             // the /80's own address
			alloc(6, "2001:db8:1::ab:cdef:1234"), // deep inside the /80
			alloc(7, "2001:db8:7::1"),            // no /80
			alloc(8, "2001:db8:1::ab:cdef:1234"), // taken by pod 6
			{Key: key(9)},                        // zero address
		},
		Cooldowns: []core.Cooldown{
			{Addr: ip("10.0.0.12"), ReleasedAt: t0.Add(-time.Second)},
			{Addr: ip("10.0.0.12"), ReleasedAt: t0.Add(-5 * time.Second)}, // older duplicate
			{Addr: ip("10.0.0.13"), ReleasedAt: t0.Add(-10 * time.Second)},
			{Addr: ip("10.0.0.13"), ReleasedAt: t0.Add(-3 * time.Second)}, // newer duplicate wins
			{Addr: ip("10.0.0.10"), ReleasedAt: t0},                       // held by pod 1
			{Addr: ip("10.0.9.9"), ReleasedAt: t0},                        // unknown
			{Addr: ip("10.1.0.10"), ReleasedAt: t0.Add(-time.Hour)},       // long over
			{Addr: ip("2001:db8:1::5"), ReleasedAt: t0.Add(-time.Second)},
		},
	}
	s := build(t, Config{Cooldown: 30 * time.Second}, snapshotTopology()...)
	rep, err := s.Restore(snap, t0)
	must(t, err)
	if rep.Restored != 4 {
		t.Fatalf("restored %d, report %+v", rep.Restored, rep)
	}
	wantDropped := []struct {
		n      int
		reason error
	}{{2, core.ErrUnknownAddress}, {3, core.ErrDuplicate}, {1, core.ErrDuplicate}, {5, core.ErrUnknownAddress},
		{7, core.ErrUnknownAddress}, {8, core.ErrDuplicate}, {9, core.ErrUnknownAddress}}
	if len(rep.Dropped) != len(wantDropped) || len(rep.DroppedReasons) != len(wantDropped) {
		t.Fatalf("dropped %v (%v)", rep.Dropped, rep.DroppedReasons)
	}
	for i, w := range wantDropped {
		if rep.Dropped[i].Key != key(w.n) || !errors.Is(rep.DroppedReasons[i], w.reason) {
			t.Fatalf("drop %d: %v for %v, want pod %d for %v", i, rep.Dropped[i], rep.DroppedReasons[i], w.n, w.reason)
		}
	}
	if rep.CooldownsRestored != 5 || rep.CooldownsIgnored != 3 {
		t.Fatalf("cooldowns restored %d ignored %d", rep.CooldownsRestored, rep.CooldownsIgnored)
	}
	if a, ok := s.Lookup(key(4)); !ok || a.Addr != ip("10.0.1.5") {
		t.Fatalf("pod 4 at %v", a.Addr)
	}
	// Cooling: .12 until t0+29s, .13 until t0+27s, the IPv6 one until +29s.
	for _, tc := range []struct {
		at      time.Duration
		cooling int
	}{{0, 3}, {26 * time.Second, 3}, {27 * time.Second, 2}, {29 * time.Second, 0}} {
		u := s.Usage(t0.Add(tc.at))
		if got := u.ENIs[0].Cooling + s.mustENI(t, "eni-1").Cooling; got != tc.cooling {
			t.Fatalf("at +%v: %d cooling, want %d", tc.at, got, tc.cooling)
		}
		checkConsistent(t, s, t0.Add(tc.at))
	}
}

func (s *Store) mustENI(t *testing.T, id core.ENIID) ENIView {
	t.Helper()
	v, ok := s.ENI(id)
	if !ok {
		t.Fatalf("no ENI %s", id)
	}
	return v
}

func TestRestoreIPv6Offsets(t *testing.T) {
	s := build(t, Config{Family: core.IPv6, Cooldown: time.Minute}, eniSpec{dev: 0, v6: []string{"2001:db8::/80"}})
	snap := core.Snapshot{
		Allocations: []core.Allocation{
			{Key: key(1), Addr: ip("2001:db8::2")},
			{Key: key(2), Addr: ip("2001:db8::ffff:ffff:ffff")}, // the last offset
		},
		Cooldowns: []core.Cooldown{{Addr: ip("2001:db8::1"), ReleasedAt: t0}},
	}
	rep, err := s.Restore(snap, t0)
	must(t, err)
	if rep.Restored != 2 || rep.CooldownsRestored != 1 {
		t.Fatalf("report %+v", rep)
	}
	// New pods fill the gaps from the bottom: ::1 cools, ::2 is taken.
	got := addrsOf(t, s, 10, 2, t0)
	if !slices.Equal(got, []string{"2001:db8::3", "2001:db8::4"}) {
		t.Fatalf("got %v", got)
	}
	if a := assign(t, s, 20, t0.Add(time.Minute)); a.Addr != ip("2001:db8::1") {
		t.Fatalf("got %v", a.Addr)
	}
	checkConsistent(t, s, t0.Add(time.Minute))
	if snap2 := s.Snapshot(t0.Add(time.Minute)); len(snap2.Allocations) != 5 || len(snap2.Cooldowns) != 0 {
		t.Fatalf("snapshot %+v", snap2)
	}
}

func TestRestoreIntoBusyStore(t *testing.T) {
	// Restoring twice, or over live state, keeps the first placement.
	s := build(t, Config{}, snapshotTopology()...)
	assign(t, s, 1, t0)
	snap := s.Snapshot(t0)
	rep, err := s.Restore(snap, t0)
	must(t, err)
	if rep.Restored != 1 || len(rep.Dropped) != 0 {
		t.Fatalf("report %+v", rep)
	}
	snap.Allocations[0].Key = key(2)
	rep, err = s.Restore(snap, t0)
	must(t, err)
	if rep.Restored != 0 || len(rep.Dropped) != 1 || !errors.Is(rep.DroppedReasons[0], core.ErrDuplicate) {
		t.Fatalf("report %+v", rep)
	}
	checkConsistent(t, s, t0)
}
