package warmpool

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

var (
	tNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tOld = tNow.Add(-time.Hour)
)

// ipENI is a secondary-IP ENI with ips addresses, assigned and cooling of
// them in use; every other address is a free block.
func ipENI(id string, dev, ips, assigned, cooling int) core.ENIUsage {
	return core.ENIUsage{
		ID: core.ENIID(id), DeviceNumber: dev, Primary: dev == 0, Since: tOld,
		IPs: ips, Total: ips, Assigned: assigned, Cooling: cooling,
		FreeBlocks: ips - assigned - cooling,
	}
}

// pfxENI is a prefix-delegation ENI with prefixes /28s, assigned addresses
// in use and freePrefixes of them holding no assigned or cooling address.
func pfxENI(id string, dev, prefixes, assigned, freePrefixes int) core.ENIUsage {
	return core.ENIUsage{
		ID: core.ENIID(id), DeviceNumber: dev, Primary: dev == 0, Since: tOld,
		Prefixes: prefixes, Total: prefixes * 16, Assigned: assigned, FreeBlocks: freePrefixes,
	}
}

func mod(e core.ENIUsage, f func(*core.ENIUsage)) core.ENIUsage { f(&e); return e }

// in builds an input on an instance with 4 ENIs of 10 blocks each, no
// max-pods cap, new ENIs allowed and no decrease.
func in(prefix bool, t Targets, enis ...core.ENIUsage) Input {
	return Input{
		Now:         tNow,
		Targets:     t,
		Limits:      Limits{MaxENIs: 4, BlocksPerENI: 10},
		PrefixMode:  prefix,
		Pool:        core.PoolUsage{ENIs: enis},
		MinENIAge:   time.Minute,
		AllowNewENI: true,
	}
}

func shrink(i Input) Input { i.AllowDecrease = true; return i }

type computeCase struct {
	name   string
	in     Input
	want   Plan   // Reasons are not compared
	reason string // a reason line must contain this, when set
}

func checkPlan(t *testing.T, c computeCase) {
	t.Helper()
	got := Compute(c.in)
	reasons := got.Reasons
	got.Reasons = nil
	if !reflect.DeepEqual(got, c.want) {
		t.Errorf("plan:\n got %+v\nwant %+v\nreasons: %q", got, c.want, reasons)
	}
	if (!got.Empty() || got.Shortfall > 0) && len(reasons) == 0 {
		t.Errorf("plan %+v has no reasons", got)
	}
	if c.reason != "" && !strings.Contains(strings.Join(reasons, "\n"), c.reason) {
		t.Errorf("no reason mentions %q: %q", c.reason, reasons)
	}
}

func TestComputeIncrease(t *testing.T) {
	full := ipENI("eni-0", 0, 10, 10, 0)
	cases := []computeCase{
		{
			name: "cooling addresses are not available (ip target)",
			in:   in(false, Targets{WarmIP: 2}, ipENI("eni-0", 0, 5, 3, 2)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 2}}},
		},
		{
			name: "cooling addresses are not available (warm ENI)",
			in:   in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 4, 6)),
			want: Plan{NewENIs: []NewENI{{IPs: 10}}},
		},
		{
			name: "warm ENI target met",
			in:   in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0)),
			want: Plan{},
		},
		{
			name: "warm ENI fills the room of attached ENIs, then new full ENIs",
			in: in(false, Targets{WarmENI: 2},
				ipENI("eni-0", 0, 4, 4, 0), ipENI("eni-1", 1, 10, 10, 0), ipENI("eni-2", 2, 3, 3, 0)),
			want: Plan{
				Grow:    []Grow{{ENI: "eni-0", IPs: 6}, {ENI: "eni-2", IPs: 7}},
				NewENIs: []NewENI{{IPs: 10}},
			},
		},
		{
			name: "warm ENI 0 waits while an address is free",
			in:   in(false, Targets{WarmENI: 0}, ipENI("eni-0", 0, 10, 9, 0)),
			want: Plan{},
		},
		{
			name: "warm ENI 0 fills the room when nothing is free",
			in:   in(false, Targets{WarmENI: 0}, ipENI("eni-0", 0, 4, 4, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 6}}},
		},
		{
			name: "warm ENI grows for pending pods beyond the free addresses",
			in: func() Input {
				i := in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0))
				i.Pending = 12
				return i
			}(),
			want: Plan{NewENIs: []NewENI{{IPs: 10}}},
		},
		{
			name: "warm IP adds exactly the missing addresses",
			in:   in(false, Targets{WarmIP: 3}, ipENI("eni-0", 0, 5, 4, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 2}}},
		},
		{
			name: "minimum IP is a floor on the total",
			in:   in(false, Targets{MinimumIP: 8}, ipENI("eni-0", 0, 5, 0, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 3}}},
		},
		{
			name: "minimum IP alone keeps no spare",
			in:   in(false, Targets{MinimumIP: 5}, ipENI("eni-0", 0, 5, 5, 0)),
			want: Plan{},
		},
		{
			name: "minimum IP alone still serves waiting pods (#2650)",
			in: func() Input {
				i := in(false, Targets{MinimumIP: 5}, ipENI("eni-0", 0, 5, 5, 0))
				i.Pending = 2
				return i
			}(),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 2}}},
		},
		{
			name: "several new ENIs in one plan, the last one sized to the need",
			in:   in(false, Targets{WarmIP: 25}, ipENI("eni-0", 0, 8, 8, 0)),
			want: Plan{
				Grow:    []Grow{{ENI: "eni-0", IPs: 2}},
				NewENIs: []NewENI{{IPs: 10}, {IPs: 10}, {IPs: 3}},
			},
		},
		{
			name: "prefix mode converts a small address shortfall to one prefix",
			in:   in(true, Targets{WarmIP: 20}, pfxENI("eni-0", 0, 1, 0, 1)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", Prefixes: 1}}},
		},
		{
			name: "prefix mode rounds the address shortfall up",
			in:   in(true, Targets{WarmIP: 40}, pfxENI("eni-0", 0, 1, 0, 1)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", Prefixes: 2}}},
		},
		{
			name: "warm prefix target counts free addresses",
			in:   in(true, Targets{WarmPrefix: 2}, pfxENI("eni-0", 0, 2, 17, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", Prefixes: 2}}},
		},
		{
			name: "warm prefix unset adds one prefix when nothing is free",
			in:   in(true, Targets{}, pfxENI("eni-0", 0, 1, 16, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", Prefixes: 1}}},
		},
		{
			name: "warm prefix unset waits while an address is free",
			in:   in(true, Targets{}, pfxENI("eni-0", 0, 1, 15, 0)),
			want: Plan{},
		},
		{
			name: "IP targets override warm ENI",
			in:   in(false, Targets{WarmENI: 5, WarmIP: 1}, ipENI("eni-0", 0, 1, 0, 0)),
			want: Plan{},
		},
		{
			name: "IP targets override warm prefix",
			in:   in(true, Targets{WarmPrefix: 3, MinimumIP: 16}, pfxENI("eni-0", 0, 1, 0, 1)),
			want: Plan{},
		},
		{
			name: "warm ENI is ignored under prefix delegation",
			in:   in(true, Targets{WarmENI: 3, WarmPrefix: 1}, pfxENI("eni-0", 0, 1, 0, 1)),
			want: Plan{},
		},
		{
			name: "negative targets are unset",
			in:   in(false, Targets{WarmENI: -1, WarmIP: -3, MinimumIP: -1, WarmPrefix: -2}, ipENI("eni-0", 0, 2, 2, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-0", IPs: 8}}},
		},
		{
			name: "primary skipped under custom networking",
			in: func() Input {
				i := in(false, Targets{WarmIP: 2}, ipENI("eni-0", 0, 0, 0, 0))
				i.SkipPrimary = true
				return i
			}(),
			want: Plan{NewENIs: []NewENI{{IPs: 2}}},
		},
		{
			name: "blocks of both kinds fill an ENI",
			in: in(false, Targets{WarmIP: 2},
				mod(ipENI("eni-0", 0, 7, 7, 0), func(e *core.ENIUsage) { e.Prefixes, e.InactiveBlocks, e.InactiveAssigned = 3, 3, 2 }),
				ipENI("eni-1", 1, 1, 1, 0)),
			want: Plan{Grow: []Grow{{ENI: "eni-1", IPs: 2}}},
		},
		{
			name: "excluded, trunk and unmanaged ENIs neither give nor take addresses",
			in: func() Input {
				i := in(false, Targets{WarmIP: 2}, full,
					mod(ipENI("eni-1", 1, 3, 0, 0), func(e *core.ENIUsage) { e.Excluded = true }),
					mod(ipENI("eni-2", 2, 0, 0, 0), func(e *core.ENIUsage) { e.Trunk = true }),
					mod(ipENI("eni-3", 3, 5, 0, 0), func(e *core.ENIUsage) { e.NoManage = true }))
				i.Limits.MaxENIs = 5
				return i
			}(),
			want: Plan{NewENIs: []NewENI{{IPs: 2}}},
		},
		{
			name: "ENI limit counts every attached ENI and the reserved slots",
			in: func() Input {
				i := in(false, Targets{WarmIP: 2}, full, mod(ipENI("eni-1", 1, 0, 0, 0), func(e *core.ENIUsage) { e.Trunk = true }))
				i.Limits.MaxENIs, i.Limits.ReservedENISlots = 3, 1
				return i
			}(),
			want:   Plan{Shortfall: 2},
			reason: "ENI limit reached",
		},
		{
			name: "ENI limit already exceeded: grow attached ENIs only",
			in: func() Input {
				i := in(false, Targets{WarmIP: 8}, full, ipENI("eni-1", 1, 5, 5, 0), ipENI("eni-2", 2, 10, 10, 0))
				i.Limits.MaxENIs = 1
				return i
			}(),
			want:   Plan{Grow: []Grow{{ENI: "eni-1", IPs: 5}}, Shortfall: 3},
			reason: "ENI limit reached",
		},
		{
			name:   "new ENIs not allowed",
			in:     func() Input { i := in(false, Targets{WarmIP: 3}, full); i.AllowNewENI = false; return i }(),
			want:   Plan{Shortfall: 3},
			reason: "not allowed",
		},
		{
			name: "zero limits",
			in: func() Input {
				i := in(false, Targets{WarmIP: 3}, ipENI("eni-0", 0, 0, 0, 0))
				i.Limits = Limits{}
				return i
			}(),
			want:   Plan{Shortfall: 3},
			reason: "ENI limit reached",
		},
		{
			name: "no address per ENI",
			in: func() Input {
				i := in(false, Targets{WarmIP: 3}, ipENI("eni-0", 0, 0, 0, 0))
				i.Limits.BlocksPerENI = 0
				return i
			}(),
			want:   Plan{Shortfall: 3},
			reason: "no address on an ENI",
		},
		{
			name: "empty pool: the first ENI is created",
			in:   in(false, Targets{WarmENI: 1}),
			want: Plan{NewENIs: []NewENI{{IPs: 10}}},
		},
		{
			name:   "max pods caps secondary IPs (#2793)",
			in:     func() Input { i := in(false, Targets{WarmENI: 1}, full); i.Limits.MaxPods = 15; return i }(),
			want:   Plan{NewENIs: []NewENI{{IPs: 5}}, Shortfall: 5},
			reason: "max pods",
		},
		{
			name: "max pods cap does not count cooling addresses",
			in: func() Input {
				i := in(false, Targets{WarmIP: 8}, ipENI("eni-0", 0, 10, 6, 4))
				i.Limits.MaxPods = 12
				return i
			}(),
			want:   Plan{NewENIs: []NewENI{{IPs: 6}}, Shortfall: 2},
			reason: "max pods",
		},
		{
			name: "max pods caps prefixes at whole prefixes",
			in: func() Input {
				i := in(true, Targets{WarmIP: 40}, pfxENI("eni-0", 0, 6, 90, 0))
				i.Limits.MaxPods = 110
				return i
			}(),
			want:   Plan{Grow: []Grow{{ENI: "eni-0", Prefixes: 1}}, Shortfall: 18},
			reason: "max pods",
		},
		{
			name:   "pool already beyond max pods",
			in:     func() Input { i := in(false, Targets{WarmIP: 3}, full); i.Limits.MaxPods = 5; return i }(),
			want:   Plan{Shortfall: 3},
			reason: "max pods",
		},
		{
			name: "negative pending and limits are ignored",
			in: func() Input {
				i := in(false, Targets{WarmIP: 1}, ipENI("eni-0", 0, 1, 0, 0))
				i.Pending, i.Limits.MaxPods, i.Limits.ReservedENISlots = -4, -1, -2
				return i
			}(),
			want: Plan{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkPlan(t, c) })
	}
}

func TestComputeDecrease(t *testing.T) {
	young := func(e core.ENIUsage) core.ENIUsage {
		return mod(e, func(e *core.ENIUsage) { e.Since = tNow.Add(-30 * time.Second) })
	}
	cases := []computeCase{
		{
			name: "nothing is released unless allowed",
			in:   in(false, Targets{WarmIP: 1}, ipENI("eni-0", 0, 10, 0, 0)),
			want: Plan{},
		},
		{
			name: "ip target releases down to both floors",
			in:   shrink(in(false, Targets{WarmIP: 2, MinimumIP: 5}, ipENI("eni-0", 0, 10, 1, 0))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockIP, Blocks: 5}}},
		},
		{
			name: "emptiest ENIs first, highest device first, primary last",
			in: shrink(in(false, Targets{WarmIP: 7},
				ipENI("eni-0", 0, 5, 0, 0), ipENI("eni-1", 1, 5, 2, 0), ipENI("eni-2", 2, 5, 2, 0), young(ipENI("eni-3", 3, 3, 0, 0)))),
			want: Plan{Release: []Release{
				{ENI: "eni-1", Kind: core.BlockIP, Blocks: 1},
				{ENI: "eni-2", Kind: core.BlockIP, Blocks: 3},
				{ENI: "eni-3", Kind: core.BlockIP, Blocks: 3},
			}},
		},
		{
			name: "cooling and assigned addresses stay",
			in:   shrink(in(false, Targets{WarmIP: 1}, ipENI("eni-0", 0, 10, 2, 5))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockIP, Blocks: 2}}},
		},
		{
			name: "only fully free prefixes are released",
			in: shrink(in(true, Targets{WarmIP: 1},
				mod(pfxENI("eni-0", 0, 3, 1, 1), func(e *core.ENIUsage) { e.Cooling = 1 }))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockPrefix, Blocks: 1}}},
		},
		{
			name: "prefix ip target keeps the minimum in addresses",
			in:   shrink(in(true, Targets{WarmIP: 5, MinimumIP: 40}, pfxENI("eni-0", 0, 4, 3, 3))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockPrefix, Blocks: 1}}},
		},
		{
			name: "warm prefix keeps 16 × target free addresses",
			in:   shrink(in(true, Targets{WarmPrefix: 1}, pfxENI("eni-0", 0, 2, 1, 1))),
			want: Plan{},
		},
		{
			name: "warm prefix releases what stays above 16 × target",
			in:   shrink(in(true, Targets{WarmPrefix: 1}, pfxENI("eni-0", 0, 4, 2, 2))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockPrefix, Blocks: 2}}},
		},
		{
			name: "warm ENI never releases single addresses",
			in:   shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0))),
			want: Plan{},
		},
		{
			name: "empty blocks of the other kind go, in any mode",
			in: shrink(in(false, Targets{WarmENI: 0},
				mod(ipENI("eni-0", 0, 5, 0, 0), func(e *core.ENIUsage) { e.Prefixes, e.InactiveBlocks, e.InactiveFreeBlocks = 2, 2, 1 }))),
			want: Plan{Release: []Release{{ENI: "eni-0", Kind: core.BlockPrefix, Blocks: 1}}},
		},
		{
			name: "excluded ENIs hand back their free blocks",
			in: shrink(in(false, Targets{WarmIP: 1},
				ipENI("eni-0", 0, 5, 0, 0), mod(ipENI("eni-1", 1, 5, 2, 0), func(e *core.ENIUsage) { e.Excluded = true }))),
			want: Plan{Release: []Release{
				{ENI: "eni-0", Kind: core.BlockIP, Blocks: 4},
				{ENI: "eni-1", Kind: core.BlockIP, Blocks: 3},
			}},
		},
		{
			name: "empty old ENI deleted when the rest meets the target",
			in:   shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0), ipENI("eni-1", 1, 10, 0, 0))),
			want: Plan{DeleteENIs: []core.ENIID{"eni-1"}},
		},
		{
			name: "ENI of unknown age counts as old",
			in: shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0),
				mod(ipENI("eni-1", 1, 10, 0, 0), func(e *core.ENIUsage) { e.Since = time.Time{} }))),
			want: Plan{DeleteENIs: []core.ENIID{"eni-1"}},
		},
		{
			name: "young ENI kept",
			in:   shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0), young(ipENI("eni-1", 1, 10, 0, 0)))),
			want: Plan{},
		},
		{
			name: "several ENIs per plan, checked against what remains",
			in: shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 5, 0),
				ipENI("eni-1", 1, 10, 0, 0), ipENI("eni-2", 2, 10, 0, 0), ipENI("eni-3", 3, 10, 0, 0))),
			want: Plan{DeleteENIs: []core.ENIID{"eni-3", "eni-2"}},
		},
		{
			name: "ip targets: total and free elsewhere",
			in: shrink(in(false, Targets{WarmIP: 5, MinimumIP: 20}, ipENI("eni-0", 0, 10, 3, 0),
				ipENI("eni-1", 1, 10, 0, 0), ipENI("eni-2", 2, 5, 0, 0))),
			want: Plan{DeleteENIs: []core.ENIID{"eni-2"}},
		},
		{
			name: "blocks of a deleted ENI are not released",
			in:   shrink(in(false, Targets{WarmIP: 2}, ipENI("eni-0", 0, 10, 0, 0), ipENI("eni-1", 1, 10, 0, 0))),
			want: Plan{
				Release:    []Release{{ENI: "eni-0", Kind: core.BlockIP, Blocks: 8}},
				DeleteENIs: []core.ENIID{"eni-1"},
			},
		},
		{
			name: "excluded ENI without pods deleted even when the pool is low",
			in: func() Input {
				i := shrink(in(false, Targets{WarmIP: 50}, ipENI("eni-0", 0, 10, 10, 0),
					mod(ipENI("eni-1", 1, 3, 0, 0), func(e *core.ENIUsage) { e.Excluded = true })))
				i.Limits.MaxENIs = 2
				return i
			}(),
			want:   Plan{DeleteENIs: []core.ENIID{"eni-1"}, Shortfall: 50},
			reason: "excluded",
		},
		{
			name: "waiting pods keep ENIs",
			in: func() Input {
				i := shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0), ipENI("eni-1", 1, 10, 0, 0)))
				i.Pending = 15
				return i
			}(),
			want: Plan{},
		},
		{
			name: "warm prefix: release instead of delete when the ENI is needed",
			in:   shrink(in(true, Targets{WarmPrefix: 1}, pfxENI("eni-0", 0, 1, 1, 0), pfxENI("eni-1", 1, 2, 0, 2))),
			want: Plan{Release: []Release{{ENI: "eni-1", Kind: core.BlockPrefix, Blocks: 1}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkPlan(t, c) })
	}
}

// TestNeverDeleted covers every condition that keeps an empty, old ENI
// whose capacity the targets do not need.
func TestNeverDeleted(t *testing.T) {
	for name, f := range map[string]func(*core.ENIUsage){
		"primary":           func(e *core.ENIUsage) { e.Primary = true },
		"trunk":             func(e *core.ENIUsage) { e.Trunk = true },
		"efa":               func(e *core.ENIUsage) { e.EFA = true },
		"no_manage":         func(e *core.ENIUsage) { e.NoManage = true },
		"assigned":          func(e *core.ENIUsage) { e.Assigned, e.FreeBlocks = 1, 9 },
		"cooling":           func(e *core.ENIUsage) { e.Cooling, e.FreeBlocks = 1, 9 },
		"inactive assigned": func(e *core.ENIUsage) { e.Prefixes, e.InactiveBlocks, e.InactiveAssigned = 1, 1, 3 },
		"inactive cooling":  func(e *core.ENIUsage) { e.Prefixes, e.InactiveBlocks = 1, 1 },
		"young":             func(e *core.ENIUsage) { e.Since = tNow.Add(-59 * time.Second) },
		"from the future":   func(e *core.ENIUsage) { e.Since = tNow.Add(time.Hour) },
	} {
		t.Run(name, func(t *testing.T) {
			i := shrink(in(false, Targets{WarmENI: 1}, ipENI("eni-0", 0, 10, 0, 0), mod(ipENI("eni-1", 1, 10, 0, 0), f)))
			if p := Compute(i); len(p.DeleteENIs) != 0 {
				t.Errorf("deleted %v; reasons %q", p.DeleteENIs, p.Reasons)
			}
		})
	}
}

func TestComputeDeterministic(t *testing.T) {
	enis := []core.ENIUsage{
		ipENI("eni-0", 0, 10, 3, 0), ipENI("eni-1", 1, 10, 0, 0), ipENI("eni-2", 2, 4, 1, 0),
		mod(ipENI("eni-3", 3, 5, 1, 0), func(e *core.ENIUsage) {
			e.Excluded = true
			e.Prefixes, e.InactiveBlocks, e.InactiveFreeBlocks = 1, 1, 1
		}),
	}
	base := shrink(in(false, Targets{WarmIP: 4, MinimumIP: 6}, enis...))
	base.Limits.MaxENIs = 6
	want := Compute(base)
	if want.Empty() {
		t.Fatal("test pool should need changes")
	}
	perms := [][]int{{3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}}
	for _, perm := range perms {
		shuffled := base
		shuffled.Pool.ENIs = nil
		for _, k := range perm {
			shuffled.Pool.ENIs = append(shuffled.Pool.ENIs, enis[k])
		}
		if got := Compute(shuffled); !reflect.DeepEqual(got, want) {
			t.Errorf("order %v:\n got %+v\nwant %+v", perm, got, want)
		}
		if got := Compute(shuffled); !reflect.DeepEqual(got, want) {
			t.Errorf("second call differs")
		}
	}
}

func TestComputeAbsurdInputs(t *testing.T) {
	t.Run("huge targets and limits", func(t *testing.T) {
		i := in(false, Targets{WarmIP: math.MaxInt, MinimumIP: math.MaxInt, WarmENI: math.MaxInt}, ipENI("eni-0", 0, 0, 0, 0))
		i.Limits = Limits{MaxENIs: math.MaxInt, BlocksPerENI: 1, MaxPods: 0}
		i.Pending = math.MaxInt
		p := Compute(i)
		if len(p.NewENIs) != MaxNewENIsPerPlan || len(p.Grow) != 1 {
			t.Errorf("got %d new ENIs and %d grows, want %d and 1", len(p.NewENIs), len(p.Grow), MaxNewENIsPerPlan)
		}
		if p.Shortfall <= 0 {
			t.Errorf("shortfall %d, want positive", p.Shortfall)
		}
	})
	t.Run("huge warm ENI target times huge ENI size", func(t *testing.T) {
		i := in(false, Targets{WarmENI: math.MaxInt / 2}, ipENI("eni-0", 0, 0, 0, 0))
		i.Limits = Limits{MaxENIs: 2, BlocksPerENI: math.MaxInt / 2}
		p := Compute(i)
		if len(p.Grow) != 1 || p.Shortfall < 0 {
			t.Fatalf("plan %+v", p)
		}
		for _, g := range p.Grow {
			if g.IPs <= 0 || g.IPs > i.Limits.BlocksPerENI {
				t.Errorf("grow by %d, outside 1..%d", g.IPs, i.Limits.BlocksPerENI)
			}
		}
	})
	t.Run("inconsistent counts", func(t *testing.T) {
		bad := core.ENIUsage{ID: "eni-1", DeviceNumber: 1, IPs: -3, Total: 2, Assigned: 5, Cooling: -1,
			FreeBlocks: 7, InactiveBlocks: -1, InactiveFreeBlocks: 4}
		i := shrink(in(false, Targets{WarmIP: 1}, ipENI("eni-0", 0, 3, 0, 0), bad))
		p := Compute(i)
		for _, r := range p.Release {
			if r.ENI == "eni-1" {
				t.Errorf("released %d blocks of an ENI with more pods than addresses", r.Blocks)
			}
			if r.Blocks <= 0 {
				t.Errorf("release of %d blocks", r.Blocks)
			}
		}
	})
}

// TestOnePass checks that the plan covers the whole need at once, where
// upstream takes one ENI per 5-second loop iteration.
func TestOnePass(t *testing.T) {
	i := in(false, Targets{WarmENI: 2}, ipENI("eni-0", 0, 0, 0, 0))
	i.Limits = Limits{MaxENIs: 15, BlocksPerENI: 49}
	p := Compute(i)
	want := Plan{Grow: []Grow{{ENI: "eni-0", IPs: 49}}, NewENIs: []NewENI{{IPs: 49}}}
	p.Reasons = nil
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v, want %+v", p, want)
	}
}

func TestMode(t *testing.T) {
	cases := []struct {
		t      Targets
		prefix bool
		want   Mode
	}{
		{Targets{WarmENI: 1}, false, ModeWarmENI},
		{Targets{}, false, ModeWarmENI},
		{Targets{WarmENI: 1, WarmPrefix: 4}, false, ModeWarmENI},
		{Targets{WarmENI: 1, WarmIP: 1}, false, ModeIPTarget},
		{Targets{WarmENI: 1, MinimumIP: 1}, false, ModeIPTarget},
		{Targets{WarmENI: 1, WarmIP: -1, MinimumIP: -1}, false, ModeWarmENI},
		{Targets{WarmENI: 1, WarmPrefix: 1}, true, ModeWarmPrefix},
		{Targets{}, true, ModeWarmPrefix},
		{Targets{WarmPrefix: 1, WarmIP: 5}, true, ModeIPTarget},
		{Targets{WarmPrefix: 1, MinimumIP: 5}, true, ModeIPTarget},
	}
	for _, c := range cases {
		if got := c.t.Mode(c.prefix); got != c.want {
			t.Errorf("%+v prefix=%v: got %s, want %s", c.t, c.prefix, got, c.want)
		}
	}
	for m, s := range map[Mode]string{ModeWarmENI: "warm-eni", ModeWarmPrefix: "warm-prefix", ModeIPTarget: "ip-target", Mode(9): "mode(9)"} {
		if m.String() != s {
			t.Errorf("Mode(%d).String() = %q, want %q", uint8(m), m.String(), s)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		t      Targets
		prefix bool
		ok     bool
	}{
		{Targets{WarmENI: 1}, false, true},
		{Targets{}, false, true},
		{Targets{WarmIP: -5, MinimumIP: -1}, false, true},
		{Targets{WarmPrefix: 1}, true, true},
		{Targets{WarmIP: 1}, true, true},
		{Targets{MinimumIP: 10}, true, true},
		{Targets{WarmENI: 1}, true, false},
		{Targets{WarmPrefix: -1, WarmIP: 0, MinimumIP: -3}, true, false},
	}
	for _, c := range cases {
		err := Validate(c.t, c.prefix)
		if c.ok {
			if err != nil {
				t.Errorf("%+v prefix=%v: unexpected %v", c.t, c.prefix, err)
			}
			continue
		}
		if !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("%+v prefix=%v: got %v, want ErrInvalidParameter", c.t, c.prefix, err)
			continue
		}
		for _, name := range []string{"ENABLE_PREFIX_DELEGATION", "WARM_PREFIX_TARGET", "WARM_IP_TARGET", "MINIMUM_IP_TARGET"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name %s", err, name)
			}
		}
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		t      Targets
		prefix bool
		want   []string // each must appear in one warning; nil means none
	}{
		{Targets{WarmENI: 1}, false, nil},
		{Targets{WarmPrefix: 1}, true, nil},
		{Targets{WarmENI: 1, WarmIP: 5, MinimumIP: 10}, false, []string{"WARM_ENI_TARGET=1 is ignored"}},
		{Targets{WarmENI: 1, MinimumIP: 10}, false, []string{"WARM_ENI_TARGET=1 is ignored", "MINIMUM_IP_TARGET=10 without WARM_IP_TARGET"}},
		{Targets{WarmPrefix: 2, WarmIP: 3}, true, []string{"WARM_PREFIX_TARGET=2 is ignored"}},
		{Targets{WarmENI: 1, WarmPrefix: 1}, true, []string{"WARM_ENI_TARGET=1 is ignored under prefix delegation"}},
		{Targets{WarmENI: 1, WarmPrefix: 1}, false, []string{"WARM_PREFIX_TARGET=1 is ignored without prefix delegation"}},
	}
	for _, c := range cases {
		got := Warnings(c.t, c.prefix)
		if len(got) != len(c.want) {
			t.Errorf("%+v prefix=%v: got %q, want %d warnings", c.t, c.prefix, got, len(c.want))
			continue
		}
		joined := strings.Join(got, "\n")
		for _, w := range c.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%+v prefix=%v: %q lacks %q", c.t, c.prefix, got, w)
			}
		}
	}
}
