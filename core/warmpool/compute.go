package warmpool

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// MaxNewENIsPerPlan bounds the ENIs a single plan creates. No instance type
// comes near it (the largest attach 24 interfaces per network card); it only
// keeps a plan small when the limits handed in are absurd.
const MaxNewENIsPerPlan = 64

// huge caps every count the policy computes with, so that absurd inputs
// (a target of math.MaxInt) saturate instead of overflowing.
const huge = math.MaxInt / 4

// Compute returns what the pool needs now: blocks to add to attached ENIs,
// ENIs to create (already sized), free blocks to hand back and ENIs to
// delete. It is called on every loop tick and whenever a pod waits for an
// address; the same input always gives the same plan.
//
// The rules are summarised in the package documentation and explained in
// docs/warm-pool.md. In short, the targets define two floors, a number of
// free addresses and a number of total addresses (pods waiting always
// raise the first). When the pool is below a floor the plan grows it, within
// the ENI, per-ENI and max-pods limits, reporting what it cannot reach in
// Shortfall. When AllowDecrease is set and the pool is above both floors,
// the plan deletes ENIs and hands back free blocks, never going below a
// floor, so that the next call does not grow the pool again.
func Compute(in Input) Plan {
	s := newState(in)
	var p Plan
	if need := s.deficit(s.total, s.free); need > 0 {
		p.Reasons = append(p.Reasons, s.lowReason(need))
		s.planIncrease(&p, need)
	}
	if in.AllowDecrease {
		s.planDecrease(&p)
	}
	return p
}

// eniView is one ENI with its counts made non-negative and consistent.
type eniView struct {
	core.ENIUsage
	free  int // addresses of the active kind a pod can get now
	busy  int // assigned + cooling addresses of the active kind
	room  int // blocks the ENI can still take, of either kind
	order int // position in device order
}

// state is the normalised view of an Input that the rules work on.
type state struct {
	in     Input
	mode   Mode
	unit   int // addresses per block of the active kind: 1 or 16
	kind   core.BlockKind
	perENI int // Limits.BlocksPerENI, non-negative
	enis   []eniView

	// Sums over the usable ENIs, in addresses.
	total, busy, cooling, free int

	// The targets as two floors, in addresses. targetFree is the free
	// floor before waiting pods are added.
	minFree, minTotal int
	targetFree        int
	pending           int
}

func newState(in Input) *state {
	s := &state{
		in:      in,
		mode:    in.Targets.Mode(in.PrefixMode),
		unit:    1,
		kind:    core.BlockIP,
		perENI:  clampCount(in.Limits.BlocksPerENI),
		pending: clampCount(in.Pending),
	}
	if in.PrefixMode {
		s.unit = core.AddressesPerPrefix
		s.kind = core.BlockPrefix
	}
	s.enis = make([]eniView, 0, len(in.Pool.ENIs))
	for _, e := range in.Pool.ENIs {
		s.enis = append(s.enis, s.view(e))
	}
	sort.SliceStable(s.enis, func(i, j int) bool {
		a, b := s.enis[i], s.enis[j]
		if a.NetworkCard != b.NetworkCard {
			return a.NetworkCard < b.NetworkCard
		}
		if a.DeviceNumber != b.DeviceNumber {
			return a.DeviceNumber < b.DeviceNumber
		}
		return a.ID < b.ID
	})
	for i := range s.enis {
		e := &s.enis[i]
		e.order = i
		if !e.Usable() {
			continue
		}
		s.total = addSat(s.total, e.Total)
		s.busy = addSat(s.busy, e.busy)
		s.cooling = addSat(s.cooling, e.Cooling)
		s.free = addSat(s.free, e.free)
	}
	s.setFloors()
	return s
}

// view clamps the counts of one ENI so that later arithmetic can trust
// them: nothing negative, no more fully free blocks than free addresses
// allow, no more free inactive blocks than inactive blocks.
func (s *state) view(e core.ENIUsage) eniView {
	e.IPs = clampCount(e.IPs)
	e.Prefixes = clampCount(e.Prefixes)
	e.Total = clampCount(e.Total)
	e.Assigned = clampCount(e.Assigned)
	e.Cooling = clampCount(e.Cooling)
	e.InactiveBlocks = clampCount(e.InactiveBlocks)
	e.InactiveAssigned = clampCount(e.InactiveAssigned)
	e.InactiveFreeBlocks = min(clampCount(e.InactiveFreeBlocks), e.InactiveBlocks)
	busy := addSat(e.Assigned, e.Cooling)
	free := max(0, e.Total-busy)
	e.FreeBlocks = min(clampCount(e.FreeBlocks), free/s.unit)
	return eniView{
		ENIUsage: e,
		free:     free,
		busy:     busy,
		room:     max(0, s.perENI-addSat(e.IPs, e.Prefixes)),
	}
}

// setFloors turns the targets into the two floors every rule is checked
// against: the pool needs at least minFree free addresses and at least
// minTotal addresses in all.
func (s *state) setFloors() {
	t := s.in.Targets
	switch s.mode {
	case ModeIPTarget:
		// Total >= Assigned + Cooling + WARM_IP is the same as
		// Free >= WARM_IP.
		s.minFree = clampCount(t.WarmIP)
		s.minTotal = clampCount(t.MinimumIP)
	case ModeWarmPrefix:
		w := clampCount(t.WarmPrefix)
		s.minFree = mulSat(w, core.AddressesPerPrefix)
		if w == 0 {
			s.minFree = 1 // allocate only when nothing is free
		}
	default:
		w := clampCount(t.WarmENI)
		s.minFree = mulSat(w, s.perENI)
		if w == 0 {
			s.minFree = 1
		}
	}
	// Waiting pods always count, whatever the targets say.
	s.targetFree = s.minFree
	s.minFree = max(s.minFree, s.pending)
}

// deficit is how many addresses a pool with these totals lacks.
func (s *state) deficit(total, free int) int {
	return max(0, s.minFree-free, s.minTotal-total)
}

// surplus is how many addresses a pool with these totals could lose and
// still meet both floors.
func (s *state) surplus(total, free int) int {
	return max(0, min(free-s.minFree, total-s.minTotal))
}

// planIncrease plans need more addresses: first on attached ENIs in device
// order, then on new ENIs, all in this one plan.
func (s *state) planIncrease(p *Plan, need int) {
	needBlocks := ceilDiv(need, s.unit)
	// Under WARM_ENI_TARGET whole ENIs are the unit: fill all the room.
	whole := s.mode == ModeWarmENI
	capBlocks, capped := s.podCapBlocks()
	planned := 0
	var limit string

	for _, e := range s.enis {
		if planned >= needBlocks {
			break
		}
		if !e.Usable() || e.room == 0 || (s.in.SkipPrimary && e.Primary) {
			continue
		}
		n := e.room
		if !whole {
			n = min(n, needBlocks-planned)
		}
		if n > capBlocks-planned {
			n = capBlocks - planned
			limit = s.podCapText()
		}
		if n <= 0 {
			break
		}
		p.Grow = append(p.Grow, s.grow(e.ID, n))
		p.Reasons = append(p.Reasons, fmt.Sprintf("add %s to %s (room for %d)", s.blocks(n), e.ID, e.room))
		planned += n
	}

	slots := s.in.Limits.MaxENIs - len(s.enis) - clampCount(s.in.Limits.ReservedENISlots)
	created := 0
	for planned < needBlocks && limit == "" {
		switch {
		case !s.in.AllowNewENI:
			limit = "new ENIs are not allowed right now"
		case slots <= 0:
			limit = fmt.Sprintf("ENI limit reached (%d attached, %d slots reserved, at most %d)",
				len(s.enis), clampCount(s.in.Limits.ReservedENISlots), s.in.Limits.MaxENIs)
		case s.perENI == 0:
			limit = "the instance limits allow no address on an ENI"
		case created == MaxNewENIsPerPlan:
			limit = fmt.Sprintf("at most %d new ENIs per plan", MaxNewENIsPerPlan)
		}
		if limit != "" {
			break
		}
		n := s.perENI
		if !whole {
			n = min(n, needBlocks-planned)
		}
		if n > capBlocks-planned {
			n = capBlocks - planned
			limit = s.podCapText()
		}
		if n <= 0 {
			break
		}
		p.NewENIs = append(p.NewENIs, s.newENI(n))
		p.Reasons = append(p.Reasons, fmt.Sprintf("create an ENI with %s", s.blocks(n)))
		planned += n
		slots--
		created++
	}

	if got := mulSat(planned, s.unit); got < need {
		p.Shortfall = need - got
		if limit == "" && capped && planned >= capBlocks {
			limit = s.podCapText()
		}
		if limit == "" {
			limit = "no attached ENI has room left"
		}
		p.Reasons = append(p.Reasons, fmt.Sprintf("%d addresses still missing: %s", p.Shortfall, limit))
	}
}

// podCapBlocks is how many blocks may still be added before the usable,
// non-cooling addresses exceed MaxPods (rounded up to a whole prefix under
// prefix delegation). The bool is false when there is no cap.
func (s *state) podCapBlocks() (int, bool) {
	mp := s.in.Limits.MaxPods
	if mp <= 0 {
		return huge, false
	}
	held := max(0, s.total-s.cooling)
	limit := mulSat(ceilDiv(mp, s.unit), s.unit)
	return max(0, limit-held) / s.unit, true
}

func (s *state) podCapText() string {
	limit := mulSat(ceilDiv(s.in.Limits.MaxPods, s.unit), s.unit)
	return fmt.Sprintf("max pods cap reached (%d usable addresses allowed for max pods %d, %d held outside cooldown)",
		limit, s.in.Limits.MaxPods, max(0, s.total-s.cooling))
}

// planDecrease deletes ENIs and releases blocks the targets do not need.
func (s *state) planDecrease(p *Plan) {
	total, free := s.total, s.free
	deleted := make([]bool, len(s.enis))
	minAge := max(s.in.MinENIAge, 0)

	// ENIs first, highest device first, each checked against the pool
	// that is left after the ones already chosen.
	for i := len(s.enis) - 1; i >= 0; i-- {
		e := s.enis[i]
		if !s.removable(e, minAge) {
			continue
		}
		if !e.Usable() {
			deleted[i] = true
			p.DeleteENIs = append(p.DeleteENIs, e.ID)
			p.Reasons = append(p.Reasons, fmt.Sprintf("delete %s: excluded from pod addresses and holds no pods", e.ID))
			continue
		}
		t2, f2 := total-e.Total, free-e.free
		if s.deficit(t2, f2) > 0 {
			continue
		}
		deleted[i] = true
		total, free = t2, f2
		p.DeleteENIs = append(p.DeleteENIs, e.ID)
		p.Reasons = append(p.Reasons, fmt.Sprintf("delete %s: no pods, old enough, and %d free of %d addresses remain without it", e.ID, f2, t2))
	}

	var rel []Release
	var relOrder []int
	add := func(e eniView, kind core.BlockKind, n int) {
		rel = append(rel, Release{ENI: e.ID, Kind: kind, Blocks: n})
		relOrder = append(relOrder, e.order)
	}

	// Free blocks of the active kind beyond the floors. WARM_ENI_TARGET
	// shrinks only by deleting whole ENIs.
	if s.mode != ModeWarmENI {
		extra := s.surplus(total, free) / s.unit
		if extra > 0 {
			cands := make([]eniView, 0, len(s.enis))
			for i, e := range s.enis {
				if !deleted[i] && e.Usable() && e.FreeBlocks > 0 {
					cands = append(cands, e)
				}
			}
			// Emptiest first, so that whole ENIs become deletable; ENIs that
			// can never be deleted last; then highest device first.
			sort.SliceStable(cands, func(i, j int) bool {
				a, b := cands[i], cands[j]
				if ka, kb := keeper(a), keeper(b); ka != kb {
					return kb
				}
				if a.busy != b.busy {
					return a.busy < b.busy
				}
				return a.order > b.order
			})
			if len(cands) > 0 {
				p.Reasons = append(p.Reasons, fmt.Sprintf("pool is above target (%d free of %d addresses): %s may go back",
					free, total, s.blocks(extra)))
			}
			for _, e := range cands {
				if extra == 0 {
					break
				}
				n := min(e.FreeBlocks, extra)
				add(e, s.kind, n)
				p.Reasons = append(p.Reasons, fmt.Sprintf("release %s from %s", s.blocks(n), e.ID))
				extra -= n
			}
		}
	}

	inactive := core.BlockPrefix
	if s.kind == core.BlockPrefix {
		inactive = core.BlockIP
	}
	for i, e := range s.enis {
		if deleted[i] || e.NoManage || e.Trunk {
			continue
		}
		// Excluded ENIs keep their pods but get no new ones; their free
		// blocks serve nobody.
		if e.Excluded && e.FreeBlocks > 0 {
			add(e, s.kind, e.FreeBlocks)
			p.Reasons = append(p.Reasons, fmt.Sprintf("release %s from excluded %s", s.blocks(e.FreeBlocks), e.ID))
		}
		// Empty blocks of the other kind finish a switch of address mode.
		if e.InactiveFreeBlocks > 0 {
			add(e, inactive, e.InactiveFreeBlocks)
			p.Reasons = append(p.Reasons, fmt.Sprintf("release %d empty %s block(s) from %s left over from the other address mode",
				e.InactiveFreeBlocks, inactive, e.ID))
		}
	}

	// Stable output: device order, active kind before inactive.
	idx := make([]int, len(rel))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := idx[i], idx[j]
		if relOrder[a] != relOrder[b] {
			return relOrder[a] < relOrder[b]
		}
		return (rel[a].Kind == s.kind) && (rel[b].Kind != s.kind)
	})
	for _, i := range idx {
		p.Release = append(p.Release, rel[i])
	}
}

// removable tells whether e could be deleted at all, targets aside.
func (s *state) removable(e eniView, minAge time.Duration) bool {
	if e.Primary || e.Trunk || e.EFA || e.NoManage {
		return false
	}
	if e.Assigned > 0 || e.Cooling > 0 || e.InactiveAssigned > 0 || e.InactiveFreeBlocks < e.InactiveBlocks {
		return false
	}
	if !e.Since.IsZero() && s.in.Now.Sub(e.Since) < minAge {
		return false
	}
	return true
}

// keeper reports ENIs that are never deleted, so emptying them gains
// nothing beyond the released addresses.
func keeper(e eniView) bool { return e.Primary || e.EFA }

func (s *state) grow(id core.ENIID, n int) Grow {
	if s.kind == core.BlockPrefix {
		return Grow{ENI: id, Prefixes: n}
	}
	return Grow{ENI: id, IPs: n}
}

func (s *state) newENI(n int) NewENI {
	if s.kind == core.BlockPrefix {
		return NewENI{Prefixes: n}
	}
	return NewENI{IPs: n}
}

// blocks renders n blocks of the active kind for a reason line.
func (s *state) blocks(n int) string {
	if s.kind == core.BlockPrefix {
		if n == 1 {
			return "1 prefix"
		}
		return fmt.Sprintf("%d prefixes", n)
	}
	if n == 1 {
		return "1 IP"
	}
	return fmt.Sprintf("%d IPs", n)
}

// lowReason explains why the pool must grow.
func (s *state) lowReason(need int) string {
	t := s.in.Targets
	var want string
	switch s.mode {
	case ModeIPTarget:
		want = fmt.Sprintf("WARM_IP_TARGET=%d wants %d free, MINIMUM_IP_TARGET=%d wants %d in all",
			t.WarmIP, s.targetFree, t.MinimumIP, s.minTotal)
	case ModeWarmPrefix:
		want = fmt.Sprintf("WARM_PREFIX_TARGET=%d wants %d free", t.WarmPrefix, s.targetFree)
	default:
		want = fmt.Sprintf("WARM_ENI_TARGET=%d wants %d free", t.WarmENI, s.targetFree)
	}
	return fmt.Sprintf("pool is low in %s mode: %d free (%d cooling) of %d addresses, %d pods waiting; %s; %d more addresses needed",
		s.mode, s.free, s.cooling, s.total, s.pending, want, need)
}

func clampCount(v int) int {
	if v < 0 {
		return 0
	}
	return min(v, huge)
}

func addSat(a, b int) int { return clampCount(clampCount(a) + clampCount(b)) }

func mulSat(a, b int) int {
	a, b = clampCount(a), clampCount(b)
	if a == 0 || b == 0 {
		return 0
	}
	if a > huge/b {
		return huge
	}
	return a * b
}

func ceilDiv(a, b int) int {
	if a <= 0 || b <= 0 {
		return 0
	}
	return 1 + (a-1)/b
}
