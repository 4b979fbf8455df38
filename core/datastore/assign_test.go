package datastore

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestAssignIsIdempotent(t *testing.T) {
	s := build(t, Config{}, eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 3)}, eniSpec{dev: 2, ips: seqIPs("10.2.0.10", 3)})
	first := assign(t, s, 1, t0)
	// A retried ADD, later and with other pod metadata, changes nothing.
	again, err := s.Assign(key(1), core.PodRef{Namespace: "x", Name: "y"}, t0.Add(time.Second))
	must(t, err)
	if again != first {
		t.Fatalf("retry got %+v, want %+v", again, first)
	}
	if st := s.Stats(t0); st.Assigned != 1 || st.Pods != 1 {
		t.Fatalf("stats %+v", st)
	}
	want := Assignment{Key: key(1), Pod: podRef(1), Addr: ip("10.0.0.10"), ENI: "eni-0", RouteTable: 254, AssignedAt: t0}
	if first != want {
		t.Fatalf("got %+v, want %+v", first, want)
	}
	if got, ok := s.Lookup(key(1)); !ok || got != want {
		t.Fatalf("lookup %+v %v", got, ok)
	}
	if _, ok := s.Lookup(key(2)); ok {
		t.Fatal("lookup of an unknown key succeeded")
	}
	// Fill eni-0: the next pod lands on device 2, route table 3.
	assign(t, s, 2, t0)
	assign(t, s, 3, t0)
	if a := assign(t, s, 4, t0); a.ENI != "eni-2" || a.DeviceNumber != 2 || a.RouteTable != 3 || a.Addr != ip("10.2.0.10") {
		t.Fatalf("got %+v", a)
	}
}

func TestReleaseErrors(t *testing.T) {
	s := build(t, Config{}, eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 1)})
	_, err := s.Release(key(1), t0)
	wantErr(t, err, core.ErrUnknownPod)
	assign(t, s, 1, t0)
	release(t, s, 1, t0)
	_, err = s.Release(key(1), t0)
	wantErr(t, err, core.ErrUnknownPod)
}

func TestNoAvailableAddress(t *testing.T) {
	tests := []struct {
		name  string
		specs []eniSpec
		cfg   Config
		pods  int // assigned (and released, when release) first
		rel   bool
		want  string
	}{
		{"no ENI", nil, Config{}, 0, false, "0 secondary IP addresses"},
		{"no address", []eniSpec{{dev: 0}}, Config{}, 0, false, "0 secondary IP addresses"},
		{"all assigned", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2)}}, Config{}, 2, false, "2 assigned, 0 cooling"},
		{"all cooling", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2)}}, Config{Cooldown: time.Minute}, 2, true, "0 assigned, 2 cooling"},
		{"prefix mode without prefixes", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2)}}, Config{PrefixMode: true}, 0, false, "0 /28 prefix addresses"},
		{"trunk only", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2), flags: func(i *ENIInfo) { i.Trunk = true }}}, Config{}, 0, false, "0 secondary IP"},
		{"no-manage only", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2), flags: func(i *ENIInfo) { i.NoManage = true }}}, Config{}, 0, false, "0 secondary IP"},
		{"excluded only", []eniSpec{{dev: 0, ips: seqIPs("10.0.0.10", 2), flags: func(i *ENIInfo) { i.Excluded = true }}}, Config{}, 0, false, "0 secondary IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.cfg, tc.specs...)
			for i := range tc.pods {
				assign(t, s, i, t0)
				if tc.rel {
					release(t, s, i, t0)
				}
			}
			_, err := s.Assign(key(99), podRef(99), t0.Add(time.Second))
			wantErr(t, err, core.ErrNoAvailableAddress)
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if _, ok := s.Lookup(key(99)); ok {
				t.Fatal("failed assign left a record")
			}
			checkConsistent(t, s, t0.Add(time.Second))
		})
	}
}

func TestCooldown(t *testing.T) {
	const period = 30 * time.Second
	tests := []struct {
		name     string
		cooldown time.Duration
		// at: offsets after the release at which pod 2 asks, and the
		// address it must get ("" = no address at all).
		at   time.Duration
		want string
	}{
		{"zero cooldown reuses at once", 0, 0, "10.0.0.10"},
		{"negative cooldown is zero", -time.Second, 0, "10.0.0.10"},
		{"cooling is skipped", period, 0, "10.0.0.11"},
		{"still cooling just before the end", period, period - time.Nanosecond, "10.0.0.11"},
		{"free at the end of the period", period, period, "10.0.0.10"},
		{"free after the period", period, time.Hour, "10.0.0.10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, Config{Cooldown: tc.cooldown}, eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 2)})
			assign(t, s, 1, t0)
			rel := t0.Add(time.Second)
			if r := release(t, s, 1, rel); r.Addr != ip("10.0.0.10") || r.Key != key(1) || r.Pod != podRef(1) {
				t.Fatalf("release returned %+v", r)
			}
			now := rel.Add(tc.at)
			st := s.Stats(now)
			cooling := 0
			if tc.cooldown > 0 && tc.at < tc.cooldown {
				cooling = 1
			}
			if st.Cooling != cooling || st.Free != 2-cooling || st.Total != 2 {
				t.Fatalf("stats %+v, want %d cooling", st, cooling)
			}
			if a := assign(t, s, 2, now); a.Addr != ip(tc.want) {
				t.Fatalf("got %v, want %s", a.Addr, tc.want)
			}
			checkConsistent(t, s, now)
		})
	}
}

func TestCoolingIsNotFree(t *testing.T) {
	s := build(t, Config{Cooldown: 30 * time.Second}, eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 1)})
	assign(t, s, 1, t0)
	release(t, s, 1, t0)
	for _, d := range []time.Duration{0, time.Second, 29 * time.Second} {
		if _, err := s.Assign(key(2), podRef(2), t0.Add(d)); err == nil {
			t.Fatalf("cooling address handed out after %v", d)
		}
		u := s.Usage(t0.Add(d)).ENIs[0]
		if u.Cooling != 1 || u.Free() != 0 || u.FreeBlocks != 0 {
			t.Fatalf("usage after %v: %+v", d, u)
		}
	}
	if a := assign(t, s, 2, t0.Add(30*time.Second)); a.Addr != ip("10.0.0.10") {
		t.Fatalf("got %v", a.Addr)
	}
}

func TestCooldownOutOfOrderTime(t *testing.T) {
	// A caller whose clock steps back must not get an address early.
	s := build(t, Config{Cooldown: 10 * time.Second}, eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 3)})
	for i := range 3 {
		assign(t, s, i, t0)
	}
	release(t, s, 0, t0.Add(5*time.Second)) // .10 free at t0+15s
	release(t, s, 1, t0)                    // .11 free at t0+10s
	release(t, s, 2, t0.Add(2*time.Second)) // .12 free at t0+12s
	for _, tc := range []struct {
		at      time.Duration
		cooling int
	}{{9 * time.Second, 3}, {10 * time.Second, 2}, {12 * time.Second, 1}, {14 * time.Second, 1}, {15 * time.Second, 0}} {
		if st := s.Stats(t0.Add(tc.at)); st.Cooling != tc.cooling {
			t.Fatalf("at +%v: %d cooling, want %d", tc.at, st.Cooling, tc.cooling)
		}
		checkConsistent(t, s, t0.Add(tc.at))
	}
}

// addrsOf assigns pods first..first+n-1 and returns their addresses.
func addrsOf(t *testing.T, s *Store, first, n int, now time.Time) []string {
	t.Helper()
	var out []string
	for i := first; i < first+n; i++ {
		out = append(out, assign(t, s, i, now).Addr.String())
	}
	return out
}

func TestDensePackingSecondaryIP(t *testing.T) {
	s := build(t, Config{},
		eniSpec{dev: 2, ips: []string{"10.2.0.12", "10.2.0.10", "10.2.0.11"}},
		eniSpec{dev: 0, ips: []string{"10.0.0.30", "10.0.0.20", "10.0.0.25"}},
		eniSpec{dev: 1, ips: []string{"10.1.0.5", "10.1.0.6", "10.1.0.7"}})
	got := addrsOf(t, s, 0, 9, t0)
	want := []string{
		"10.0.0.20", "10.0.0.25", "10.0.0.30", // device 0 first, lowest address first
		"10.1.0.5", "10.1.0.6", "10.1.0.7",
		"10.2.0.10", "10.2.0.11", "10.2.0.12",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fill order %v, want %v", got, want)
	}
	// Leave eni-0 with 2, eni-1 with 1, eni-2 with 2 pods.
	release(t, s, 1, t0) // 10.0.0.25
	release(t, s, 3, t0) // 10.1.0.5
	release(t, s, 4, t0) // 10.1.0.6
	release(t, s, 6, t0) // 10.2.0.10
	// The fullest ENIs (0 and 2) tie: device 0 wins, then device 2, and
	// only then the emptiest.
	got = addrsOf(t, s, 100, 4, t0)
	want = []string{"10.0.0.25", "10.2.0.10", "10.1.0.5", "10.1.0.6"}
	if !slices.Equal(got, want) {
		t.Fatalf("refill order %v, want %v", got, want)
	}
	checkConsistent(t, s, t0)
}

func TestDensePackingPrefix(t *testing.T) {
	s := build(t, Config{PrefixMode: true},
		eniSpec{dev: 1, prefixes: []string{"10.1.1.16/28"}},
		eniSpec{dev: 0, prefixes: []string{"10.0.1.48/28", "10.0.1.16/28"}})
	got := addrsOf(t, s, 0, 17, t0)
	// The /28's network address is a pod address, as upstream hands out.
	want := append(seqIPs("10.0.1.16", 16), "10.0.1.48")
	if !slices.Equal(got, want) {
		t.Fatalf("fill order %v, want %v", got, want)
	}
	// Release six pods of prefix A (10.0.1.16/28): A keeps 10, B
	// (10.0.1.48/28) has 1, C (on device 1) none. A gets the next six.
	for i := range 6 {
		release(t, s, i, t0)
	}
	got = addrsOf(t, s, 100, 6, t0)
	if !slices.Equal(got, seqIPs("10.0.1.16", 6)) {
		t.Fatalf("refill %v", got)
	}
	// Empty A down to 3 pods (.19 .20 .21): still fuller than B.
	for _, n := range []int{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 100, 101, 102} {
		release(t, s, n, t0)
	}
	got = addrsOf(t, s, 200, 14, t0)
	want = append(append([]string{"10.0.1.16", "10.0.1.17", "10.0.1.18"}, seqIPs("10.0.1.22", 10)...), "10.0.1.49")
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	u := s.Usage(t0)
	if u.ENIs[0].Assigned != 18 || u.ENIs[0].FreeBlocks != 0 || u.ENIs[1].FreeBlocks != 1 {
		t.Fatalf("usage %+v", u)
	}
	checkConsistent(t, s, t0)
}

func TestPrefixNetworkAddress(t *testing.T) {
	s := build(t, Config{PrefixMode: true}, eniSpec{dev: 0, prefixes: []string{"10.0.3.16/28"}})
	got := addrsOf(t, s, 0, 16, t0)
	if !slices.Equal(got, seqIPs("10.0.3.16", 16)) {
		t.Fatalf("got %v", got)
	}
	if got[15] != "10.0.3.31" {
		t.Fatalf("last address %s", got[15])
	}
	_, err := s.Assign(key(16), podRef(16), t0)
	wantErr(t, err, core.ErrNoAvailableAddress)
}

func TestMixedModes(t *testing.T) {
	s := build(t, Config{Cooldown: time.Minute},
		eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 2), prefixes: []string{"10.0.1.0/28"}})
	// Secondary-IP mode: IPs only.
	if got := addrsOf(t, s, 0, 2, t0); !slices.Equal(got, seqIPs("10.0.0.10", 2)) {
		t.Fatalf("got %v", got)
	}
	_, err := s.Assign(key(9), podRef(9), t0)
	wantErr(t, err, core.ErrNoAvailableAddress)
	u := s.Usage(t0).ENIs[0]
	want := core.ENIUsage{IPs: 2, Prefixes: 1, Total: 2, Assigned: 2, InactiveBlocks: 1, InactiveFreeBlocks: 1}
	if !sameCounts(u, want) {
		t.Fatalf("usage %+v", u)
	}

	// Switch to prefixes: IP pods stay, new pods come from the prefix.
	s.SetPrefixMode(true)
	if a, _ := s.Lookup(key(0)); a.Addr != ip("10.0.0.10") {
		t.Fatalf("pod moved to %v", a.Addr)
	}
	if got := addrsOf(t, s, 10, 2, t0); !slices.Equal(got, []string{"10.0.1.0", "10.0.1.1"}) {
		t.Fatalf("got %v", got)
	}
	release(t, s, 1, t0) // an inactive-kind address cools down as usual
	u = s.Usage(t0).ENIs[0]
	want = core.ENIUsage{IPs: 2, Prefixes: 1, Total: 16, Assigned: 2, InactiveBlocks: 2, InactiveAssigned: 1}
	if !sameCounts(u, want) {
		t.Fatalf("usage %+v", u)
	}
	if st := s.Stats(t0); st.Total != 16 || st.Assigned != 2 || st.Free != 14 || st.Pods != 3 || st.Prefixes != 1 || st.IPs != 2 {
		t.Fatalf("stats %+v", st)
	}
	later := t0.Add(time.Minute)
	u = s.Usage(later).ENIs[0]
	want.InactiveFreeBlocks = 1
	if !sameCounts(u, want) {
		t.Fatalf("usage after cooldown %+v", u)
	}

	// And back: the prefix keeps its pods, the free IP gets the new one.
	s.SetPrefixMode(false)
	if a := assign(t, s, 20, later); a.Addr != ip("10.0.0.11") {
		t.Fatalf("got %v", a.Addr)
	}
	_, err = s.Assign(key(21), podRef(21), later)
	wantErr(t, err, core.ErrNoAvailableAddress)
	release(t, s, 10, later)
	u = s.Usage(later).ENIs[0]
	want = core.ENIUsage{IPs: 2, Prefixes: 1, Total: 2, Assigned: 2, InactiveBlocks: 1, InactiveAssigned: 1}
	if !sameCounts(u, want) {
		t.Fatalf("usage %+v", u)
	}
	checkConsistent(t, s, later)
}

// sameCounts compares the numeric fields of two ENIUsage values.
func sameCounts(got, want core.ENIUsage) bool {
	return got.IPs == want.IPs && got.Prefixes == want.Prefixes && got.Total == want.Total &&
		got.Assigned == want.Assigned && got.Cooling == want.Cooling && got.FreeBlocks == want.FreeBlocks &&
		got.InactiveBlocks == want.InactiveBlocks && got.InactiveAssigned == want.InactiveAssigned &&
		got.InactiveFreeBlocks == want.InactiveFreeBlocks
}

func TestUnusableENIs(t *testing.T) {
	tests := []struct {
		name  string
		flags func(*ENIInfo)
	}{
		{"trunk", func(i *ENIInfo) { i.Trunk = true }},
		{"no-manage", func(i *ENIInfo) { i.NoManage = true }},
		{"excluded", func(i *ENIInfo) { i.Excluded = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The unusable ENI has the lowest device number: it would
			// win every tie.
			s := build(t, Config{},
				eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 2), flags: tc.flags},
				eniSpec{dev: 1, ips: seqIPs("10.1.0.10", 2)})
			for _, a := range addrsOf(t, s, 0, 2, t0) {
				if !strings.HasPrefix(a, "10.1.") {
					t.Fatalf("pod on unusable ENI: %s", a)
				}
			}
			_, err := s.Assign(key(9), podRef(9), t0)
			wantErr(t, err, core.ErrNoAvailableAddress)
			st := s.Stats(t0)
			if st.Total != 2 || st.Assigned != 2 || st.Free != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestSetExcluded(t *testing.T) {
	s := build(t, Config{},
		eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 3)},
		eniSpec{dev: 1, ips: seqIPs("10.1.0.10", 3)})
	assign(t, s, 0, t0)
	must(t, s.SetExcluded("eni-0", true))
	must(t, s.SetExcluded("eni-0", true)) // no-op
	if a := assign(t, s, 1, t0); a.ENI != "eni-1" {
		t.Fatalf("pod on excluded ENI: %+v", a)
	}
	// An excluded ENI keeps its pod and can release it.
	if a, ok := s.Lookup(key(0)); !ok || a.ENI != "eni-0" {
		t.Fatal("excluded ENI lost its pod")
	}
	u := s.Usage(t0)
	if !u.ENIs[0].Excluded || u.ENIs[0].Usable() || u.ENIs[0].Assigned != 1 {
		t.Fatalf("usage %+v", u.ENIs[0])
	}
	if total, assigned, _ := u.Totals(); total != 3 || assigned != 1 {
		t.Fatalf("totals %d %d", total, assigned)
	}
	release(t, s, 0, t0)
	must(t, s.SetExcluded("eni-0", false))
	// Back in use, device 0 ties with eni-1's single pod... eni-1 has 1
	// pod and eni-0 none: the fuller one wins.
	if a := assign(t, s, 2, t0); a.ENI != "eni-1" {
		t.Fatalf("got %+v", a)
	}
	assign(t, s, 3, t0) // eni-1 full now
	if a := assign(t, s, 4, t0); a.ENI != "eni-0" {
		t.Fatalf("got %+v", a)
	}
	checkConsistent(t, s, t0)
}

func TestIPv6(t *testing.T) {
	const period = 30 * time.Second
	s := build(t, Config{Family: core.IPv6, Cooldown: period},
		eniSpec{dev: 1, v6: []string{"2001:db8:1::/80"}},
		eniSpec{dev: 0, v6: []string{"2001:db8:0:0:2::/80", "2001:db8::/80"}, ips: seqIPs("10.0.0.10", 2)})
	got := addrsOf(t, s, 0, 3, t0)
	// Never the prefix's first address; lowest /80 of device 0 first.
	if !slices.Equal(got, []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}) {
		t.Fatalf("got %v", got)
	}
	release(t, s, 1, t0)
	if a := assign(t, s, 10, t0); a.Addr != ip("2001:db8::4") {
		t.Fatalf("cooling address reused: %v", a.Addr)
	}
	st := s.Stats(t0)
	if st.Assigned != 3 || st.Cooling != 1 || st.IPv6Prefixes != 3 || st.Total != 3*v6Capacity || st.Free != st.Total-4 {
		t.Fatalf("stats %+v", st)
	}
	later := t0.Add(period)
	if a := assign(t, s, 11, later); a.Addr != ip("2001:db8::2") {
		t.Fatalf("expired address not reused first: %v", a.Addr)
	}
	if a := assign(t, s, 12, later); a.Addr != ip("2001:db8::5") {
		t.Fatalf("got %v", a.Addr)
	}
	// Release all but one: the /80 with a pod keeps getting them, the
	// other /80s stay empty, as would the IPv4 addresses.
	for _, n := range []int{0, 2, 10, 11} {
		release(t, s, n, later)
	}
	if a := assign(t, s, 13, later); a.Addr != ip("2001:db8::6") {
		t.Fatalf("got %v", a.Addr)
	}
	u := s.Usage(later)
	if u.ENIs[0].Assigned != 2 || u.ENIs[0].Cooling != 4 || u.ENIs[0].FreeBlocks != 1 || u.ENIs[0].InactiveBlocks != 2 || u.ENIs[1].FreeBlocks != 1 {
		t.Fatalf("usage %+v", u)
	}
	checkConsistent(t, s, later)
	// A second-card ENI with a /80 of its own, and removal of the busy /80.
	allocs, err := s.RemoveBlock("eni-0", pfx("2001:db8::/80"), true)
	must(t, err)
	if len(allocs) != 2 {
		t.Fatalf("dropped %v", allocs)
	}
	if a := assign(t, s, 14, later); a.Addr != ip("2001:db8:0:0:2::1") {
		t.Fatalf("got %v", a.Addr)
	}
	checkConsistent(t, s, later.Add(period))
}

func TestTakeFreeBlocks(t *testing.T) {
	const period = 30 * time.Second
	tests := []struct {
		name   string
		prefix bool
		kind   core.BlockKind
		n      int
		at     time.Duration
		want   []string
	}{
		{"IPs, highest first", false, core.BlockIP, 2, 0, []string{"10.0.0.15/32", "10.0.0.14/32"}},
		{"IPs, all free ones", false, core.BlockIP, 10, 0, []string{"10.0.0.15/32", "10.0.0.14/32"}},
		{"IPs, cooldown over", false, core.BlockIP, 10, period, []string{"10.0.0.15/32", "10.0.0.14/32", "10.0.0.11/32"}},
		{"IPs, none asked", false, core.BlockIP, 0, 0, nil},
		{"prefixes", true, core.BlockPrefix, 10, 0, []string{"10.0.1.64/28", "10.0.1.32/28"}},
		{"prefixes, cooldown over", true, core.BlockPrefix, 10, period, []string{"10.0.1.64/28", "10.0.1.32/28", "10.0.1.16/28"}},
		{"prefixes, one", true, core.BlockPrefix, 1, 0, []string{"10.0.1.64/28"}},
		{"inactive kind", true, core.BlockIP, 10, 0, []string{"10.0.0.15/32", "10.0.0.14/32"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, Config{Cooldown: period},
				eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 6), prefixes: []string{"10.0.1.0/28", "10.0.1.16/28", "10.0.1.32/28", "10.0.1.64/28"}})
			// IPs: .10 .12 .13 assigned, .11 cooling, .14 .15 free.
			// Prefixes: .0/28 assigned, .16/28 cooling, .32 and .64 free.
			addrsOf(t, s, 0, 4, t0)
			release(t, s, 1, t0)
			s.SetPrefixMode(true)
			addrsOf(t, s, 10, 17, t0)
			release(t, s, 26, t0) // 10.0.1.16, alone in its /28
			s.SetPrefixMode(tc.prefix)
			now := t0.Add(tc.at)
			got := s.TakeFreeBlocks("eni-0", tc.kind, tc.n, now)
			var strs []string
			for _, p := range got {
				strs = append(strs, p.String())
			}
			if !slices.Equal(strs, tc.want) {
				t.Fatalf("took %v, want %v", strs, tc.want)
			}
			checkConsistent(t, s, now)
			// Nothing taken can reach a pod again.
			for i := 1000; ; i++ {
				a, err := s.Assign(key(i), podRef(i), now.Add(time.Hour))
				if err != nil {
					break
				}
				for _, p := range got {
					if p.Contains(a.Addr) {
						t.Fatalf("address %v of a taken block assigned", a.Addr)
					}
				}
			}
		})
	}
	s := build(t, Config{})
	if got := s.TakeFreeBlocks("eni-x", core.BlockIP, 1, t0); got != nil {
		t.Fatalf("unknown ENI gave %v", got)
	}
}

func TestAssignmentsSorted(t *testing.T) {
	s := build(t, Config{}, eniSpec{dev: 1, ips: seqIPs("10.1.0.10", 2)}, eniSpec{dev: 0, ips: seqIPs("10.0.0.250", 2)})
	for i := range 4 {
		assign(t, s, i, t0)
	}
	var got []netip.Addr
	for _, a := range s.Assignments() {
		got = append(got, a.Addr)
	}
	if !slices.IsSortedFunc(got, netip.Addr.Compare) || len(got) != 4 {
		t.Fatalf("assignments %v", got)
	}
	if fmt.Sprint(got) != "[10.0.0.250 10.0.0.251 10.1.0.10 10.1.0.11]" {
		t.Fatalf("assignments %v", got)
	}
}

func TestIPv6ManyPodsInOnePrefix(t *testing.T) {
	// More pods than a /28 holds: the fill levels of a /80 grow past the
	// sizes the store starts with.
	s := build(t, Config{Family: core.IPv6}, eniSpec{dev: 0, v6: []string{"2001:db8::/80", "2001:db8:0:0:1::/80"}})
	for i := range 300 {
		a := assign(t, s, i, t0)
		if want := v6Addr(pfx("2001:db8::/80"), uint64(i+1)); a.Addr != want {
			t.Fatalf("pod %d got %v, want %v", i, a.Addr, want)
		}
	}
	checkConsistent(t, s, t0)
	for i := 0; i < 300; i += 2 {
		release(t, s, i, t0)
	}
	for i := 0; i < 300; i += 2 {
		if a := assign(t, s, 1000+i, t0); a.Addr != v6Addr(pfx("2001:db8::/80"), uint64(i+1)) {
			t.Fatalf("refill %d got %v", i, a.Addr)
		}
	}
	if s.Config().Family != core.IPv6 {
		t.Fatal("config lost the family")
	}
	a, _ := s.Lookup(key(1))
	if al := a.Allocation(); al.Key != key(1) || al.Addr != a.Addr || al.Pod != podRef(1) || al.AssignedAt != t0 {
		t.Fatalf("allocation %+v", al)
	}
	checkConsistent(t, s, t0)
}
