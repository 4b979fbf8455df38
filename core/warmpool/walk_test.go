package warmpool

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// removeAt takes away the pod that arrived i-th, to scatter pods the way
// real departures do.
func (m *model) removeAt(i int) {
	m.t.Helper()
	p := m.pods[i]
	m.pods = append(m.pods[:i], m.pods[i+1:]...)
	p.blk.pods--
	m.converge(0)
}

// atLimit reports whether the model cannot hold more addresses: every ENI
// slot taken and full, or the max-pods cap reached.
func (m *model) atLimit() bool {
	if capAddr := (m.shape.maxPods + m.unit - 1) / m.unit * m.unit; m.shape.maxPods > 0 && m.total()+m.unit > capAddr {
		return true
	}
	if len(m.enis) < m.shape.maxENIs {
		return false
	}
	for _, e := range m.enis {
		if len(e.blocks) < m.shape.perENI {
			return false
		}
	}
	return true
}

// floors restates the targets as the two floors the docs promise: free
// addresses and total addresses.
func floors(t Targets, prefix bool, perENI int) (minFree, minTotal int) {
	switch {
	case t.WarmIP > 0 || t.MinimumIP > 0:
		return max(t.WarmIP, 0), max(t.MinimumIP, 0)
	case prefix && t.WarmPrefix > 0:
		return 16 * t.WarmPrefix, 0
	case !prefix && t.WarmENI > 0:
		return t.WarmENI * perENI, 0
	}
	return 1, 0
}

// TestRandomWalk drives the model with random arrivals, random departures
// and clock jumps, and checks after every settled step that the pool meets
// its floors or sits at a limit with the gap reported as shortfall, and
// that no pod was refused while the pool could still grow. The model fails
// the test on its own if a plan breaks a limit, touches a busy block or
// the pool never settles.
func TestRandomWalk(t *testing.T) {
	type config struct {
		shape   shape
		prefix  bool
		targets Targets
	}
	var configs []config
	for _, sh := range []shape{t3small, p3dn} {
		for _, tg := range []Targets{weni(0), weni(1), weni(2), wip(1, 1), wip(5, 10), wip(0, 16), wip(3, 0)} {
			configs = append(configs, config{sh, false, tg})
		}
	}
	for _, sh := range []shape{t3smallPD, p3dnPD} {
		for _, tg := range []Targets{wpt(0), wpt(1), wpt(2), wip(5, 10), wip(16, 0), wip(0, 20)} {
			configs = append(configs, config{sh, true, tg})
		}
	}
	for ci, c := range configs {
		t.Run(fmt.Sprintf("%s prefix=%v %+v", c.shape.name, c.prefix, c.targets), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(ci), 42))
			m := newModel(t, c.shape, c.prefix, c.targets)
			limit := c.shape.maxPods + 5
			for step := range 150 {
				switch op := rng.IntN(10); {
				case op < 5:
					for range 1 + rng.IntN(limit/8+1) {
						before := m.failed
						m.addPod()
						if m.failed > before && !m.atLimit() {
							t.Fatalf("step %d: pod refused below the limits: ENIs %v", step, m.perENI())
						}
					}
				case op < 9:
					for range 1 + rng.IntN(len(m.pods)/2+1) {
						if len(m.pods) == 0 {
							break
						}
						m.removeAt(rng.IntN(len(m.pods)))
					}
				default:
					m.advance()
				}
				final := m.converge(0)
				minFree, minTotal := floors(c.targets, c.prefix, c.shape.perENI)
				gap := max(0, minFree-m.unused(), minTotal-m.total())
				if gap > 0 && !m.atLimit() {
					t.Fatalf("step %d: %d addresses short of the target below the limits: ENIs %v, %d pods", step, gap, m.perENI(), len(m.pods))
				}
				if final.Shortfall != gap {
					t.Fatalf("step %d: shortfall %d, want %d (ENIs %v, %d pods)", step, final.Shortfall, gap, m.perENI(), len(m.pods))
				}
			}
		})
	}
}
