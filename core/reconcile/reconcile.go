package reconcile

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// DefaultRecentWindow is used when Input.RecentWindow is zero: how long a
// block this node added or released is protected from reconciliation
// (upstream keeps a 60 s reconcile cooldown for the same reason: IMDS lag).
const DefaultRecentWindow = 60 * time.Second

// Source tells where the observed interface list came from.
type Source uint8

const (
	// FromIMDS: instance metadata. It may lag EC2 and reports no tags, so it
	// is never trusted for removals. It is the zero value on purpose: a
	// caller that forgets to set Source gets the cautious behaviour.
	FromIMDS Source = iota
	// FromEC2: DescribeNetworkInterfaces. Authoritative, carries tags.
	FromEC2
)

func (s Source) String() string {
	switch s {
	case FromIMDS:
		return "imds"
	case FromEC2:
		return "ec2"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// KnownENI is one interface as the datastore holds it.
type KnownENI struct {
	ID           core.ENIID
	DeviceNumber int
	NetworkCard  int
	Primary      bool
	Trunk        bool
	// IPs are the secondary addresses (/32 blocks).
	IPs []netip.Addr
	// Prefixes are the delegated IPv4 /28 prefixes.
	Prefixes []netip.Prefix
	// IPv6Prefixes are the delegated IPv6 /80 prefixes.
	IPv6Prefixes []netip.Prefix
	// Assigned are the addresses of this ENI that pods hold right now.
	Assigned []netip.Addr
}

// Recent is a block this node itself added to or released from an ENI.
type Recent struct {
	ENI   core.ENIID
	Block netip.Prefix
	At    time.Time
	// Added is true for an assignment, false for a release.
	Added bool
}

// Input is everything the planner looks at.
type Input struct {
	Now        time.Time
	InstanceID core.InstanceID
	Source     Source
	// Observed are the interfaces the cloud reports as attached to this
	// instance. Entries in state "available" or "detaching", or attached to
	// another instance, are treated as not attached.
	Observed []core.ENI
	// Known are the interfaces the datastore holds.
	Known []KnownENI
	// Recent lists blocks changed by this node; those changed within
	// RecentWindow of Now are left alone. Zero RecentWindow means
	// DefaultRecentWindow.
	Recent       []Recent
	RecentWindow time.Duration
	// ManageUntagged is MANAGE_UNTAGGED_ENI (default true).
	ManageUntagged bool
	// MultiNIC is ENABLE_MULTI_NIC: without it ENIs on network cards other
	// than 0 are not managed.
	MultiNIC bool
	// Pending are ENIs this node is attaching or detaching right now.
	Pending map[core.ENIID]bool
}

// BlockChange names one block on one ENI. Block is a /32 (or /128) for a
// secondary address, a /28 or /80 for a delegated prefix.
type BlockChange struct {
	ENI   core.ENIID
	Block netip.Prefix
}

// Kind tells whether the block is a single secondary address or a prefix.
func (b BlockChange) Kind() core.BlockKind {
	if b.Block.IsSingleIP() {
		return core.BlockIP
	}
	return core.BlockPrefix
}

func (b BlockChange) String() string { return string(b.ENI) + " " + blockString(b.Block) }

// OrphanedBlock is a known block the cloud no longer reports while pods
// still hold addresses in it.
type OrphanedBlock struct {
	ENI      core.ENIID
	Block    netip.Prefix
	Assigned []netip.Addr
}

// Plan is what the node service should do to the datastore (and the tags).
type Plan struct {
	// AdoptENIs are attached, managed ENIs the datastore does not know: add
	// them with their blocks. Trunk ENIs come with empty address lists.
	AdoptENIs []core.ENI
	// TagENIs are managed ENIs missing our instance_id tag (EC2 data only).
	TagENIs []core.ENIID
	// AddBlocks are blocks added out of band on known ENIs.
	AddBlocks []BlockChange
	// DropBlocks are known blocks the cloud no longer reports and no pod
	// holds.
	DropBlocks []BlockChange
	// Orphaned are known blocks the cloud no longer reports that pods still
	// hold: keep them and report; the caller decides about the pods.
	Orphaned []OrphanedBlock
	// ForgetENIs are known ENIs no longer attached (or no longer managed)
	// with no pods: remove them from the datastore.
	ForgetENIs []core.ENIID
	// LostENIs are known ENIs no longer attached that still carry pods.
	// Only planned from EC2 data; the caller may force-remove them.
	LostENIs []core.ENIID
	// ExcludeENIs are known ENIs still attached but no longer managed
	// (tagged no_manage or for another instance, or no longer eligible) that
	// carry pods: keep the pods, place no new ones, forget the ENI once
	// empty.
	ExcludeENIs []core.ENIID
	// NeedsEC2Confirmation is set when the observed data disagrees with the
	// datastore in a way only an authoritative EC2 read may act on.
	NeedsEC2Confirmation bool
	// Reasons explain each decision, for logs and events.
	Reasons []string
}

// Empty reports whether the plan asks for no change at all (reasons and
// the confirmation flag aside).
func (p Plan) Empty() bool {
	return len(p.AdoptENIs) == 0 && len(p.TagENIs) == 0 && len(p.AddBlocks) == 0 &&
		len(p.DropBlocks) == 0 && len(p.Orphaned) == 0 && len(p.ForgetENIs) == 0 &&
		len(p.LostENIs) == 0 && len(p.ExcludeENIs) == 0
}

type blockKey struct {
	eni   core.ENIID
	block netip.Prefix
}

type planner struct {
	in     Input
	plan   Plan
	recent map[blockKey]Recent
	// removalsUnsafe suppresses every removal (observed list incomplete).
	removalsUnsafe bool
}

// Compute plans the reconciliation of the datastore with the cloud.
func Compute(in Input) Plan {
	p := &planner{in: in, recent: make(map[blockKey]Recent)}
	window := in.RecentWindow
	if window <= 0 {
		window = DefaultRecentWindow
	}
	for _, r := range in.Recent {
		if in.Now.Sub(r.At) < window {
			p.recent[blockKey{r.ENI, r.Block.Masked()}] = r
		}
	}

	observed := p.attached()
	known := make(map[core.ENIID]KnownENI, len(in.Known))
	for _, k := range in.Known {
		if _, dup := known[k.ID]; dup {
			p.reason("%s: listed twice in the datastore input; using the first entry", k.ID)
			continue
		}
		known[k.ID] = k
	}

	p.checkComplete(observed, known)

	for _, e := range observed {
		p.observedENI(e, known)
	}

	knownIDs := make([]core.ENIID, 0, len(known))
	for id := range known {
		knownIDs = append(knownIDs, id)
	}
	slices.Sort(knownIDs)
	byID := make(map[core.ENIID]core.ENI, len(observed))
	for _, e := range observed {
		byID[e.ID] = e
	}
	for _, id := range knownIDs {
		e, ok := byID[id]
		p.knownENI(known[id], e, ok)
	}

	p.sort()
	return p.plan
}

func (p *planner) reason(format string, args ...any) {
	p.plan.Reasons = append(p.plan.Reasons, fmt.Sprintf(format, args...))
}

// attached filters the observed list down to interfaces attached to this
// instance, first entry per ID, in (card, device, ID) order.
func (p *planner) attached() []core.ENI {
	seen := make(map[core.ENIID]bool, len(p.in.Observed))
	out := make([]core.ENI, 0, len(p.in.Observed))
	for _, e := range p.in.Observed {
		switch {
		case seen[e.ID]:
			p.reason("%s: reported twice by %s; using the first entry", e.ID, p.in.Source)
			continue
		case e.InstanceID != "" && e.InstanceID != p.in.InstanceID:
			p.reason("%s: attached to %s, not to this instance", e.ID, e.InstanceID)
			continue
		case e.Status == "available" || e.Status == "detaching":
			p.reason("%s: status %q, treated as not attached", e.ID, e.Status)
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b core.ENI) int {
		return cmp.Or(cmp.Compare(a.NetworkCard, b.NetworkCard),
			cmp.Compare(a.DeviceNumber, b.DeviceNumber), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// checkComplete guards against partial cloud data: every instance has its
// primary ENI attached, so a list without it cannot justify removals.
func (p *planner) checkComplete(observed []core.ENI, known map[core.ENIID]KnownENI) {
	for _, e := range observed {
		if isPrimary(e) {
			return
		}
	}
	for _, k := range known {
		if k.Primary {
			p.removalsUnsafe = true
			p.plan.NeedsEC2Confirmation = true
			p.reason("%s did not report the primary ENI %s; the list looks incomplete, no removal planned", p.in.Source, k.ID)
			return
		}
	}
}

func isPrimary(e core.ENI) bool {
	return e.Primary || (e.DeviceNumber == 0 && e.NetworkCard == 0)
}

// managed decides whether an attached ENI is ours to use. When it is not,
// why says so.
func (p *planner) managed(e core.ENI) (ok bool, why string) {
	if isPrimary(e) {
		return true, ""
	}
	if e.NoManage() {
		return false, "tagged " + core.TagNoManage + "=true"
	}
	if e.NetworkCard != 0 && !p.in.MultiNIC {
		return false, fmt.Sprintf("on network card %d and multi-NIC is off", e.NetworkCard)
	}
	owner, tagged := e.Tags[core.TagInstanceID]
	switch {
	case tagged && owner == string(p.in.InstanceID):
		return true, ""
	case tagged:
		return false, "tagged for instance " + owner
	case p.in.ManageUntagged:
		return true, ""
	case p.createdHere(e):
		return true, ""
	}
	return false, "untagged and untagged ENIs are not managed"
}

// createdHere reports whether the description shows this instance created
// the ENI, which protects our own ENIs whose tag got lost.
func (p *planner) createdHere(e core.ENI) bool {
	return p.in.InstanceID != "" && e.Description == core.ENIDescriptionPrefix+string(p.in.InstanceID)
}

func (p *planner) needsTag(e core.ENI) bool {
	return p.in.Source == FromEC2 && e.Tags[core.TagInstanceID] != string(p.in.InstanceID)
}

func (p *planner) observedENI(e core.ENI, known map[core.ENIID]KnownENI) {
	if p.in.Pending[e.ID] {
		p.reason("%s: attach or detach in progress, left alone", e.ID)
		return
	}
	ok, why := p.managed(e)
	k, isKnown := known[e.ID]
	if !ok {
		if !isKnown {
			p.reason("%s: not managed (%s), ignored", e.ID, why)
		}
		// A known ENI that is no longer managed is handled with the
		// known ENIs.
		return
	}
	if !isKnown {
		if p.in.Source == FromIMDS && !isPrimary(e) {
			p.plan.NeedsEC2Confirmation = true
			p.reason("%s: new ENI seen in instance metadata; its tags must be read from EC2 before adopting it", e.ID)
			return
		}
		p.plan.AdoptENIs = append(p.plan.AdoptENIs, adoptCopy(e))
		if e.Trunk {
			p.reason("%s: adopt trunk ENI at device %d (no pod addresses)", e.ID, e.DeviceNumber)
		} else {
			p.reason("%s: adopt ENI at device %d with %d blocks", e.ID, e.DeviceNumber, len(observedBlocks(e)))
		}
		if p.needsTag(e) {
			p.plan.TagENIs = append(p.plan.TagENIs, e.ID)
		}
		return
	}
	if p.needsTag(e) {
		p.plan.TagENIs = append(p.plan.TagENIs, e.ID)
		p.reason("%s: missing our %s tag", e.ID, core.TagInstanceID)
	}
	if k.DeviceNumber != e.DeviceNumber || k.NetworkCard != e.NetworkCard {
		p.reason("%s: datastore has device %d card %d, %s reports device %d card %d",
			e.ID, k.DeviceNumber, k.NetworkCard, p.in.Source, e.DeviceNumber, e.NetworkCard)
	}
	if k.Trunk || e.Trunk {
		return
	}
	p.compareBlocks(k, e)
}

func (p *planner) compareBlocks(k KnownENI, e core.ENI) {
	have := knownBlocks(k)
	seen := observedBlocks(e)

	for _, b := range sortedBlocks(seen) {
		if have[b] {
			continue
		}
		if r, ok := p.recent[blockKey{k.ID, b}]; ok {
			p.reason("%s: %s reported by %s but changed by this node at %s; not re-added",
				k.ID, blockString(b), p.in.Source, r.At.Format(time.RFC3339))
			continue
		}
		p.plan.AddBlocks = append(p.plan.AddBlocks, BlockChange{ENI: k.ID, Block: b})
		p.reason("%s: %s added out of band, adding it", k.ID, blockString(b))
	}

	for _, b := range sortedBlocks(have) {
		if seen[b] {
			continue
		}
		if r, ok := p.recent[blockKey{k.ID, b}]; ok {
			p.reason("%s: %s missing from %s but changed by this node at %s; kept",
				k.ID, blockString(b), p.in.Source, r.At.Format(time.RFC3339))
			continue
		}
		if p.in.Source != FromEC2 {
			p.plan.NeedsEC2Confirmation = true
			p.reason("%s: %s missing from instance metadata; kept until EC2 confirms", k.ID, blockString(b))
			continue
		}
		if p.removalsUnsafe {
			continue
		}
		var held []netip.Addr
		for _, a := range k.Assigned {
			if b.Contains(a) {
				held = append(held, a)
			}
		}
		if len(held) > 0 {
			slices.SortFunc(held, netip.Addr.Compare)
			p.plan.Orphaned = append(p.plan.Orphaned, OrphanedBlock{ENI: k.ID, Block: b, Assigned: held})
			p.reason("%s: %s gone from EC2 but %d pod address(es) use it; kept and reported", k.ID, blockString(b), len(held))
			continue
		}
		p.plan.DropBlocks = append(p.plan.DropBlocks, BlockChange{ENI: k.ID, Block: b})
		p.reason("%s: %s gone from EC2 and unused, dropping it", k.ID, blockString(b))
	}
}

// knownENI handles a datastore ENI that is no longer attached (ok false) or
// attached but perhaps no longer managed.
func (p *planner) knownENI(k KnownENI, e core.ENI, attached bool) {
	if p.in.Pending[k.ID] {
		if !attached {
			p.reason("%s: attach or detach in progress, left alone", k.ID)
		}
		return
	}
	why := "no longer attached"
	if attached {
		ok, notManaged := p.managed(e)
		if ok {
			return
		}
		why = "no longer managed (" + notManaged + ")"
	}
	if k.Primary {
		p.reason("%s: primary ENI %s according to %s; never forgotten", k.ID, why, p.in.Source)
		return
	}
	if p.in.Source != FromEC2 {
		p.plan.NeedsEC2Confirmation = true
		p.reason("%s: %s according to instance metadata; kept until EC2 confirms", k.ID, why)
		return
	}
	if p.removalsUnsafe {
		return
	}
	switch {
	case len(k.Assigned) == 0:
		p.plan.ForgetENIs = append(p.plan.ForgetENIs, k.ID)
		p.reason("%s: %s and unused, forgetting it", k.ID, why)
	case attached:
		p.plan.ExcludeENIs = append(p.plan.ExcludeENIs, k.ID)
		p.reason("%s: %s but %d pod address(es) use it; no new pods", k.ID, why, len(k.Assigned))
	default:
		p.plan.LostENIs = append(p.plan.LostENIs, k.ID)
		p.reason("%s: %s but %d pod address(es) use it; reported as lost", k.ID, why, len(k.Assigned))
	}
}

func (p *planner) sort() {
	pl := &p.plan
	slices.SortFunc(pl.AdoptENIs, func(a, b core.ENI) int {
		return cmp.Or(cmp.Compare(a.NetworkCard, b.NetworkCard),
			cmp.Compare(a.DeviceNumber, b.DeviceNumber), cmp.Compare(a.ID, b.ID))
	})
	for _, ids := range []*[]core.ENIID{&pl.TagENIs, &pl.ForgetENIs, &pl.LostENIs, &pl.ExcludeENIs} {
		slices.Sort(*ids)
		*ids = slices.Compact(*ids)
	}
	byENIBlock := func(a, b BlockChange) int {
		return cmp.Or(cmp.Compare(a.ENI, b.ENI), comparePrefix(a.Block, b.Block))
	}
	slices.SortFunc(pl.AddBlocks, byENIBlock)
	slices.SortFunc(pl.DropBlocks, byENIBlock)
	slices.SortFunc(pl.Orphaned, func(a, b OrphanedBlock) int {
		return cmp.Or(cmp.Compare(a.ENI, b.ENI), comparePrefix(a.Block, b.Block))
	})
}

// adoptCopy returns a copy of e that shares no slice or map with the input.
// Trunk ENIs lose their address lists: they never serve pod addresses.
func adoptCopy(e core.ENI) core.ENI {
	e.SecurityGroups = slices.Clone(e.SecurityGroups)
	if e.Tags != nil {
		tags := make(map[string]string, len(e.Tags))
		for k, v := range e.Tags {
			tags[k] = v
		}
		e.Tags = tags
	}
	if e.Trunk {
		e.SecondaryIPs, e.IPv4Prefixes, e.IPv6Prefixes = nil, nil, nil
		return e
	}
	e.SecondaryIPs = slices.DeleteFunc(slices.Clone(e.SecondaryIPs), func(a netip.Addr) bool {
		return !a.IsValid() || a == e.PrimaryIP
	})
	e.IPv4Prefixes = slices.Clone(e.IPv4Prefixes)
	e.IPv6Prefixes = slices.Clone(e.IPv6Prefixes)
	return e
}

func observedBlocks(e core.ENI) map[netip.Prefix]bool {
	out := make(map[netip.Prefix]bool, len(e.SecondaryIPs)+len(e.IPv4Prefixes)+len(e.IPv6Prefixes))
	for _, a := range e.SecondaryIPs {
		if a.IsValid() && a != e.PrimaryIP {
			out[single(a)] = true
		}
	}
	addPrefixes(out, e.IPv4Prefixes)
	addPrefixes(out, e.IPv6Prefixes)
	return out
}

func knownBlocks(k KnownENI) map[netip.Prefix]bool {
	out := make(map[netip.Prefix]bool, len(k.IPs)+len(k.Prefixes)+len(k.IPv6Prefixes))
	for _, a := range k.IPs {
		if a.IsValid() {
			out[single(a)] = true
		}
	}
	addPrefixes(out, k.Prefixes)
	addPrefixes(out, k.IPv6Prefixes)
	return out
}

func addPrefixes(m map[netip.Prefix]bool, ps []netip.Prefix) {
	for _, p := range ps {
		if p.IsValid() {
			m[p.Masked()] = true
		}
	}
}

func single(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

func sortedBlocks(m map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// blockString prints a secondary address without its /32 and a prefix with
// its length.
func blockString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return "address " + p.Addr().String()
	}
	return "prefix " + p.String()
}
