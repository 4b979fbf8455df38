package reconcile

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const self core.InstanceID = "i-self"

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func blk(id, s string) BlockChange {
	if !strings.Contains(s, "/") {
		a := netip.MustParseAddr(s)
		return BlockChange{ENI: core.ENIID(id), Block: netip.PrefixFrom(a, a.BitLen())}
	}
	return BlockChange{ENI: core.ENIID(id), Block: netip.MustParsePrefix(s)}
}

type eniMod func(*core.ENI)

// eni builds an attached, self-tagged ENI at the given device.
func eni(id string, dev int, mods ...eniMod) core.ENI {
	e := core.ENI{
		ID:           core.ENIID(id),
		Description:  core.ENIDescriptionPrefix + string(self),
		DeviceNumber: dev,
		PrimaryIP:    netip.AddrFrom4([4]byte{10, 0, byte(dev), 10}),
		Tags:         map[string]string{core.TagInstanceID: string(self)},
		Status:       "in-use",
		InstanceID:   self,
		Primary:      dev == 0,
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func ips(ss ...string) eniMod  { return func(e *core.ENI) { e.SecondaryIPs = addrs(ss...) } }
func pfx(ss ...string) eniMod  { return func(e *core.ENI) { e.IPv4Prefixes = prefixes(ss...) } }
func pfx6(ss ...string) eniMod { return func(e *core.ENI) { e.IPv6Prefixes = prefixes(ss...) } }
func tags(kv ...string) eniMod { return func(e *core.ENI) { e.Tags = pairs(kv...) } }
func card(n int) eniMod {
	return func(e *core.ENI) { e.NetworkCard, e.Primary = n, e.Primary && n == 0 }
}
func status(s string) eniMod         { return func(e *core.ENI) { e.Status = s } }
func desc(s string) eniMod           { return func(e *core.ENI) { e.Description = s } }
func owner(i core.InstanceID) eniMod { return func(e *core.ENI) { e.InstanceID = i } }
func imdsView() eniMod {
	// Instance metadata reports neither tags, status nor owner.
	return func(e *core.ENI) { e.Tags, e.Status, e.InstanceID, e.Description = nil, "", "", "" }
}
func trunk() eniMod { return func(e *core.ENI) { e.Trunk = true } }

func pairs(kv ...string) map[string]string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

type knownMod func(*KnownENI)

func known(id string, dev int, mods ...knownMod) KnownENI {
	k := KnownENI{ID: core.ENIID(id), DeviceNumber: dev, Primary: dev == 0}
	for _, m := range mods {
		m(&k)
	}
	return k
}

func kips(ss ...string) knownMod     { return func(k *KnownENI) { k.IPs = addrs(ss...) } }
func kpfx(ss ...string) knownMod     { return func(k *KnownENI) { k.Prefixes = prefixes(ss...) } }
func kpfx6(ss ...string) knownMod    { return func(k *KnownENI) { k.IPv6Prefixes = prefixes(ss...) } }
func assigned(ss ...string) knownMod { return func(k *KnownENI) { k.Assigned = addrs(ss...) } }
func ktrunk() knownMod               { return func(k *KnownENI) { k.Trunk = true } }
func kcard(n int) knownMod {
	return func(k *KnownENI) { k.NetworkCard, k.Primary = n, k.Primary && n == 0 }
}

// base is a node in sync: primary ENI with two addresses, one used.
func base(src Source) Input {
	obs := eni("eni-0", 0, ips("10.0.0.11", "10.0.0.12"))
	if src == FromIMDS {
		imdsView()(&obs)
	}
	return Input{
		Now:            now,
		InstanceID:     self,
		Source:         src,
		Observed:       []core.ENI{obs},
		Known:          []KnownENI{known("eni-0", 0, kips("10.0.0.11", "10.0.0.12"), assigned("10.0.0.11"))},
		ManageUntagged: true,
	}
}

func with(in Input, f func(*Input)) Input { f(&in); return in }

func TestCompute(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Plan
	}{
		{
			name: "in sync from IMDS",
			in:   base(FromIMDS),
			want: Plan{},
		},
		{
			name: "in sync from EC2",
			in:   base(FromEC2),
			want: Plan{},
		},
		{
			name: "IMDS lag: address on IMDS not yet in datastore is added",
			in: with(base(FromIMDS), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.11", "10.0.0.12", "10.0.0.13"))}
			}),
			want: Plan{AddBlocks: []BlockChange{blk("eni-0", "10.0.0.13")}},
		},
		{
			name: "IMDS lag: address missing from IMDS but assigned is not dropped",
			in: with(base(FromIMDS), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.12"))}
			}),
			want: Plan{NeedsEC2Confirmation: true},
		},
		{
			name: "IMDS: unused address missing from IMDS is not dropped either",
			in: with(base(FromIMDS), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.11"))}
			}),
			want: Plan{NeedsEC2Confirmation: true},
		},
		{
			name: "EC2 authoritative: unused address gone is dropped, used one is orphaned",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0)}
			}),
			want: Plan{
				DropBlocks: []BlockChange{blk("eni-0", "10.0.0.12")},
				Orphaned: []OrphanedBlock{{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.11/32"),
					Assigned: addrs("10.0.0.11")}},
			},
		},
		{
			name: "EC2 authoritative: prefixes added and dropped, IPv4 and IPv6",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1,
					pfx("10.0.1.32/28", "10.0.1.64/28"), pfx6("2600:1f14::/80")))
				in.Known = append(in.Known, known("eni-1", 1,
					kpfx("10.0.1.16/28", "10.0.1.32/28", "10.0.1.48/28"), kpfx6("2600:1f14:0:0:1::/80"),
					assigned("10.0.1.50", "10.0.1.51")))
			}),
			want: Plan{
				AddBlocks:  []BlockChange{blk("eni-1", "10.0.1.64/28"), blk("eni-1", "2600:1f14::/80")},
				DropBlocks: []BlockChange{blk("eni-1", "10.0.1.16/28"), blk("eni-1", "2600:1f14:0:0:1::/80")},
				Orphaned: []OrphanedBlock{{ENI: "eni-1", Block: netip.MustParsePrefix("10.0.1.48/28"),
					Assigned: addrs("10.0.1.50", "10.0.1.51")}},
			},
		},
		{
			name: "the ENI's own primary address is never a block",
			in: with(base(FromIMDS), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.10", "10.0.0.11", "10.0.0.12"))}
			}),
			want: Plan{},
		},
		{
			name: "EC2: new self-tagged ENI is adopted",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, ips("10.0.1.11")))
			}),
			want: Plan{AdoptENIs: []core.ENI{eni("eni-1", 1, ips("10.0.1.11"))}},
		},
		{
			name: "EC2: untagged ENI adopted and tagged when untagged ENIs are managed",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, tags(), desc("manual")))
			}),
			want: Plan{
				AdoptENIs: []core.ENI{eni("eni-1", 1, tags(), desc("manual"))},
				TagENIs:   []core.ENIID{"eni-1"},
			},
		},
		{
			name: "EC2: untagged ENI ignored when untagged ENIs are not managed",
			in: with(base(FromEC2), func(in *Input) {
				in.ManageUntagged = false
				in.Observed = append(in.Observed, eni("eni-1", 1, tags(), desc("manual")))
			}),
			want: Plan{},
		},
		{
			name: "EC2: untagged ENI that this instance created is still ours",
			in: with(base(FromEC2), func(in *Input) {
				in.ManageUntagged = false
				in.Observed = append(in.Observed, eni("eni-1", 1, tags()))
			}),
			want: Plan{
				AdoptENIs: []core.ENI{eni("eni-1", 1, tags())},
				TagENIs:   []core.ENIID{"eni-1"},
			},
		},
		{
			name: "EC2: primary ENI missing our tag is tagged",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed[0].Tags = nil
			}),
			want: Plan{TagENIs: []core.ENIID{"eni-0"}},
		},
		{
			name: "IMDS: new secondary ENI waits for EC2 tags",
			in: with(base(FromIMDS), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, imdsView(), ips("10.0.1.11")))
			}),
			want: Plan{NeedsEC2Confirmation: true},
		},
		{
			name: "IMDS: fresh datastore adopts the primary ENI, no tagging",
			in: with(base(FromIMDS), func(in *Input) {
				in.Known = nil
			}),
			want: Plan{AdoptENIs: []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.11", "10.0.0.12"))}},
		},
		{
			name: "no_manage: unknown ENI is ignored",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, tags(core.TagNoManage, "true"), ips("10.0.1.11")))
			}),
			want: Plan{},
		},
		{
			name: "no_manage with another value is managed",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1,
					tags(core.TagNoManage, "false", core.TagInstanceID, string(self))))
			}),
			want: Plan{AdoptENIs: []core.ENI{eni("eni-1", 1,
				tags(core.TagNoManage, "false", core.TagInstanceID, string(self)))}},
		},
		{
			name: "no_manage: known ENI without pods is forgotten, with pods is excluded",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed,
					eni("eni-1", 1, tags(core.TagNoManage, "true"), ips("10.0.1.11")),
					eni("eni-2", 2, tags(core.TagNoManage, "true"), ips("10.0.2.11")))
				in.Known = append(in.Known,
					known("eni-1", 1, kips("10.0.1.11")),
					known("eni-2", 2, kips("10.0.2.11"), assigned("10.0.2.11")))
			}),
			want: Plan{ForgetENIs: []core.ENIID{"eni-1"}, ExcludeENIs: []core.ENIID{"eni-2"}},
		},
		{
			name: "no_manage on the primary ENI does not unmanage it",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed[0].Tags = pairs(core.TagNoManage, "true", core.TagInstanceID, string(self))
				in.Observed[0].SecondaryIPs = addrs("10.0.0.11", "10.0.0.12", "10.0.0.13")
			}),
			want: Plan{AddBlocks: []BlockChange{blk("eni-0", "10.0.0.13")}},
		},
		{
			name: "foreign-tagged ENI is not adopted even with untagged management on",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, tags(core.TagInstanceID, "i-other"), ips("10.0.1.11")))
			}),
			want: Plan{},
		},
		{
			name: "foreign-tagged ENI known to the datastore is forgotten when unused",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-1", 1, tags(core.TagInstanceID, "i-other"), ips("10.0.1.11")))
				in.Known = append(in.Known, known("eni-1", 1, kips("10.0.1.11")))
			}),
			want: Plan{ForgetENIs: []core.ENIID{"eni-1"}},
		},
		{
			name: "trunk ENI adopted without addresses",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-t", 1, trunk(), ips("10.0.1.11")))
			}),
			want: Plan{AdoptENIs: []core.ENI{eni("eni-t", 1, trunk())}},
		},
		{
			name: "known trunk ENI: blocks are not reconciled",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-t", 1, trunk(), ips("10.0.1.11")))
				in.Known = append(in.Known, known("eni-t", 1, ktrunk()))
			}),
			want: Plan{},
		},
		{
			name: "EC2: lost ENI with pods is reported, lost ENI without pods forgotten",
			in: with(base(FromEC2), func(in *Input) {
				in.Known = append(in.Known,
					known("eni-1", 1, kips("10.0.1.11"), assigned("10.0.1.11")),
					known("eni-2", 2, kips("10.0.2.11")))
			}),
			want: Plan{LostENIs: []core.ENIID{"eni-1"}, ForgetENIs: []core.ENIID{"eni-2"}},
		},
		{
			name: "IMDS: ENIs missing from IMDS are kept pending EC2 confirmation",
			in: with(base(FromIMDS), func(in *Input) {
				in.Known = append(in.Known,
					known("eni-1", 1, kips("10.0.1.11"), assigned("10.0.1.11")),
					known("eni-2", 2, kips("10.0.2.11")))
			}),
			want: Plan{NeedsEC2Confirmation: true},
		},
		{
			name: "EC2: detached or moved ENIs count as no longer attached",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed,
					eni("eni-1", -1, status("available"), owner(""), ips("10.0.1.11")),
					eni("eni-2", 2, owner("i-other"), ips("10.0.2.11")))
				in.Known = append(in.Known, known("eni-1", 1, kips("10.0.1.11")), known("eni-2", 2, kips("10.0.2.11")))
			}),
			want: Plan{ForgetENIs: []core.ENIID{"eni-1", "eni-2"}},
		},
		{
			name: "EC2 list without the primary ENI plans no removal",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-1", 1, ips("10.0.1.11"))}
				in.Known = append(in.Known, known("eni-1", 1, kips("10.0.1.11", "10.0.1.12")), known("eni-2", 2))
			}),
			want: Plan{NeedsEC2Confirmation: true},
		},
		{
			name: "pending ENIs are left alone",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-new", 1, ips("10.0.1.11")))
				in.Known = append(in.Known, known("eni-old", 2, kips("10.0.2.11")))
				in.Pending = map[core.ENIID]bool{"eni-new": true, "eni-old": true}
			}),
			want: Plan{},
		},
		{
			name: "recent window: blocks this node changed are neither dropped nor re-added",
			in: with(base(FromEC2), func(in *Input) {
				// 10.0.0.12 was just assigned (EC2 describe lags), 10.0.0.13 just released.
				in.Observed = []core.ENI{eni("eni-0", 0, ips("10.0.0.11", "10.0.0.13"))}
				in.Recent = []Recent{
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.12/32"), At: now.Add(-10 * time.Second), Added: true},
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.13/32"), At: now.Add(-59 * time.Second)},
				}
			}),
			want: Plan{},
		},
		{
			name: "recent window: once expired the disagreement is acted on",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = []core.ENI{eni("eni-0", 0, ips("10.0.0.11", "10.0.0.13"))}
				in.Recent = []Recent{
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.12/32"), At: now.Add(-61 * time.Second), Added: true},
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.13/32"), At: now.Add(-2 * time.Minute)},
				}
			}),
			want: Plan{
				AddBlocks:  []BlockChange{blk("eni-0", "10.0.0.13")},
				DropBlocks: []BlockChange{blk("eni-0", "10.0.0.12")},
			},
		},
		{
			name: "recent window: explicit window, other ENI not protected",
			in: with(base(FromIMDS), func(in *Input) {
				in.RecentWindow = 5 * time.Second
				in.Observed = []core.ENI{eni("eni-0", 0, imdsView(), ips("10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"))}
				in.Recent = []Recent{
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.13/32"), At: now.Add(-4 * time.Second)},
					{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.14/32"), At: now.Add(-6 * time.Second)},
					{ENI: "eni-9", Block: netip.MustParsePrefix("10.0.0.14/32"), At: now},
				}
			}),
			want: Plan{AddBlocks: []BlockChange{blk("eni-0", "10.0.0.14")}},
		},
		{
			name: "multi-NIC off: ENIs on other cards are not managed",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-c1", 0, card(1), ips("10.0.5.11")))
			}),
			want: Plan{},
		},
		{
			name: "multi-NIC on: ENIs on other cards are adopted",
			in: with(base(FromEC2), func(in *Input) {
				in.MultiNIC = true
				in.Observed = append(in.Observed, eni("eni-c1", 0, card(1), ips("10.0.5.11")))
			}),
			want: Plan{AdoptENIs: []core.ENI{eni("eni-c1", 0, card(1), ips("10.0.5.11"))}},
		},
		{
			name: "multi-NIC switched off: known ENI on card 1 is forgotten",
			in: with(base(FromEC2), func(in *Input) {
				in.Observed = append(in.Observed, eni("eni-c1", 0, card(1), ips("10.0.5.11")))
				in.Known = append(in.Known, known("eni-c1", 0, kcard(1), kips("10.0.5.11")))
			}),
			want: Plan{ForgetENIs: []core.ENIID{"eni-c1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.in)
			reasons := got.Reasons
			got.Reasons = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("plan mismatch\n got: %+v\nwant: %+v\nreasons: %q", got, tt.want, reasons)
			}
			// Every planned change names its ENI in at least one reason.
			for _, id := range mentioned(got) {
				if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, string(id)) }) {
					t.Errorf("no reason mentions %s: %q", id, reasons)
				}
			}
			if got.NeedsEC2Confirmation && len(reasons) == 0 {
				t.Errorf("confirmation requested without a reason")
			}
		})
	}
}

func mentioned(p Plan) []core.ENIID {
	var ids []core.ENIID
	for _, e := range p.AdoptENIs {
		ids = append(ids, e.ID)
	}
	ids = append(ids, p.TagENIs...)
	ids = append(ids, p.ForgetENIs...)
	ids = append(ids, p.LostENIs...)
	ids = append(ids, p.ExcludeENIs...)
	for _, b := range p.AddBlocks {
		ids = append(ids, b.ENI)
	}
	for _, b := range p.DropBlocks {
		ids = append(ids, b.ENI)
	}
	for _, b := range p.Orphaned {
		ids = append(ids, b.ENI)
	}
	return ids
}

// TestComputeNeverRemovesFromIMDS checks the safety rule over many inputs:
// whatever IMDS reports, nothing is dropped, forgotten or reported lost.
func TestComputeNeverRemovesFromIMDS(t *testing.T) {
	knownSets := [][]KnownENI{
		{known("eni-0", 0, kips("10.0.0.11"), assigned("10.0.0.11"))},
		{known("eni-0", 0), known("eni-1", 1, kips("10.0.1.11")), known("eni-2", 2, kpfx("10.0.2.16/28"), assigned("10.0.2.17"))},
	}
	observedSets := [][]core.ENI{
		nil,
		{eni("eni-0", 0, imdsView())},
		{eni("eni-0", 0, imdsView()), eni("eni-1", 1, imdsView(), tags(core.TagNoManage, "true"))},
		{eni("eni-1", 1, imdsView(), ips("10.0.1.12"))},
	}
	for ki, ks := range knownSets {
		for oi, os := range observedSets {
			in := Input{Now: now, InstanceID: self, Source: FromIMDS, Observed: os, Known: ks, ManageUntagged: true}
			got := Compute(in)
			if len(got.DropBlocks)+len(got.ForgetENIs)+len(got.LostENIs)+len(got.Orphaned)+len(got.ExcludeENIs) != 0 {
				t.Errorf("known %d observed %d: IMDS data planned a removal: %+v", ki, oi, got)
			}
			if len(got.TagENIs) != 0 {
				t.Errorf("known %d observed %d: IMDS data planned tagging: %v", ki, oi, got.TagENIs)
			}
		}
	}
}

func TestComputeDeterministic(t *testing.T) {
	in := Input{
		Now: now, InstanceID: self, Source: FromEC2, ManageUntagged: true,
		Observed: []core.ENI{
			eni("eni-0", 0, ips("10.0.0.11", "10.0.0.14", "10.0.0.13")),
			eni("eni-b", 2, ips("10.0.2.11"), tags()),
			eni("eni-a", 1, pfx("10.0.1.48/28", "10.0.1.16/28")),
			eni("eni-c", 3),
		},
		Known: []KnownENI{
			known("eni-z", 5, kips("10.0.5.11")),
			known("eni-0", 0, kips("10.0.0.11", "10.0.0.12", "10.0.0.15"), assigned("10.0.0.15")),
			known("eni-y", 4, assigned("10.0.4.11")),
			known("eni-c", 3, kips("10.0.3.12", "10.0.3.11")),
		},
	}
	first := Compute(in)
	for i := range 20 {
		shuffled := in
		shuffled.Observed = rotate(in.Observed, i)
		shuffled.Known = rotate(in.Known, i*3)
		if i%2 == 1 {
			slices.Reverse(shuffled.Observed)
			slices.Reverse(shuffled.Known)
		}
		if got := Compute(shuffled); !reflect.DeepEqual(got, first) {
			t.Fatalf("permutation %d changed the plan\n got: %+v\nwant: %+v", i, got, first)
		}
	}
	if got := []core.ENIID{first.AdoptENIs[0].ID, first.AdoptENIs[1].ID}; !slices.Equal(got, []core.ENIID{"eni-a", "eni-b"}) {
		t.Errorf("adopted in device order: got %v", got)
	}
	wantDrop := []BlockChange{blk("eni-0", "10.0.0.12"), blk("eni-c", "10.0.3.11"), blk("eni-c", "10.0.3.12")}
	if !reflect.DeepEqual(first.DropBlocks, wantDrop) {
		t.Errorf("drop order: got %v, want %v", first.DropBlocks, wantDrop)
	}
	if !slices.Equal(first.LostENIs, []core.ENIID{"eni-y"}) || !slices.Equal(first.ForgetENIs, []core.ENIID{"eni-z"}) {
		t.Errorf("lost %v forget %v", first.LostENIs, first.ForgetENIs)
	}
}

func rotate[T any](s []T, n int) []T {
	out := slices.Clone(s)
	if len(out) == 0 {
		return out
	}
	n %= len(out)
	return append(out[n:], out[:n]...)
}

// TestComputeDoesNotAliasInput makes sure adopted ENIs can be modified by
// the caller without changing the observed data.
func TestComputeDoesNotAliasInput(t *testing.T) {
	obs := eni("eni-1", 1, ips("10.0.1.11"), pfx("10.0.1.16/28"))
	in := with(base(FromEC2), func(in *Input) { in.Observed = append(in.Observed, obs) })
	got := Compute(in)
	if len(got.AdoptENIs) != 1 {
		t.Fatalf("adopted %d ENIs, want 1", len(got.AdoptENIs))
	}
	got.AdoptENIs[0].SecondaryIPs[0] = netip.MustParseAddr("192.0.2.1")
	got.AdoptENIs[0].IPv4Prefixes[0] = netip.MustParsePrefix("192.0.2.0/28")
	got.AdoptENIs[0].Tags["x"] = "y"
	if obs.SecondaryIPs[0] != netip.MustParseAddr("10.0.1.11") || obs.IPv4Prefixes[0] != netip.MustParsePrefix("10.0.1.16/28") {
		t.Errorf("observed addresses changed through the plan: %v %v", obs.SecondaryIPs, obs.IPv4Prefixes)
	}
	if _, ok := obs.Tags["x"]; ok {
		t.Errorf("observed tags changed through the plan")
	}
}

func TestBlockChange(t *testing.T) {
	tests := []struct {
		b        BlockChange
		wantKind core.BlockKind
		wantStr  string
	}{
		{blk("eni-1", "10.0.0.5"), core.BlockIP, "eni-1 address 10.0.0.5"},
		{blk("eni-1", "10.0.0.16/28"), core.BlockPrefix, "eni-1 prefix 10.0.0.16/28"},
		{blk("eni-1", "2600:1f14::/80"), core.BlockPrefix, "eni-1 prefix 2600:1f14::/80"},
	}
	for _, tt := range tests {
		if got := tt.b.Kind(); got != tt.wantKind {
			t.Errorf("%v: kind %v, want %v", tt.b.Block, got, tt.wantKind)
		}
		if got := tt.b.String(); got != tt.wantStr {
			t.Errorf("String() = %q, want %q", got, tt.wantStr)
		}
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{FromIMDS: "imds", FromEC2: "ec2", Source(7): "source(7)"} {
		if got := s.String(); got != want {
			t.Errorf("Source(%d).String() = %q, want %q", uint8(s), got, want)
		}
	}
}

func TestPlanEmpty(t *testing.T) {
	if !(Plan{NeedsEC2Confirmation: true, Reasons: []string{"x"}}).Empty() {
		t.Errorf("a plan with only a confirmation request should be empty")
	}
	for i, p := range []Plan{
		{AdoptENIs: []core.ENI{{ID: "e"}}}, {TagENIs: []core.ENIID{"e"}}, {AddBlocks: []BlockChange{{}}},
		{DropBlocks: []BlockChange{{}}}, {Orphaned: []OrphanedBlock{{}}}, {ForgetENIs: []core.ENIID{"e"}},
		{LostENIs: []core.ENIID{"e"}}, {ExcludeENIs: []core.ENIID{"e"}},
	} {
		if p.Empty() {
			t.Errorf("plan %d reported empty: %+v", i, p)
		}
	}
}

func ExampleCompute() {
	// Instance metadata still shows an address the node released five
	// seconds ago and no longer shows one a pod uses: nothing is re-added,
	// nothing dropped, and EC2 should be asked.
	in := Input{
		Now:        now,
		InstanceID: "i-0abc",
		Source:     FromIMDS,
		Observed: []core.ENI{{
			ID: "eni-0", Primary: true, PrimaryIP: netip.MustParseAddr("10.0.0.10"),
			SecondaryIPs: addrs("10.0.0.12", "10.0.0.13"),
		}},
		Known: []KnownENI{{
			ID: "eni-0", Primary: true,
			IPs: addrs("10.0.0.11", "10.0.0.13"), Assigned: addrs("10.0.0.11"),
		}},
		Recent: []Recent{{ENI: "eni-0", Block: netip.MustParsePrefix("10.0.0.12/32"), At: now.Add(-5 * time.Second)}},
	}
	p := Compute(in)
	fmt.Println("add:", p.AddBlocks, "drop:", p.DropBlocks, "ask EC2:", p.NeedsEC2Confirmation)
	for _, r := range p.Reasons {
		fmt.Println(r)
	}
	// Output:
	// add: [] drop: [] ask EC2: true
	// eni-0: address 10.0.0.12 reported by imds but changed by this node at 2025-06-01T11:59:55Z; not re-added
	// eni-0: address 10.0.0.11 missing from instance metadata; kept until EC2 confirms
}
