package datastore

import "math/bits"

// hbits is a hierarchical bitset over [0, n). Layer 0 holds one bit per
// element; each word of layer l+1 has one bit per word of layer l, set while
// that word is non-zero. Setting, clearing and finding the first or last
// member cost one step per layer, that is O(log64 n).
type hbits struct {
	layers [][]uint64
}

func newHbits(n int) hbits {
	var h hbits
	words := (n + 63) / 64
	if words < 1 {
		words = 1
	}
	for {
		h.layers = append(h.layers, make([]uint64, words))
		if words == 1 {
			return h
		}
		words = (words + 63) / 64
	}
}

func (h *hbits) set(i int) {
	for _, layer := range h.layers {
		w := i >> 6
		old := layer[w]
		layer[w] = old | 1<<(uint(i)&63)
		if old != 0 {
			return
		}
		i = w
	}
}

func (h *hbits) clear(i int) {
	for _, layer := range h.layers {
		w := i >> 6
		layer[w] &^= 1 << (uint(i) & 63)
		if layer[w] != 0 {
			return
		}
		i = w
	}
}

func (h *hbits) has(i int) bool {
	return h.layers[0][i>>6]&(1<<(uint(i)&63)) != 0
}

func (h *hbits) empty() bool {
	return h.layers[len(h.layers)-1][0] == 0
}

// first returns the smallest member, or -1.
func (h *hbits) first() int {
	top := len(h.layers) - 1
	w := h.layers[top][0]
	if w == 0 {
		return -1
	}
	i := bits.TrailingZeros64(w)
	for l := top - 1; l >= 0; l-- {
		i = i<<6 | bits.TrailingZeros64(h.layers[l][i])
	}
	return i
}

// last returns the largest member, or -1.
func (h *hbits) last() int {
	top := len(h.layers) - 1
	w := h.layers[top][0]
	if w == 0 {
		return -1
	}
	i := 63 - bits.LeadingZeros64(w)
	for l := top - 1; l >= 0; l-- {
		i = i<<6 | (63 - bits.LeadingZeros64(h.layers[l][i]))
	}
	return i
}
