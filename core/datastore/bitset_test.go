package datastore

import (
	"math/rand"
	"slices"
	"testing"
)

func TestHbitsAgainstBoolSlice(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 200, 4096, 4097, 300_000} {
		rnd := rand.New(rand.NewSource(int64(n)))
		h := newHbits(n)
		ref := make([]bool, max(n, 1))
		size := max(n, 1)
		for op := range 3000 {
			i := rnd.Intn(size)
			if rnd.Intn(2) == 0 {
				h.set(i)
				ref[i] = true
			} else {
				h.clear(i)
				ref[i] = false
			}
			first, last := slices.Index(ref, true), -1
			for j := len(ref) - 1; j >= 0; j-- {
				if ref[j] {
					last = j
					break
				}
			}
			if h.first() != first || h.last() != last || h.empty() != (first < 0) || h.has(i) != ref[i] {
				t.Fatalf("n=%d op %d: first %d last %d empty %v, want %d %d", n, op, h.first(), h.last(), h.empty(), first, last)
			}
		}
	}
}

func TestRangeSetAgainstMap(t *testing.T) {
	rnd := rand.New(rand.NewSource(7))
	var r rangeSet
	r.spans = []span{{1, 100}}
	ref := map[uint64]bool{}
	for x := uint64(1); x < 100; x++ {
		ref[x] = true
	}
	for op := range 20000 {
		x := uint64(rnd.Intn(120))
		switch rnd.Intn(3) {
		case 0:
			if got := r.insert(x); got == ref[x] {
				t.Fatalf("op %d: insert(%d) = %v with member %v", op, x, got, ref[x])
			}
			ref[x] = true
		case 1:
			if got := r.remove(x); got != ref[x] {
				t.Fatalf("op %d: remove(%d) = %v with member %v", op, x, got, ref[x])
			}
			delete(ref, x)
		default:
			if !r.empty() {
				low := r.lowest()
				if !r.remove(low) {
					t.Fatalf("op %d: lowest %d not removable", op, low)
				}
				for y := range ref {
					if y < low {
						t.Fatalf("op %d: lowest %d but %d is a member", op, low, y)
					}
				}
				delete(ref, low)
			}
		}
		// Spans stay sorted, disjoint, non-adjacent and non-empty.
		n := 0
		for i, sp := range r.spans {
			if sp.lo >= sp.hi || (i > 0 && r.spans[i-1].hi >= sp.lo) {
				t.Fatalf("op %d: bad spans %v", op, r.spans)
			}
			n += int(sp.hi - sp.lo)
		}
		if n != len(ref) || r.empty() != (len(ref) == 0) || r.contains(x) != ref[x] {
			t.Fatalf("op %d: %d members, want %d", op, n, len(ref))
		}
	}
}
