package nftables

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// The types below are a small, pure mirror of the nf_tables expressions
// this backend uses. Desired builds tables from them, the Linux code
// translates them to and from github.com/google/nftables expressions, and
// Render prints them. Keeping a pure copy lets the rule generation and its
// rendering be tested (and used by the memory firewall) on any platform,
// and means the text compared in tests comes from one printer whether the
// rules were built in memory or read back from the kernel.

// Expr is one nf_tables expression of a rule.
type Expr interface{ isExpr() }

// Meta loads (or, with Set, stores) packet metadata: "iifname",
// "oifname" or "mark".
type Meta struct {
	Key string
	Reg uint32
	Set bool
}

// Ct loads (or, with Set, stores) conntrack data: "state" or "mark".
type Ct struct {
	Key string
	Reg uint32
	Set bool
}

// Payload loads Len bytes of the network header at Offset.
type Payload struct{ Reg, Offset, Len uint32 }

// Bitwise computes Dst = (Src & Mask) ^ Xor.
type Bitwise struct {
	Src, Dst, Len uint32
	Mask, Xor     []byte
}

// Cmp compares a register with Data; Op is "==", "!=", "<", "<=", ">" or
// ">=".
type Cmp struct {
	Op   string
	Reg  uint32
	Data []byte
}

// Fib loads the route type of the destination address, looked up on the
// input interface when Iif is set.
type Fib struct {
	Reg uint32
	Iif bool
}

// Immediate loads constant data.
type Immediate struct {
	Reg  uint32
	Data []byte
}

// SNAT rewrites the source address to the one in RegAddr.
type SNAT struct {
	RegAddr             uint32
	Random, FullyRandom bool
}

// Counter counts packets and bytes (the values are not rendered).
type Counter struct{}

// Verdict ends or diverts evaluation: "accept", "drop", "return",
// "continue", or "jump"/"goto" to Chain.
type Verdict struct {
	Kind  string
	Chain string
}

// Unknown stands for an expression this package does not model; it keeps
// rendered state honest when somebody else writes into our table.
type Unknown struct{ Desc string }

func (Meta) isExpr()      {}
func (Ct) isExpr()        {}
func (Payload) isExpr()   {}
func (Bitwise) isExpr()   {}
func (Cmp) isExpr()       {}
func (Fib) isExpr()       {}
func (Immediate) isExpr() {}
func (SNAT) isExpr()      {}
func (Counter) isExpr()   {}
func (Verdict) isExpr()   {}
func (Unknown) isExpr()   {}

// Table is an "ip" family table.
type Table struct {
	Name   string
	Chains []Chain
	// Sets names sets found in the table; this backend creates none, so
	// any entry makes the table differ from the desired one.
	Sets []string
}

// Chain is a regular chain when Base is nil.
type Chain struct {
	Name  string
	Base  *Hook
	Rules []Rule
}

// Hook makes a chain a base chain.
type Hook struct {
	Type     string // "filter" or "nat"
	Hook     string // "prerouting", "postrouting", ...
	Priority int32
	Policy   string // "accept" or "drop"
}

// Rule is a list of expressions and an optional comment.
type Rule struct {
	Exprs   []Expr
	Comment string
}

const ifNameSize = 16 // IFNAMSIZ

// Render prints t the way "nft list table ip NAME" does, with chains
// sorted by name, counter values left out and no rule handles. A nil table
// renders as "".
func Render(t *Table) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", t.Name)
	first := true
	for _, s := range slices.Sorted(slices.Values(t.Sets)) {
		fmt.Fprintf(&b, "\tset %s {\n\t}\n", s)
		first = false
	}
	chains := slices.Clone(t.Chains)
	slices.SortFunc(chains, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range chains {
		if !first {
			b.WriteString("\n")
		}
		first = false
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if h := c.Base; h != nil {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %s; policy %s;\n", h.Type, h.Hook, priorityName(h.Hook, h.Priority), h.Policy)
		}
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", RuleText(r))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// priorityName prints a priority as nft does: the nearest standard name
// usable at the hook, plus or minus an offset.
func priorityName(hook string, p int32) string {
	type named struct {
		name string
		val  int32
	}
	cands := []named{{"raw", -300}, {"mangle", -150}, {"filter", 0}, {"security", 50}}
	switch hook {
	case "prerouting", "output":
		cands = append(cands, named{"dstnat", -100})
	case "postrouting", "input":
		cands = append(cands, named{"srcnat", 100})
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if abs(p-c.val) < abs(p-best.val) {
			best = c
		}
	}
	switch d := p - best.val; {
	case d > 0:
		return fmt.Sprintf("%s + %d", best.name, d)
	case d < 0:
		return fmt.Sprintf("%s - %d", best.name, -d)
	}
	return best.name
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// operand is what a register holds while a rule is being printed.
type operand struct {
	kind   string // "iifname", "meta mark", "ct mark", "ct state", "ip daddr", "fib daddr type", "imm", ...
	plen   uint32 // payload length for addresses
	masked bool
	mask   []byte
	xor    []byte
	data   []byte // immediate data
}

// RuleText prints one rule in nft syntax by replaying its expressions
// over a register file, the way nft itself reconstructs rules.
func RuleText(r Rule) string {
	regs := map[uint32]operand{}
	var parts []string
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case Meta:
			name := e.Key
			if e.Key == "mark" {
				name = "meta mark"
			}
			if e.Set {
				parts = append(parts, name+" set "+value(regs[e.Reg]))
			} else {
				regs[e.Reg] = operand{kind: name}
			}
		case Ct:
			if e.Set {
				parts = append(parts, "ct "+e.Key+" set "+value(regs[e.Reg]))
			} else {
				regs[e.Reg] = operand{kind: "ct " + e.Key}
			}
		case Payload:
			kind := fmt.Sprintf("@nh,%d,%d", e.Offset*8, e.Len*8)
			switch e.Offset {
			case 12:
				kind = "ip saddr"
			case 16:
				kind = "ip daddr"
			}
			regs[e.Reg] = operand{kind: kind, plen: e.Len}
		case Bitwise:
			op := regs[e.Src]
			if op.masked {
				op = operand{kind: "(" + value(op) + ")"}
			}
			op.masked, op.mask, op.xor = true, e.Mask, e.Xor
			regs[e.Dst] = op
		case Cmp:
			parts = append(parts, match(regs[e.Reg], e.Op, e.Data))
		case Fib:
			kind := "fib daddr type"
			if e.Iif {
				kind = "fib daddr . iif type"
			}
			regs[e.Reg] = operand{kind: kind}
		case Immediate:
			regs[e.Reg] = operand{kind: "imm", data: e.Data}
		case SNAT:
			s := "snat to " + addrText(regs[e.RegAddr].data)
			if e.FullyRandom {
				s += " fully-random"
			} else if e.Random {
				s += " random"
			}
			parts = append(parts, s)
		case Counter:
			parts = append(parts, "counter")
		case Verdict:
			if e.Chain != "" {
				parts = append(parts, e.Kind+" "+e.Chain)
			} else {
				parts = append(parts, e.Kind)
			}
		case Unknown:
			parts = append(parts, "["+e.Desc+"]")
		}
	}
	if r.Comment != "" {
		parts = append(parts, fmt.Sprintf("comment %q", r.Comment))
	}
	return strings.Join(parts, " ")
}

func u32(b []byte) uint32 {
	var buf [4]byte
	copy(buf[:], b)
	return binary.NativeEndian.Uint32(buf[:])
}

func hex32(b []byte) string { return fmt.Sprintf("0x%08x", u32(b)) }

// value prints a register used as the source of a "set" statement.
func value(op operand) string {
	switch {
	case op.kind == "imm":
		return hex32(op.data)
	case op.masked:
		m, x := u32(op.mask), u32(op.xor)
		switch {
		case x == 0:
			return fmt.Sprintf("%s & 0x%08x", op.kind, m)
		case m == ^x:
			return fmt.Sprintf("%s | 0x%08x", op.kind, x)
		}
		return fmt.Sprintf("(%s & 0x%08x) ^ 0x%08x", op.kind, m, x)
	}
	return op.kind
}

var rtnTypes = []string{"unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit"}

var ctStates = []struct {
	bit  uint32
	name string
}{{1, "invalid"}, {2, "established"}, {4, "related"}, {8, "new"}, {64, "untracked"}}

// match prints a comparison of a register with constant data.
func match(op operand, cmpOp string, data []byte) string {
	neg := ""
	if cmpOp != "==" {
		neg = cmpOp + " "
	}
	switch op.kind {
	case "iifname", "oifname":
		if !op.masked {
			return fmt.Sprintf("%s %s%q", op.kind, neg, ifNameText(data))
		}
	case "ip daddr", "ip saddr":
		if p, ok := prefixText(op, data); ok {
			return fmt.Sprintf("%s %s%s", op.kind, neg, p)
		}
	case "fib daddr type", "fib daddr . iif type":
		if v := u32(data); !op.masked && len(data) == 4 && int(v) < len(rtnTypes) {
			return fmt.Sprintf("%s %s%s", op.kind, neg, rtnTypes[v])
		}
	case "ct state":
		if op.masked && u32(op.xor) == 0 && u32(data) == 0 && cmpOp == "!=" {
			var names []string
			m := u32(op.mask)
			for _, s := range ctStates {
				if m&s.bit != 0 {
					names = append(names, s.name)
					m &^= s.bit
				}
			}
			if m == 0 && len(names) > 0 {
				return "ct state " + strings.Join(names, ",")
			}
		}
	case "ct mark", "meta mark":
		if op.masked && u32(op.xor) == 0 {
			return fmt.Sprintf("%s & 0x%08x %s 0x%08x", op.kind, u32(op.mask), cmpOp, u32(data))
		}
		if !op.masked {
			return fmt.Sprintf("%s %s0x%08x", op.kind, neg, u32(data))
		}
	}
	return fmt.Sprintf("%s %s0x%s", value(op), neg, hex.EncodeToString(data))
}

// ifNameText prints an interface name match: exact names are compared
// with their terminating NUL, wildcards ("eni*") only on the prefix.
func ifNameText(data []byte) string {
	if i := slices.Index(data, 0); i >= 0 {
		return string(data[:i])
	}
	return string(data) + "*"
}

func addrText(b []byte) string {
	if a, ok := netip.AddrFromSlice(b); ok {
		return a.String()
	}
	return "0x" + hex.EncodeToString(b)
}

// prefixText turns "load address [& mask] == network" back into a prefix;
// it also understands nft's shortcut of loading only the prefix bytes.
func prefixText(op operand, data []byte) (string, bool) {
	var addr [4]byte
	if len(data) > 4 {
		return "", false
	}
	copy(addr[:], data)
	nbits := int(op.plen) * 8
	if op.masked {
		if u32(op.xor) != 0 || len(op.mask) != 4 {
			return "", false
		}
		m := binary.BigEndian.Uint32(op.mask)
		nbits = bits.OnesCount32(m)
		if m != ^uint32(0)<<(32-nbits) && nbits != 0 {
			return "", false
		}
	}
	a := netip.AddrFrom4(addr)
	if nbits == 32 {
		return a.String(), true
	}
	return netip.PrefixFrom(a, nbits).String(), true
}
