package warmpool

import (
	"fmt"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// shape is the part of an instance type the policy sees.
type shape struct {
	name    string
	maxENIs int
	perENI  int // secondary IPs or prefixes per ENI (IPv4 addresses − 1)
	maxPods int
}

// Instance shapes of upstream-facts section 9.3. Max pods follow the
// max-pods formula: ENIs × per-ENI + 2 for secondary IPs; under prefix
// delegation min(ENIs × per-ENI × 16 + 2, 110 below 30 vCPUs else 250).
var (
	t3small   = shape{"t3.small", 3, 3, 11}
	t3smallPD = shape{"t3.small", 3, 3, 110}
	p3dn      = shape{"p3dn.24xlarge", 15, 49, 737}
	p3dnPD    = shape{"p3dn.24xlarge", 15, 49, 250}
)

// modelMinAge is the ENI minimum age the model hands to the policy.
const modelMinAge = time.Minute

var modelEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// mBlock is a secondary IP (capacity 1) or a /28 prefix (capacity 16).
type mBlock struct{ pods int }

type mENI struct {
	id     core.ENIID
	device int
	since  time.Time
	blocks []*mBlock
}

func (e *mENI) pods() int {
	n := 0
	for _, b := range e.blocks {
		n += b.pods
	}
	return n
}

type podAt struct {
	eni *mENI
	blk *mBlock
}

// model is a test-only pool: counts per ENI and per block, dense packing,
// no cooldown. It applies plans the way the node service would, and fails
// the test when a plan breaks a limit or touches a busy block.
type model struct {
	t          testing.TB
	shape      shape
	prefix     bool
	unit       int
	targets    Targets
	now        time.Time
	enis       []*mENI
	nextDevice int
	pods       []podAt // arrival order
	failed     int     // pods that got no address even after converging
	plans      int     // plans applied so far
}

func newModel(t testing.TB, sh shape, prefix bool, targets Targets) *model {
	t.Helper()
	m := &model{t: t, shape: sh, prefix: prefix, unit: 1, targets: targets, now: modelEpoch}
	if prefix {
		m.unit = core.AddressesPerPrefix
	}
	m.enis = []*mENI{{id: "eni-00", device: 0, since: modelEpoch}}
	m.nextDevice = 1
	m.converge(0)
	return m
}

func (m *model) usage() core.PoolUsage {
	var p core.PoolUsage
	for _, e := range m.enis {
		u := core.ENIUsage{ID: e.id, DeviceNumber: e.device, Primary: e.device == 0, Since: e.since}
		if m.prefix {
			u.Prefixes = len(e.blocks)
		} else {
			u.IPs = len(e.blocks)
		}
		u.Total = len(e.blocks) * m.unit
		for _, b := range e.blocks {
			u.Assigned += b.pods
			if b.pods == 0 {
				u.FreeBlocks++
			}
		}
		p.ENIs = append(p.ENIs, u)
	}
	return p
}

func (m *model) input(pending int) Input {
	return Input{
		Now:           m.now,
		Targets:       m.targets,
		Limits:        Limits{MaxENIs: m.shape.maxENIs, BlocksPerENI: m.shape.perENI, MaxPods: m.shape.maxPods},
		PrefixMode:    m.prefix,
		Pool:          m.usage(),
		Pending:       pending,
		MinENIAge:     modelMinAge,
		AllowDecrease: true,
		AllowNewENI:   true,
	}
}

func (m *model) find(id core.ENIID) (int, *mENI) {
	for i, e := range m.enis {
		if e.id == id {
			return i, e
		}
	}
	m.t.Fatalf("plan names unknown ENI %s", id)
	return -1, nil
}

// blocksOf returns the count a Grow or NewENI asks for, checking that it
// asks for the active kind only.
func (m *model) blocksOf(ips, prefixes int) int {
	m.t.Helper()
	if m.prefix {
		if ips != 0 || prefixes <= 0 {
			m.t.Fatalf("prefix mode plan asks for %d IPs and %d prefixes", ips, prefixes)
		}
		return prefixes
	}
	if prefixes != 0 || ips <= 0 {
		m.t.Fatalf("IP mode plan asks for %d IPs and %d prefixes", ips, prefixes)
	}
	return ips
}

func (m *model) apply(p Plan) {
	m.t.Helper()
	m.plans++
	for _, r := range p.Release {
		want := core.BlockIP
		if m.prefix {
			want = core.BlockPrefix
		}
		if r.Kind != want {
			m.t.Fatalf("release of %s blocks in a pool holding only %s blocks", r.Kind, want)
		}
		_, e := m.find(r.ENI)
		left := r.Blocks
		for i := len(e.blocks) - 1; i >= 0 && left > 0; i-- {
			if e.blocks[i].pods == 0 {
				e.blocks = append(e.blocks[:i], e.blocks[i+1:]...)
				left--
			}
		}
		if left > 0 || r.Blocks <= 0 {
			m.t.Fatalf("release of %d blocks from %s, which has too few free blocks", r.Blocks, r.ENI)
		}
	}
	for _, id := range p.DeleteENIs {
		i, e := m.find(id)
		if e.pods() > 0 || e.device == 0 {
			m.t.Fatalf("deleting %s which holds %d pods (device %d)", id, e.pods(), e.device)
		}
		if m.now.Sub(e.since) < modelMinAge {
			m.t.Fatalf("deleting %s aged %s", id, m.now.Sub(e.since))
		}
		m.enis = append(m.enis[:i], m.enis[i+1:]...)
	}
	for _, g := range p.Grow {
		_, e := m.find(g.ENI)
		n := m.blocksOf(g.IPs, g.Prefixes)
		if len(e.blocks)+n > m.shape.perENI {
			m.t.Fatalf("grow %s by %d beyond %d blocks per ENI", g.ENI, n, m.shape.perENI)
		}
		for range n {
			e.blocks = append(e.blocks, &mBlock{})
		}
	}
	for _, ne := range p.NewENIs {
		n := m.blocksOf(ne.IPs, ne.Prefixes)
		if len(m.enis) >= m.shape.maxENIs {
			m.t.Fatalf("new ENI beyond the limit of %d", m.shape.maxENIs)
		}
		if n > m.shape.perENI {
			m.t.Fatalf("new ENI with %d blocks beyond %d", n, m.shape.perENI)
		}
		e := &mENI{id: core.ENIID(fmt.Sprintf("eni-%02d", m.nextDevice)), device: m.nextDevice, since: m.now}
		m.nextDevice++
		for range n {
			e.blocks = append(e.blocks, &mBlock{})
		}
		m.enis = append(m.enis, e)
	}
	if cap := (m.shape.maxPods + m.unit - 1) / m.unit * m.unit; m.total() > cap {
		m.t.Fatalf("pool holds %d addresses, more than the max-pods cap %d", m.total(), cap)
	}
}

// converge applies plans until the policy asks for nothing more. A pool
// that never settles is an oscillation and fails the test.
func (m *model) converge(pending int) Plan {
	m.t.Helper()
	for range 20 {
		p := Compute(m.input(pending))
		if p.Empty() {
			return p
		}
		if len(p.Reasons) == 0 {
			m.t.Fatalf("non-empty plan without reasons: %+v", p)
		}
		m.apply(p)
	}
	m.t.Fatalf("pool does not settle; last plan %+v", Compute(m.input(pending)))
	return Plan{}
}

// place gives one pod an address: the fullest group with room (the ENI in
// secondary-IP mode, the prefix under prefix delegation), lowest device and
// lowest block first.
func (m *model) place() bool {
	var best podAt
	bestPods := -1
	for _, e := range m.enis {
		enip := e.pods()
		for _, b := range e.blocks {
			if b.pods >= m.unit {
				continue
			}
			group := b.pods
			if !m.prefix {
				group = enip
			}
			if group > bestPods {
				best, bestPods = podAt{e, b}, group
			}
		}
	}
	if bestPods < 0 {
		return false
	}
	best.blk.pods++
	m.pods = append(m.pods, best)
	return true
}

func (m *model) addPod() {
	m.t.Helper()
	if !m.place() {
		m.converge(1) // the pod waits and wakes the allocator
		if !m.place() {
			m.failed++
		}
	}
	m.converge(0)
}

func (m *model) removePod() {
	m.t.Helper()
	last := m.pods[len(m.pods)-1]
	m.pods = m.pods[:len(m.pods)-1]
	last.blk.pods--
	m.converge(0)
}

// setPods adds or removes pods one at a time, converging after each.
func (m *model) setPods(n int) {
	m.t.Helper()
	for len(m.pods) < n && len(m.pods)+m.failed < n {
		m.addPod()
	}
	for len(m.pods) > n {
		m.removePod()
	}
}

// advance moves the clock past the ENI minimum age and converges.
func (m *model) advance() {
	m.t.Helper()
	m.now = m.now.Add(modelMinAge + time.Second)
	m.converge(0)
}

func (m *model) total() int {
	n := 0
	for _, e := range m.enis {
		n += len(e.blocks) * m.unit
	}
	return n
}

func (m *model) perENI() []int {
	var out []int
	for _, e := range m.enis {
		out = append(out, len(e.blocks))
	}
	return out
}

func (m *model) blockCount() int {
	n := 0
	for _, e := range m.enis {
		n += len(e.blocks)
	}
	return n
}

func (m *model) unused() int { return m.total() - len(m.pods) }
