package iptables

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Chains and comments, identical to upstream's so that a node can move
// between the two implementations and each recognises the other's rules.
const (
	TableNAT    = "nat"
	TableMangle = "mangle"

	ChainSNAT     = "AWS-SNAT-CHAIN-0"
	ChainConnmark = "AWS-CONNMARK-CHAIN-0"

	CommentSNATChain     = "AWS SNAT CHAIN"
	CommentSNATExclusion = "AWS SNAT CHAIN EXCLUSION"
	CommentSNAT          = "AWS, SNAT"
	CommentOutbound      = "AWS, outbound connections"
	CommentConnmarkChain = "AWS CONNMARK CHAIN"
	CommentConnmark      = "AWS, CONNMARK"
	CommentPrimaryENI    = "AWS, primary ENI"
)

// ownedChain matches every chain this backend (or an older upstream
// release) creates: AWS-SNAT-CHAIN-0..N and AWS-CONNMARK-CHAIN-0..N.
var ownedChain = regexp.MustCompile(`^AWS-(SNAT|CONNMARK)-CHAIN-[0-9]+$`)

// ownedComments are the comments of rules we own inside chains we do not
// own (POSTROUTING, PREROUTING). Every comment upstream ever used for these
// rules is listed, so stale rules of older releases are removed too.
var ownedComments = []string{
	CommentSNATChain, CommentSNATExclusion, CommentSNAT, CommentOutbound,
	CommentConnmarkChain, CommentConnmark, CommentPrimaryENI,
	"AWS CONNMARK CHAIN, VPC CIDR", "AWS CONNMARK CHAIN, EXCLUDED CIDR",
}

// ownedTables are the only tables this backend writes to.
var ownedTables = []string{TableMangle, TableNAT}

// IsOwnedChain reports whether chain is one of ours.
func IsOwnedChain(chain string) bool { return ownedChain.MatchString(chain) }

// Ruleset is a set of chains per table: table -> chain -> rule specs in
// order (each spec as iptables arguments after "-A CHAIN"). A chain that
// IsOwnedChain is present, possibly with no rules, exactly when it should
// exist; a built-in chain lists only the rules we own in it.
type Ruleset map[string]map[string][][]string

func (rs Ruleset) add(table, chain string, spec ...string) {
	if rs[table] == nil {
		rs[table] = map[string][][]string{}
	}
	rs[table][chain] = append(rs[table][chain], spec)
}

func (rs Ruleset) ensureChain(table, chain string) {
	if rs[table] == nil {
		rs[table] = map[string][][]string{}
	}
	if _, ok := rs[table][chain]; !ok {
		rs[table][chain] = nil
	}
}

// Desired returns the rules for s. randomFully says whether the SNAT rule
// may use --random-fully; when it may not, prng falls back to --random.
func Desired(s spec.Spec, randomFully bool) Ruleset {
	rs := Ruleset{}
	mark := fmt.Sprintf("%#x", s.Mark)
	veths := s.VethPrefix + "+"
	vlans := spec.VLANPrefix + "+"
	if s.SNAT {
		rs.ensureChain(TableNAT, ChainSNAT)
		rs.add(TableNAT, "POSTROUTING", "-m", "comment", "--comment", CommentSNATChain, "-j", ChainSNAT)
		for _, p := range s.VPC {
			rs.add(TableNAT, ChainSNAT, withDest(p, "-m", "comment", "--comment", CommentSNATChain, "-j", "RETURN")...)
		}
		for _, p := range s.Exclude {
			rs.add(TableNAT, ChainSNAT, withDest(p, "-m", "comment", "--comment", CommentSNATExclusion, "-j", "RETURN")...)
		}
		snat := []string{"!", "-o", vlans, "-m", "comment", "--comment", CommentSNAT,
			"-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", "SNAT", "--to-source", s.PrimaryIP.String()}
		switch {
		case s.Random == ports.SNATRandomFully && randomFully:
			snat = append(snat, "--random-fully")
		case s.Random == ports.SNATRandomFully, s.Random == ports.SNATRandom:
			snat = append(snat, "--random")
		}
		rs.add(TableNAT, ChainSNAT, snat...)

		rs.ensureChain(TableNAT, ChainConnmark)
		rs.add(TableNAT, "PREROUTING", "-i", veths, "-m", "comment", "--comment", CommentOutbound, "-j", ChainConnmark)
		rs.add(TableNAT, "PREROUTING", "-m", "comment", "--comment", CommentConnmark,
			"-j", "CONNMARK", "--restore-mark", "--nfmask", mark, "--ctmask", mark)
		for _, p := range s.Exempt() {
			rs.add(TableNAT, ChainConnmark, withDest(p, "-m", "comment", "--comment", CommentConnmarkChain, "-j", "RETURN")...)
		}
		rs.add(TableNAT, ChainConnmark, "-m", "comment", "--comment", CommentConnmark,
			"-j", "CONNMARK", "--set-xmark", mark+"/"+mark)
	}
	restore := func(iface string) []string {
		return []string{"-i", iface, "-m", "comment", "--comment", CommentPrimaryENI,
			"-j", "CONNMARK", "--restore-mark", "--nfmask", mark, "--ctmask", mark}
	}
	if s.NodePort {
		rs.add(TableMangle, "PREROUTING", "-i", s.PrimaryInterface, "-m", "comment", "--comment", CommentPrimaryENI,
			"-m", "addrtype", "--dst-type", "LOCAL", "--limit-iface-in", "-j", "CONNMARK", "--set-xmark", mark+"/"+mark)
	}
	if s.RestorePodMark() {
		rs.add(TableMangle, "PREROUTING", restore(veths)...)
	}
	if s.NodePort {
		rs.add(TableMangle, "PREROUTING", restore(vlans)...)
	}
	return rs
}

// withDest prefixes rest with "-d <cidr>" the way iptables-save prints it;
// 0.0.0.0/0 matches everything, so iptables drops it and so do we.
func withDest(p netip.Prefix, rest ...string) []string {
	if p.Bits() == 0 {
		return rest
	}
	return append([]string{"-d", p.String()}, rest...)
}

// Owned keeps the part of a full ruleset (as parsed from iptables-save)
// that belongs to us: every owned chain with all its rules, and in other
// chains of the nat and mangle tables the rules carrying one of our
// comments or jumping to an owned chain.
func Owned(full Ruleset) Ruleset {
	out := Ruleset{}
	for _, table := range ownedTables {
		for chain, rules := range full[table] {
			if IsOwnedChain(chain) {
				out.ensureChain(table, chain)
				for _, r := range rules {
					out.add(table, chain, r...)
				}
				continue
			}
			for _, r := range rules {
				if IsOwnedRule(r) {
					out.add(table, chain, r...)
				}
			}
		}
	}
	return out
}

// IsOwnedRule reports whether a rule in a chain we do not own is ours.
func IsOwnedRule(spec []string) bool {
	for i := 0; i+1 < len(spec); i++ {
		switch spec[i] {
		case "--comment":
			if slices.Contains(ownedComments, spec[i+1]) {
				return true
			}
		case "-j", "-g":
			if IsOwnedChain(spec[i+1]) {
				return true
			}
		}
	}
	return false
}

// Render prints rs like iptables-save, restricted to what rs holds: per
// table (sorted) a "*table" line, "-N" for each owned chain (sorted), then
// the rules chain by chain (chains sorted, rules in order). An empty
// ruleset renders as "".
func (rs Ruleset) Render() string {
	var b strings.Builder
	for _, table := range slices.Sorted(maps.Keys(rs)) {
		chains := rs[table]
		names := slices.Sorted(maps.Keys(chains))
		var body strings.Builder
		for _, c := range names {
			if IsOwnedChain(c) {
				fmt.Fprintf(&body, "-N %s\n", c)
			}
		}
		for _, c := range names {
			for _, r := range chains[c] {
				body.WriteString(RuleLine(c, r))
				body.WriteByte('\n')
			}
		}
		if body.Len() == 0 {
			continue
		}
		fmt.Fprintf(&b, "*%s\n%s", table, body.String())
	}
	return b.String()
}

// RuleLine formats one rule as iptables-save does: "-A CHAIN args", with
// arguments holding blanks or quotes in double quotes.
func RuleLine(chain string, spec []string) string {
	parts := make([]string, 0, len(spec)+2)
	parts = append(parts, "-A", chain)
	for _, a := range spec {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}

func quote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\"\\'") {
		return a
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(a) + `"`
}

// ParseSave reads iptables-save output (or Render output) into a full Ruleset: every chain
// declared in every table, with its rules in order.
func ParseSave(text string) (Ruleset, error) {
	rs := Ruleset{}
	table := ""
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
			rs.ensureTable(table)
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "-N "):
			// ":CHAIN POLICY [counters]" from iptables-save, "-N CHAIN"
			// from iptables -S and our own Render.
			name, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(line, ":"), "-N "), " ")
			rs.ensureChain(table, name)
		case strings.HasPrefix(line, "-A "):
			if table == "" {
				return nil, fmt.Errorf("parse line %d %q: rule outside a table", n+1, line)
			}
			args, err := splitArgs(line)
			if err != nil || len(args) < 2 {
				// Not one of ours (we never write such a rule), and one
				// odd foreign rule must not stop us managing ours.
				continue
			}
			rs.add(table, args[1], args[2:]...)
		}
		// Anything else (warnings, lines of newer iptables versions) is
		// not ours either and is skipped.
	}
	return rs, nil
}

func (rs Ruleset) ensureTable(table string) {
	if rs[table] == nil {
		rs[table] = map[string][][]string{}
	}
}

// splitArgs splits a save line into arguments, honouring double quotes and
// backslash escapes inside them.
func splitArgs(line string) ([]string, error) {
	var (
		args  []string
		cur   strings.Builder
		inArg bool
		inQ   bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQ && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQ = !inQ
			inArg = true
		case !inQ && (c == ' ' || c == '\t'):
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inQ {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inArg {
		args = append(args, cur.String())
	}
	return args, nil
}
