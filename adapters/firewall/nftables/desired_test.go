package nftables

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/ports"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s: rendered table differs\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func pfx(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

func baseConfig() ports.FirewallConfig {
	return ports.FirewallConfig{
		PrimaryIP:        netip.MustParseAddr("10.0.0.10"),
		PrimaryInterface: "eth0",
		VPCCIDRs:         pfx("10.0.0.0/16"),
		RandomizeSNAT:    ports.SNATRandomFully,
		VethPrefix:       "eni",
		Mark:             0x80,
		NodePortSupport:  true,
	}
}

// configs are shared with the root tests, which install each one and
// compare the kernel's table with the same golden file.
var configs = []struct {
	name string
	edit func(*ports.FirewallConfig)
}{
	{name: "default"},
	{name: "many-cidrs", edit: func(c *ports.FirewallConfig) {
		c.VPCCIDRs = pfx("10.2.0.0/16", "10.0.0.0/16", "2001:db8::/56", "10.2.0.0/16", "100.64.3.7/10")
		c.ExcludeCIDRs = pfx("192.168.9.9/32", "10.0.0.0/16", "172.16.0.0/12")
	}},
	{name: "external-snat-nodeport", edit: func(c *ports.FirewallConfig) { c.ExternalSNAT = true }},
	{name: "external-snat-no-nodeport", edit: func(c *ports.FirewallConfig) {
		c.ExternalSNAT = true
		c.NodePortSupport = false
	}},
	{name: "hashrandom-custom", edit: func(c *ports.FirewallConfig) {
		// Two connmark bits: one clear rule and one restore rule per bit.
		c.RandomizeSNAT = ports.SNATRandom
		c.NodePortSupport = false
		c.Mark = 0x480
		c.VethPrefix = "veth"
		c.PrimaryInterface = "ens5"
	}},
	{name: "none", edit: func(c *ports.FirewallConfig) { c.RandomizeSNAT = ports.SNATNone }},
	{name: "exclude-everything", edit: func(c *ports.FirewallConfig) { c.ExcludeCIDRs = pfx("0.0.0.0/0") }},
}

func configNamed(t *testing.T, name string) ports.FirewallConfig {
	t.Helper()
	for _, c := range configs {
		if c.name == name {
			cfg := baseConfig()
			if c.edit != nil {
				c.edit(&cfg)
			}
			return cfg
		}
	}
	t.Fatalf("no config %q", name)
	return ports.FirewallConfig{}
}

func TestDesiredGolden(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			s, err := spec.Normalize(configNamed(t, c.name))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "desired-"+c.name, Render(Desired(s)))
		})
	}
}

func TestDesiredEmptyIsNil(t *testing.T) {
	s, err := spec.Normalize(configNamed(t, "external-snat-no-nodeport"))
	if err != nil {
		t.Fatal(err)
	}
	if tbl := Desired(s); tbl != nil {
		t.Errorf("external SNAT without NodePort support should own no table, got\n%s", Render(tbl))
	}
}

// RuleText must also read rules written by nft itself, which loads only
// the prefix bytes of an address and compares exact names with their NUL.
func TestRuleTextOfForeignForms(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{
			name: "nft /16 shortcut",
			rule: Rule{Exprs: []Expr{Payload{Reg: 1, Offset: 16, Len: 2}, Cmp{Op: "==", Reg: 1, Data: []byte{10, 0}}, Verdict{Kind: "return"}}},
			want: "ip daddr 10.0.0.0/16 return",
		},
		{
			name: "source host, negated",
			rule: Rule{Exprs: []Expr{Payload{Reg: 1, Offset: 12, Len: 4}, Cmp{Op: "!=", Reg: 1, Data: []byte{192, 0, 2, 1}}, Verdict{Kind: "accept"}}},
			want: "ip saddr != 192.0.2.1 accept",
		},
		{
			name: "exact and wildcard names",
			rule: Rule{Exprs: []Expr{
				Meta{Key: "iifname", Reg: 1}, Cmp{Op: "==", Reg: 1, Data: append([]byte("eth0"), make([]byte, 12)...)},
				Meta{Key: "oifname", Reg: 2}, Cmp{Op: "!=", Reg: 2, Data: []byte("vlan")},
				Verdict{Kind: "jump", Chain: "x"},
			}},
			want: `iifname "eth0" oifname != "vlan*" jump x`,
		},
		{
			name: "unknown expression and plain mark",
			rule: Rule{Exprs: []Expr{Meta{Key: "mark", Reg: 1}, Cmp{Op: "==", Reg: 1, Data: native(0x4000)}, Unknown{Desc: "*expr.Log"}}, Comment: `a "b"`},
			want: `meta mark 0x00004000 [*expr.Log] comment "a \"b\""`,
		},
		{
			name: "mark set to a constant",
			rule: Rule{Exprs: []Expr{Immediate{Reg: 1, Data: native(0x80)}, Meta{Key: "mark", Reg: 1, Set: true}}},
			want: "meta mark set 0x00000080",
		},
		{
			name: "several ct states",
			rule: Rule{Exprs: []Expr{Ct{Key: "state", Reg: 1}, Bitwise{Src: 1, Dst: 1, Len: 4, Mask: native(6), Xor: native(0)}, Cmp{Op: "!=", Reg: 1, Data: native(0)}, Verdict{Kind: "accept"}}},
			want: "ct state established,related accept",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleText(tt.rule); got != tt.want {
				t.Errorf("RuleText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPriorityName(t *testing.T) {
	tests := []struct {
		hook string
		prio int32
		want string
	}{
		{"prerouting", -150, "mangle"},
		{"prerouting", -100, "dstnat"},
		{"prerouting", -90, "dstnat + 10"},
		{"prerouting", -110, "dstnat - 10"},
		{"postrouting", 100, "srcnat"},
		{"postrouting", -100, "mangle + 50"},
		{"forward", 0, "filter"},
		{"input", -300, "raw"},
	}
	for _, tt := range tests {
		if got := priorityName(tt.hook, tt.prio); got != tt.want {
			t.Errorf("priorityName(%s, %d) = %q, want %q", tt.hook, tt.prio, got, tt.want)
		}
	}
}
