package nftables

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Names of the table and its chains, and the rule comments (the same
// comments as the iptables backends use, so operators grep for one set of
// strings).
const (
	TableName = "aws-cni"

	ChainNodePort    = "mangle-prerouting"
	ChainPrerouting  = "prerouting"
	ChainSNATMark    = "snat-mark"
	ChainPostrouting = "postrouting"

	CommentSNATChain     = "AWS SNAT CHAIN"
	CommentSNATExclusion = "AWS SNAT CHAIN EXCLUSION"
	CommentSNAT          = "AWS, SNAT"
	CommentOutbound      = "AWS, outbound connections"
	CommentConnmarkChain = "AWS CONNMARK CHAIN"
	CommentConnmark      = "AWS, CONNMARK"
	CommentPrimaryENI    = "AWS, primary ENI"
)

// Standard hook priorities of the ip family.
const (
	PriorityMangle = -150
	PriorityDstNAT = -100
	PrioritySrcNAT = 100
	// PriorityMark is where pod connections are marked and marks restored:
	// after every DNAT (kube-proxy's included) has rewritten the
	// destination, before the routing decision.
	PriorityMark = PriorityDstNAT + 10
)

// Desired returns the table for s, or nil when the backend should own
// nothing (external SNAT and no NodePort support).
func Desired(s spec.Spec) *Table {
	if s.Empty() {
		return nil
	}
	t := &Table{Name: TableName}
	veths := s.VethPrefix + "*"
	vlans := spec.VLANPrefix + "*"

	if s.NodePort {
		// Connections arriving on the primary interface for one of its
		// own addresses (NodePort) are marked before kube-proxy's DNAT
		// rewrites the destination to a pod.
		t.Chains = append(t.Chains, Chain{
			Name: ChainNodePort,
			Base: &Hook{Type: "filter", Hook: "prerouting", Priority: PriorityMangle, Policy: "accept"},
			Rules: []Rule{{
				Exprs:   cat(ifname("iifname", s.PrimaryInterface, false), fibLocal(true, false), ctMarkOr(s.Mark), []Expr{Counter{}}),
				Comment: CommentPrimaryENI,
			}},
		})
	}

	pre := Chain{
		Name: ChainPrerouting,
		Base: &Hook{Type: "filter", Hook: "prerouting", Priority: PriorityMark, Policy: "accept"},
	}
	if s.SNAT {
		pre.Rules = append(pre.Rules, Rule{
			Exprs:   cat(ifname("iifname", veths, false), ctStateNew(), []Expr{Verdict{Kind: "jump", Chain: ChainSNATMark}}),
			Comment: CommentOutbound,
		})
	}
	if s.RestorePodMark() {
		pre.Rules = append(pre.Rules, restore(veths, s.Mark)...)
	}
	if s.NodePort {
		pre.Rules = append(pre.Rules, restore(vlans, s.Mark)...)
	}
	t.Chains = append(t.Chains, pre)

	if s.SNAT {
		mark := Chain{Name: ChainSNATMark}
		mark.Rules = append(mark.Rules, Rule{Exprs: cat(fibLocal(false, false), []Expr{Verdict{Kind: "return"}})})
		for _, p := range s.Exempt() {
			mark.Rules = append(mark.Rules, Rule{Exprs: cat(daddr(p), []Expr{Verdict{Kind: "return"}}), Comment: CommentConnmarkChain})
		}
		mark.Rules = append(mark.Rules, Rule{Exprs: cat(ctMarkOr(s.Mark), []Expr{Counter{}}), Comment: CommentConnmark})
		t.Chains = append(t.Chains, mark)

		post := Chain{
			Name: ChainPostrouting,
			Base: &Hook{Type: "nat", Hook: "postrouting", Priority: PrioritySrcNAT, Policy: "accept"},
		}
		for _, p := range s.VPC {
			post.Rules = append(post.Rules, Rule{Exprs: cat(daddr(p), []Expr{Verdict{Kind: "return"}}), Comment: CommentSNATChain})
		}
		for _, p := range s.Exclude {
			post.Rules = append(post.Rules, Rule{Exprs: cat(daddr(p), []Expr{Verdict{Kind: "return"}}), Comment: CommentSNATExclusion})
		}
		post.Rules = append(post.Rules, Rule{
			Exprs: cat(ifname("oifname", vlans, true), fibLocal(false, true), []Expr{Counter{},
				Immediate{Reg: 1, Data: s.PrimaryIP.AsSlice()},
				SNAT{RegAddr: 1, FullyRandom: s.Random == ports.SNATRandomFully, Random: s.Random == ports.SNATRandom}}),
			Comment: CommentSNAT,
		})
		t.Chains = append(t.Chains, post)
	}
	return t
}

// restore copies the connmark bits into the packet mark for packets from
// interfaces matching pattern: clear the bits, then set each bit the
// connection carries (nf_tables cannot combine two registers, so this is
// one rule per bit, plus the clearing rule).
func restore(pattern string, mark uint32) []Rule {
	rules := []Rule{{
		Exprs:   cat(ifname("iifname", pattern, false), setMark(Meta{Key: "mark", Reg: 1}, ^mark, 0)),
		Comment: CommentPrimaryENI,
	}}
	for m := mark; m != 0; m &= m - 1 {
		bit := uint32(1) << bits.TrailingZeros32(m)
		rules = append(rules, Rule{
			Exprs:   cat(ifname("iifname", pattern, false), ctMarkHas(bit), setMark(Meta{Key: "mark", Reg: 1}, ^bit, bit)),
			Comment: CommentPrimaryENI,
		})
	}
	return rules
}

func cat(parts ...[]Expr) []Expr {
	var out []Expr
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func native(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// ifname matches an interface name; a trailing "*" matches a prefix.
func ifname(key, name string, neg bool) []Expr {
	var data []byte
	if n := len(name); n > 0 && name[n-1] == '*' {
		data = []byte(name[:n-1])
	} else {
		data = make([]byte, ifNameSize)
		copy(data, name)
	}
	op := "=="
	if neg {
		op = "!="
	}
	return []Expr{Meta{Key: key, Reg: 1}, Cmp{Op: op, Reg: 1, Data: data}}
}

// daddr matches a destination prefix; 0.0.0.0/0 matches everything and
// needs no expression at all.
func daddr(p netip.Prefix) []Expr {
	if p.Bits() == 0 {
		return nil
	}
	addr := p.Addr().AsSlice()
	load := Payload{Reg: 1, Offset: 16, Len: 4}
	if p.Bits() == 32 {
		return []Expr{load, Cmp{Op: "==", Reg: 1, Data: addr}}
	}
	mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
	return []Expr{load, Bitwise{Src: 1, Dst: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)}, Cmp{Op: "==", Reg: 1, Data: addr}}
}

// fibLocal matches "destination is a local address" (of the input
// interface when iif is set).
func fibLocal(iif, neg bool) []Expr {
	op := "=="
	if neg {
		op = "!="
	}
	return []Expr{Fib{Reg: 1, Iif: iif}, Cmp{Op: op, Reg: 1, Data: native(2)}} // RTN_LOCAL
}

func ctStateNew() []Expr {
	return []Expr{
		Ct{Key: "state", Reg: 1},
		Bitwise{Src: 1, Dst: 1, Len: 4, Mask: native(8), Xor: native(0)},
		Cmp{Op: "!=", Reg: 1, Data: native(0)},
	}
}

func ctMarkHas(bit uint32) []Expr {
	return []Expr{
		Ct{Key: "mark", Reg: 1},
		Bitwise{Src: 1, Dst: 1, Len: 4, Mask: native(bit), Xor: native(0)},
		Cmp{Op: "==", Reg: 1, Data: native(bit)},
	}
}

// ctMarkOr sets "ct mark set ct mark | m".
func ctMarkOr(m uint32) []Expr { return setMark(Ct{Key: "mark", Reg: 1}, ^m, m) }

// setMark loads a mark, computes (mark & and) ^ xor and stores it back.
func setMark(load Expr, and, xor uint32) []Expr {
	var store Expr
	switch l := load.(type) {
	case Meta:
		l.Set = true
		store = l
	case Ct:
		l.Set = true
		store = l
	}
	return []Expr{load, Bitwise{Src: 1, Dst: 1, Len: 4, Mask: native(and), Xor: native(xor)}, store}
}
