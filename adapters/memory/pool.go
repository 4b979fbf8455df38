package memory

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// reservedHead is how many addresses EC2 keeps at the start of every subnet
// (network address, VPC router, DNS, future use); it also keeps the last one
// (broadcast), so a subnet offers size-5 addresses.
const reservedHead = 4

// blockSize is the number of addresses in a delegated /28 prefix.
const blockSize = 16

// pool4 tracks which IPv4 addresses of a subnet are in use, as a bitmap
// indexed by the offset from the subnet's network address. Reserved
// addresses are permanently marked as used. Allocation always takes the
// lowest free offsets, so results are deterministic.
type pool4 struct {
	base uint32
	size int
	used []uint64
	free int
}

func newPool4(p netip.Prefix) *pool4 {
	size := 1 << (32 - p.Bits())
	a := p.Masked().Addr().As4()
	pl := &pool4{
		base: binary.BigEndian.Uint32(a[:]),
		size: size,
		used: make([]uint64, (size+63)/64),
		free: size,
	}
	for off := range reservedHead {
		pl.mark(off)
	}
	pl.mark(size - 1)
	return pl
}

func (p *pool4) isUsed(off int) bool { return p.used[off/64]&(1<<(off%64)) != 0 }

func (p *pool4) mark(off int) {
	if !p.isUsed(off) {
		p.used[off/64] |= 1 << (off % 64)
		p.free--
	}
}

func (p *pool4) unmark(off int) {
	if p.isUsed(off) {
		p.used[off/64] &^= 1 << (off % 64)
		p.free++
	}
}

func (p *pool4) addr(off int) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p.base+uint32(off))
	return netip.AddrFrom4(b)
}

// offset returns a's offset in the subnet; ok is false outside it.
func (p *pool4) offset(a netip.Addr) (int, bool) {
	if !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:])
	if v < p.base || v-p.base >= uint32(p.size) {
		return 0, false
	}
	return int(v - p.base), true
}

// reserved reports whether off is one of the five addresses EC2 keeps.
func (p *pool4) reserved(off int) bool { return off < reservedHead || off == p.size-1 }

// allocAddrs takes the n lowest free addresses, or nothing when fewer than
// n are free.
func (p *pool4) allocAddrs(n int) ([]netip.Addr, bool) {
	if n > p.free {
		return nil, false
	}
	out := make([]netip.Addr, 0, n)
	for w := 0; w < len(p.used) && len(out) < n; w++ {
		freeBits := ^p.used[w]
		for freeBits != 0 && len(out) < n {
			b := bits.TrailingZeros64(freeBits)
			freeBits &^= 1 << b
			off := w*64 + b
			if off >= p.size {
				break
			}
			p.mark(off)
			out = append(out, p.addr(off))
		}
	}
	return out, true
}

// blockFree reports whether the aligned /28 starting at off is entirely
// unused (reserved addresses count as used, so the first and last block of
// a subnet are never free).
func (p *pool4) blockFree(off int) bool {
	const mask = 1<<blockSize - 1
	return (p.used[off/64]>>(off%64))&mask == 0
}

// freeBlocks counts aligned /28 blocks with no address in use.
func (p *pool4) freeBlocks() int {
	n := 0
	for off := 0; off+blockSize <= p.size; off += blockSize {
		if p.blockFree(off) {
			n++
		}
	}
	return n
}

// allocPrefixes takes the n lowest free aligned /28 blocks, or nothing when
// fewer than n exist.
func (p *pool4) allocPrefixes(n int) ([]netip.Prefix, bool) {
	var offs []int
	for off := 0; off+blockSize <= p.size && len(offs) < n; off += blockSize {
		if p.blockFree(off) {
			offs = append(offs, off)
		}
	}
	if len(offs) < n {
		return nil, false
	}
	out := make([]netip.Prefix, 0, n)
	for _, off := range offs {
		for i := range blockSize {
			p.mark(off + i)
		}
		out = append(out, netip.PrefixFrom(p.addr(off), 32-4))
	}
	return out, true
}

// take marks a specific address used; false when it is outside the subnet,
// reserved or already in use.
func (p *pool4) take(a netip.Addr) bool {
	off, ok := p.offset(a)
	if !ok || p.isUsed(off) {
		return false
	}
	p.mark(off)
	return true
}

// release frees an address previously handed out. Reserved addresses are
// never freed.
func (p *pool4) release(a netip.Addr) {
	if off, ok := p.offset(a); ok && !p.reserved(off) {
		p.unmark(off)
	}
}

// releasePrefix frees every address of a /28 previously handed out.
func (p *pool4) releasePrefix(pfx netip.Prefix) {
	off, ok := p.offset(pfx.Addr())
	if !ok {
		return
	}
	for i := range 1 << (32 - pfx.Bits()) {
		if off+i < p.size && !p.reserved(off+i) {
			p.unmark(off + i)
		}
	}
}

// pool6 hands out /80 prefixes from a subnet's IPv6 /64. The first and the
// last /80 hold the addresses EC2 reserves and are never delegated.
type pool6 struct {
	base netip.Prefix
	used []uint64
	free int
}

const blocks6 = 1 << 16 // /80s in a /64

func newPool6(p netip.Prefix) *pool6 {
	pl := &pool6{base: p.Masked(), used: make([]uint64, blocks6/64), free: blocks6 - 2}
	pl.used[0] |= 1
	pl.used[len(pl.used)-1] |= 1 << 63
	return pl
}

func (p *pool6) prefix(idx int) netip.Prefix {
	b := p.base.Addr().As16()
	binary.BigEndian.PutUint16(b[8:10], uint16(idx))
	return netip.PrefixFrom(netip.AddrFrom16(b), 80)
}

// index returns the /80's position in the /64; ok is false when pfx is not
// a /80 of this subnet.
func (p *pool6) index(pfx netip.Prefix) (int, bool) {
	if pfx.Bits() != 80 || !p.base.Contains(pfx.Addr()) || pfx.Masked() != pfx {
		return 0, false
	}
	b := pfx.Addr().As16()
	return int(binary.BigEndian.Uint16(b[8:10])), true
}

func (p *pool6) alloc(n int) ([]netip.Prefix, bool) {
	if n > p.free {
		return nil, false
	}
	out := make([]netip.Prefix, 0, n)
	for w := 0; w < len(p.used) && len(out) < n; w++ {
		freeBits := ^p.used[w]
		for freeBits != 0 && len(out) < n {
			b := bits.TrailingZeros64(freeBits)
			freeBits &^= 1 << b
			p.used[w] |= 1 << b
			p.free--
			out = append(out, p.prefix(w*64+b))
		}
	}
	return out, true
}

func (p *pool6) release(pfx netip.Prefix) {
	idx, ok := p.index(pfx)
	if !ok || idx == 0 || idx == blocks6-1 {
		return
	}
	if p.used[idx/64]&(1<<(idx%64)) != 0 {
		p.used[idx/64] &^= 1 << (idx % 64)
		p.free++
	}
}
