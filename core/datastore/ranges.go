package datastore

// span is the half-open interval [lo, hi).
type span struct{ lo, hi uint64 }

// rangeSet is a set of uint64 kept as sorted, disjoint, non-adjacent spans.
// An IPv6 /80 prefix uses one to hold its free offsets: it starts as the
// single span [1, 2^48) and stays a handful of spans while pods are packed
// densely, so 2^48 addresses never have to be materialised.
type rangeSet struct {
	spans []span
}

// search returns the index of the first span whose lo is greater than x.
func (r *rangeSet) search(x uint64) int {
	lo, hi := 0, len(r.spans)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.spans[m].lo <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

func (r *rangeSet) contains(x uint64) bool {
	i := r.search(x) - 1
	return i >= 0 && x < r.spans[i].hi
}

func (r *rangeSet) empty() bool { return len(r.spans) == 0 }

// lowest returns the smallest member; the set must not be empty.
func (r *rangeSet) lowest() uint64 { return r.spans[0].lo }

// insert adds x and reports whether it was absent.
func (r *rangeSet) insert(x uint64) bool {
	j := r.search(x)
	left := j - 1
	if left >= 0 && x < r.spans[left].hi {
		return false
	}
	joinLeft := left >= 0 && r.spans[left].hi == x
	joinRight := j < len(r.spans) && r.spans[j].lo == x+1
	switch {
	case joinLeft && joinRight:
		r.spans[left].hi = r.spans[j].hi
		r.spans = append(r.spans[:j], r.spans[j+1:]...)
	case joinLeft:
		r.spans[left].hi++
	case joinRight:
		r.spans[j].lo--
	default:
		r.spans = append(r.spans, span{})
		copy(r.spans[j+1:], r.spans[j:])
		r.spans[j] = span{x, x + 1}
	}
	return true
}

// remove deletes x and reports whether it was present.
func (r *rangeSet) remove(x uint64) bool {
	i := r.search(x) - 1
	if i < 0 || x >= r.spans[i].hi {
		return false
	}
	sp := r.spans[i]
	switch {
	case sp.lo == x && sp.hi == x+1:
		r.spans = append(r.spans[:i], r.spans[i+1:]...)
	case sp.lo == x:
		r.spans[i].lo++
	case sp.hi == x+1:
		r.spans[i].hi--
	default:
		r.spans[i].hi = x
		r.spans = append(r.spans, span{})
		copy(r.spans[i+2:], r.spans[i+1:])
		r.spans[i+1] = span{x + 1, sp.hi}
	}
	return true
}
