package datastore

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestUsageAndStats(t *testing.T) {
	const period = 30 * time.Second
	build := func(t *testing.T, prefixMode bool) *Store {
		s := New(Config{Cooldown: period})
		joined := []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)}
		for d, flags := range []func(*ENIInfo){
			func(i *ENIInfo) {},
			func(i *ENIInfo) { i.EFA = true },
			func(i *ENIInfo) { i.Trunk = true },
		} {
			info := infoFor(d)
			flags(&info)
			must(t, s.AddENI(info, joined[d]))
		}
		_, err := s.AddIPs("eni-0", ips(seqIPs("10.0.0.10", 5)...))
		must(t, err)
		_, err = s.AddPrefixes("eni-0", pfxs("10.0.1.0/28"))
		must(t, err)
		_, err = s.AddPrefixes("eni-1", pfxs("10.1.1.0/28", "10.1.1.16/28", "10.1.1.32/28"))
		must(t, err)
		_, err = s.AddIPs("eni-2", ips("10.2.0.10"))
		must(t, err)
		// eni-0: IPs .10 .11 assigned, .12 cooling.
		addrsOf(t, s, 0, 3, t0)
		release(t, s, 2, t0)
		s.SetPrefixMode(true)
		// Prefixes: eni-0's /28 (device 0) takes 16 pods, then eni-1's
		// first /28 takes 2, one of which is released.
		addrsOf(t, s, 10, 18, t0)
		release(t, s, 27, t0)
		s.SetPrefixMode(prefixMode)
		return s
	}
	base := func(d int, since time.Time) core.ENIUsage {
		u := core.ENIUsage{ID: eniID(d), DeviceNumber: d, Primary: d == 0, Since: since}
		return u
	}
	tests := []struct {
		name       string
		prefixMode bool
		at         time.Duration
		want       []core.ENIUsage
		wantStats  Stats
	}{
		{
			name: "secondary-IP mode", at: 0,
			want: []core.ENIUsage{
				withCounts(base(0, t0), 5, 1, 5, 2, 1, 2, 1, 16, 0),
				withEFA(withCounts(base(1, t0.Add(time.Minute)), 0, 3, 0, 0, 0, 0, 3, 1, 2)),
				withTrunk(withCounts(base(2, t0.Add(2*time.Minute)), 1, 0, 1, 0, 0, 1, 0, 0, 0)),
			},
			// The trunk ENI's address is not counted in the totals.
			wantStats: Stats{Total: 5, Assigned: 2, Cooling: 1, Free: 2, ENIs: 3, Prefixes: 4, IPs: 6, Pods: 19},
		},
		{
			name: "secondary-IP mode after the cooldown", at: period,
			want: []core.ENIUsage{
				withCounts(base(0, t0), 5, 1, 5, 2, 0, 3, 1, 16, 0),
				withEFA(withCounts(base(1, t0.Add(time.Minute)), 0, 3, 0, 0, 0, 0, 3, 1, 2)),
				withTrunk(withCounts(base(2, t0.Add(2*time.Minute)), 1, 0, 1, 0, 0, 1, 0, 0, 0)),
			},
			wantStats: Stats{Total: 5, Assigned: 2, Cooling: 0, Free: 3, ENIs: 3, Prefixes: 4, IPs: 6, Pods: 19},
		},
		{
			name: "prefix mode", prefixMode: true, at: 0,
			want: []core.ENIUsage{
				withCounts(base(0, t0), 5, 1, 16, 16, 0, 0, 5, 2, 2),
				withEFA(withCounts(base(1, t0.Add(time.Minute)), 0, 3, 48, 1, 1, 2, 0, 0, 0)),
				withTrunk(withCounts(base(2, t0.Add(2*time.Minute)), 1, 0, 0, 0, 0, 0, 1, 0, 1)),
			},
			wantStats: Stats{Total: 64, Assigned: 17, Cooling: 1, Free: 46, ENIs: 3, Prefixes: 4, IPs: 6, Pods: 19},
		},
		{
			name: "prefix mode after the cooldown", prefixMode: true, at: period,
			want: []core.ENIUsage{
				withCounts(base(0, t0), 5, 1, 16, 16, 0, 0, 5, 2, 3),
				withEFA(withCounts(base(1, t0.Add(time.Minute)), 0, 3, 48, 1, 0, 2, 0, 0, 0)),
				withTrunk(withCounts(base(2, t0.Add(2*time.Minute)), 1, 0, 0, 0, 0, 0, 1, 0, 1)),
			},
			wantStats: Stats{Total: 64, Assigned: 17, Cooling: 0, Free: 47, ENIs: 3, Prefixes: 4, IPs: 6, Pods: 19},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.prefixMode)
			now := t0.Add(tc.at)
			got := s.Usage(now)
			if !reflect.DeepEqual(got.ENIs, tc.want) {
				t.Fatalf("usage\n got %+v\nwant %+v", got.ENIs, tc.want)
			}
			if st := s.Stats(now); st != tc.wantStats {
				t.Fatalf("stats %+v, want %+v", st, tc.wantStats)
			}
			total, assigned, cooling := got.Totals()
			if total != tc.wantStats.Total || assigned != tc.wantStats.Assigned || cooling != tc.wantStats.Cooling {
				t.Fatalf("totals %d %d %d", total, assigned, cooling)
			}
			v := s.mustENI(t, "eni-0")
			if !reflect.DeepEqual(v.Usage, tc.want[0]) || v.Assigned != 18 || v.Since != t0 || v.ID != "eni-0" {
				t.Fatalf("view %+v", v)
			}
			if !slices.Equal(v.IPs, ips(seqIPs("10.0.0.10", 5)...)) || !slices.Equal(v.Prefixes, pfxs("10.0.1.0/28")) {
				t.Fatalf("view blocks %v %v", v.IPs, v.Prefixes)
			}
			checkConsistent(t, s, now)
		})
	}
}

// withCounts fills the count fields of an ENIUsage.
func withCounts(u core.ENIUsage, ips, prefixes, total, assigned, cooling, freeBlocks, inBlocks, inAssigned, inFree int) core.ENIUsage {
	u.IPs, u.Prefixes, u.Total, u.Assigned, u.Cooling, u.FreeBlocks = ips, prefixes, total, assigned, cooling, freeBlocks
	u.InactiveBlocks, u.InactiveAssigned, u.InactiveFreeBlocks = inBlocks, inAssigned, inFree
	return u
}

func withEFA(u core.ENIUsage) core.ENIUsage   { u.EFA = true; return u }
func withTrunk(u core.ENIUsage) core.ENIUsage { u.Trunk = true; return u }
