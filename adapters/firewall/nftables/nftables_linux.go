//go:build linux

package nftables

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	nft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Firewall owns the "ip aws-cni" nf_tables table. It is safe for
// concurrent use; calls are serialised.
type Firewall struct {
	cfg Config
	mu  sync.Mutex
}

// New returns the backend. It changes nothing and needs no binary.
func New(cfg Config) (*Firewall, error) {
	return &Firewall{cfg: cfg.withDefaults()}, nil
}

// Apply makes the table exactly the one for cfg, replacing it atomically
// when it differs.
func (f *Firewall) Apply(ctx context.Context, cfg ports.FirewallConfig) error {
	s, err := spec.Normalize(cfg)
	if err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	want := Desired(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	err = f.withConn(func(c *nft.Conn) error {
		have, err := readTable(c)
		if err != nil {
			return err
		}
		if Render(have) == Render(want) {
			return nil
		}
		f.cfg.Logger.Info("replace nftables table", "table", TableName, "existed", have != nil, "delete", want == nil)
		if have != nil {
			c.DelTable(&nft.Table{Name: TableName, Family: nft.TableFamilyIPv4})
		}
		if want != nil {
			if err := addTable(c, want); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.Flush(); err != nil {
			return mapErr(fmt.Errorf("write table ip %s: %w", TableName, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply nftables rules: %w", err)
	}
	return nil
}

// Teardown deletes the table; a missing table is success.
func (f *Firewall) Teardown(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.withConn(func(c *nft.Conn) error {
		have, err := readTable(c)
		if err != nil || have == nil {
			return err
		}
		c.DelTable(&nft.Table{Name: TableName, Family: nft.TableFamilyIPv4})
		if err := c.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
			return mapErr(fmt.Errorf("delete table ip %s: %w", TableName, err))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tear down nftables rules: %w", err)
	}
	return nil
}

// Render prints the table as it is in the kernel ("" when absent).
func (f *Firewall) Render(ctx context.Context) (string, error) {
	var out string
	err := f.withConn(func(c *nft.Conn) error {
		have, err := readTable(c)
		out = Render(have)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("render nftables rules: %w", err)
	}
	return out, nil
}

// HasTable reports whether an nf_tables table of the given family ("ip",
// "ip6" or "inet") and name exists in the namespace (empty: the caller's),
// for backend detection: kube-proxy in nftables mode owns "ip kube-proxy".
func HasTable(netns, family, name string) (bool, error) {
	fam, ok := map[string]nft.TableFamily{"ip": nft.TableFamilyIPv4, "ip6": nft.TableFamilyIPv6, "inet": nft.TableFamilyINet}[family]
	if !ok {
		return false, fmt.Errorf("look for table %s %s: unknown family: %w", family, name, core.ErrInvalidParameter)
	}
	f := &Firewall{cfg: Config{NetNS: netns}.withDefaults()}
	found := false
	err := f.withConn(func(c *nft.Conn) error {
		tables, err := c.ListTablesOfFamily(fam)
		if err != nil {
			return mapErr(fmt.Errorf("list nftables tables: %w", err))
		}
		for _, t := range tables {
			if t.Name == name {
				found = true
			}
		}
		return nil
	})
	return found, err
}

// withConn gives fn a connection in the configured namespace.
func (f *Firewall) withConn(fn func(*nft.Conn) error) error {
	var opts []nft.ConnOption
	if f.cfg.NetNS != "" {
		ns, err := os.Open(f.cfg.NetNS)
		if err != nil {
			return fmt.Errorf("open network namespace %s: %w", f.cfg.NetNS, err)
		}
		defer ns.Close()
		opts = append(opts, nft.WithNetNSFd(int(ns.Fd())))
	}
	c, err := nft.New(opts...)
	if err != nil {
		return mapErr(fmt.Errorf("open nftables connection: %w", err))
	}
	return fn(c)
}

// readTable reads our table back into the pure model; nil when absent.
func readTable(c *nft.Conn) (*Table, error) {
	tables, err := c.ListTablesOfFamily(nft.TableFamilyIPv4)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list nftables tables: %w", err))
	}
	var table *nft.Table
	for _, t := range tables {
		if t.Name == TableName {
			table = t
		}
	}
	if table == nil {
		return nil, nil
	}
	out := &Table{Name: TableName}
	chains, err := c.ListChainsOfTableFamily(nft.TableFamilyIPv4)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list chains of table ip %s: %w", TableName, err))
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != TableName {
			continue
		}
		chain := Chain{Name: ch.Name}
		if ch.Hooknum != nil {
			h := &Hook{Type: string(ch.Type), Hook: hookName(*ch.Hooknum), Policy: "accept"}
			if ch.Priority != nil {
				h.Priority = int32(*ch.Priority)
			}
			if ch.Policy != nil && *ch.Policy == nft.ChainPolicyDrop {
				h.Policy = "drop"
			}
			chain.Base = h
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, mapErr(fmt.Errorf("list rules of chain %s: %w", ch.Name, err))
		}
		for _, r := range rules {
			rule := Rule{}
			if comment, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
				rule.Comment = comment
			}
			rule.Exprs = fromKernelRule(r.Exprs)
			chain.Rules = append(chain.Rules, rule)
		}
		out.Chains = append(out.Chains, chain)
	}
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list sets of table ip %s: %w", TableName, err))
	}
	for _, s := range sets {
		out.Sets = append(out.Sets, s.Name)
	}
	return out, nil
}

// addTable queues the creation of t on c.
func addTable(c *nft.Conn, t *Table) error {
	table := c.AddTable(&nft.Table{Name: t.Name, Family: nft.TableFamilyIPv4})
	chains := map[string]*nft.Chain{}
	// All chains before any rule (rules jump between them), in name order
	// so that "nft list" shows them in the order Render does.
	sorted := slices.Clone(t.Chains)
	slices.SortFunc(sorted, func(a, b Chain) int { return strings.Compare(a.Name, b.Name) })
	for _, ch := range sorted {
		nc := &nft.Chain{Name: ch.Name, Table: table}
		if h := ch.Base; h != nil {
			hook, err := hookNum(h.Hook)
			if err != nil {
				return err
			}
			policy := nft.ChainPolicyAccept
			if h.Policy == "drop" {
				policy = nft.ChainPolicyDrop
			}
			nc.Type = nft.ChainType(h.Type)
			nc.Hooknum = nft.ChainHookRef(hook)
			nc.Priority = nft.ChainPriorityRef(nft.ChainPriority(h.Priority))
			nc.Policy = &policy
		}
		chains[ch.Name] = c.AddChain(nc)
	}
	for _, ch := range t.Chains {
		for _, r := range ch.Rules {
			exprs := make([]expr.Any, 0, len(r.Exprs))
			for _, e := range r.Exprs {
				k, err := toKernel(e)
				if err != nil {
					return fmt.Errorf("build rule %q in chain %s: %w", RuleText(r), ch.Name, err)
				}
				exprs = append(exprs, k)
			}
			nr := &nft.Rule{Table: table, Chain: chains[ch.Name], Exprs: exprs}
			if r.Comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
			}
			c.AddRule(nr)
		}
	}
	return nil
}

var hooks = []struct {
	name string
	num  nft.ChainHook
}{
	{"prerouting", unix.NF_INET_PRE_ROUTING},
	{"input", unix.NF_INET_LOCAL_IN},
	{"forward", unix.NF_INET_FORWARD},
	{"output", unix.NF_INET_LOCAL_OUT},
	{"postrouting", unix.NF_INET_POST_ROUTING},
}

func hookName(n nft.ChainHook) string {
	for _, h := range hooks {
		if h.num == n {
			return h.name
		}
	}
	return fmt.Sprintf("hook%d", n)
}

func hookNum(name string) (nft.ChainHook, error) {
	for _, h := range hooks {
		if h.name == name {
			return h.num, nil
		}
	}
	return 0, fmt.Errorf("unknown hook %q: %w", name, core.ErrInvalidParameter)
}

var metaKeys = map[string]expr.MetaKey{"iifname": expr.MetaKeyIIFNAME, "oifname": expr.MetaKeyOIFNAME, "mark": expr.MetaKeyMARK}
var ctKeys = map[string]expr.CtKey{"state": expr.CtKeySTATE, "mark": expr.CtKeyMARK}
var cmpOps = map[string]expr.CmpOp{"==": expr.CmpOpEq, "!=": expr.CmpOpNeq, "<": expr.CmpOpLt, "<=": expr.CmpOpLte, ">": expr.CmpOpGt, ">=": expr.CmpOpGte}
var verdicts = map[string]expr.VerdictKind{
	"accept": expr.VerdictAccept, "drop": expr.VerdictDrop, "return": expr.VerdictReturn,
	"continue": expr.VerdictContinue, "jump": expr.VerdictJump, "goto": expr.VerdictGoto,
}

func reverse[K comparable, V comparable](m map[K]V, v V) (K, bool) {
	for k, x := range m {
		if x == v {
			return k, true
		}
	}
	var zero K
	return zero, false
}

// toKernel translates one model expression into its nftables form.
func toKernel(e Expr) (expr.Any, error) {
	switch e := e.(type) {
	case Meta:
		k, ok := metaKeys[e.Key]
		if !ok {
			return nil, fmt.Errorf("unknown meta key %q", e.Key)
		}
		return &expr.Meta{Key: k, Register: e.Reg, SourceRegister: e.Set}, nil
	case Ct:
		k, ok := ctKeys[e.Key]
		if !ok {
			return nil, fmt.Errorf("unknown ct key %q", e.Key)
		}
		return &expr.Ct{Key: k, Register: e.Reg, SourceRegister: e.Set}, nil
	case Payload:
		return &expr.Payload{OperationType: expr.PayloadLoad, DestRegister: e.Reg, Base: expr.PayloadBaseNetworkHeader, Offset: e.Offset, Len: e.Len}, nil
	case Bitwise:
		return &expr.Bitwise{SourceRegister: e.Src, DestRegister: e.Dst, Len: e.Len, Mask: e.Mask, Xor: e.Xor}, nil
	case Cmp:
		op, ok := cmpOps[e.Op]
		if !ok {
			return nil, fmt.Errorf("unknown comparison %q", e.Op)
		}
		return &expr.Cmp{Op: op, Register: e.Reg, Data: e.Data}, nil
	case Fib:
		return &expr.Fib{Register: e.Reg, ResultADDRTYPE: true, FlagDADDR: true, FlagIIF: e.Iif}, nil
	case Immediate:
		return &expr.Immediate{Register: e.Reg, Data: e.Data}, nil
	case SNAT:
		return &expr.NAT{Type: expr.NATTypeSourceNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: e.RegAddr, RegAddrMax: e.RegAddr,
			Random: e.Random, FullyRandom: e.FullyRandom}, nil
	case Counter:
		return &expr.Counter{}, nil
	case Verdict:
		k, ok := verdicts[e.Kind]
		if !ok {
			return nil, fmt.Errorf("unknown verdict %q", e.Kind)
		}
		return &expr.Verdict{Kind: k, Chain: e.Chain}, nil
	}
	return nil, fmt.Errorf("cannot write expression %T", e)
}

// fromKernelRule translates the expressions of one rule. It repairs one
// gap of github.com/google/nftables v0.3.0: a "ct set" expression is read
// back without its source register (NFTA_CT_SREG is not decoded) and so
// looks like a load into register 0, which no valid load uses. Such an
// expression is a store, and this package always stores the register
// written just before, so that register is filled in.
func fromKernelRule(in []expr.Any) []Expr {
	out := make([]Expr, 0, len(in))
	var last uint32
	for _, k := range in {
		e := fromKernel(k)
		switch x := e.(type) {
		case Ct:
			if ct := k.(*expr.Ct); !ct.SourceRegister && ct.Register == 0 {
				x.Set, x.Reg = true, last
				e = x
			} else if !x.Set {
				last = x.Reg
			}
		case Meta:
			if !x.Set {
				last = x.Reg
			}
		case Payload:
			last = x.Reg
		case Bitwise:
			last = x.Dst
		case Fib:
			last = x.Reg
		case Immediate:
			last = x.Reg
		}
		out = append(out, e)
	}
	return out
}

// fromKernel translates an expression read from the kernel into the
// model; whatever the model does not cover becomes Unknown.
func fromKernel(e expr.Any) Expr {
	switch e := e.(type) {
	case *expr.Meta:
		if k, ok := reverse(metaKeys, e.Key); ok {
			return Meta{Key: k, Reg: e.Register, Set: e.SourceRegister}
		}
		return Unknown{Desc: fmt.Sprintf("meta key %d", e.Key)}
	case *expr.Ct:
		if k, ok := reverse(ctKeys, e.Key); ok && e.Direction == 0 {
			return Ct{Key: k, Reg: e.Register, Set: e.SourceRegister}
		}
		return Unknown{Desc: fmt.Sprintf("ct key %d", e.Key)}
	case *expr.Payload:
		if e.OperationType == expr.PayloadLoad && e.Base == expr.PayloadBaseNetworkHeader {
			return Payload{Reg: e.DestRegister, Offset: e.Offset, Len: e.Len}
		}
		return Unknown{Desc: fmt.Sprintf("payload base %d offset %d", e.Base, e.Offset)}
	case *expr.Bitwise:
		return Bitwise{Src: e.SourceRegister, Dst: e.DestRegister, Len: e.Len, Mask: e.Mask, Xor: e.Xor}
	case *expr.Cmp:
		if op, ok := reverse(cmpOps, e.Op); ok {
			return Cmp{Op: op, Reg: e.Register, Data: e.Data}
		}
		return Unknown{Desc: fmt.Sprintf("cmp op %d", e.Op)}
	case *expr.Fib:
		if e.ResultADDRTYPE && e.FlagDADDR && !e.FlagSADDR && !e.FlagOIF && !e.FlagMARK && !e.FlagPRESENT {
			return Fib{Reg: e.Register, Iif: e.FlagIIF}
		}
		return Unknown{Desc: "fib"}
	case *expr.Immediate:
		return Immediate{Reg: e.Register, Data: e.Data}
	case *expr.NAT:
		if e.Type == expr.NATTypeSourceNAT && e.Family == unix.NFPROTO_IPV4 && e.RegAddrMin == e.RegAddrMax && e.RegProtoMin == 0 {
			return SNAT{RegAddr: e.RegAddrMin, Random: e.Random, FullyRandom: e.FullyRandom}
		}
		return Unknown{Desc: "nat"}
	case *expr.Counter:
		return Counter{}
	case *expr.Verdict:
		if k, ok := reverse(verdicts, e.Kind); ok {
			return Verdict{Kind: k, Chain: e.Chain}
		}
		return Unknown{Desc: fmt.Sprintf("verdict %d", e.Kind)}
	}
	return Unknown{Desc: fmt.Sprintf("%T", e)}
}

// mapErr adds the core sentinel matching a netlink failure.
func mapErr(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %w", core.ErrUnauthorized, err)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	}
	return err
}
