package iptables

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/core"
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
		t.Errorf("%s: rendered rules differ\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func pfx(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}

// BaseConfig is the default upstream configuration of a node with one VPC
// CIDR.
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

func TestDesiredGolden(t *testing.T) {
	tests := []struct {
		name        string
		edit        func(*ports.FirewallConfig)
		randomFully bool
	}{
		{name: "default", randomFully: true},
		{name: "default-no-random-fully", randomFully: false},
		{name: "many-cidrs", randomFully: true, edit: func(c *ports.FirewallConfig) {
			// Unsorted, with a duplicate, a host address, an unmasked
			// prefix, an exclusion equal to a VPC CIDR and an IPv6 CIDR
			// that the IPv4 rules must ignore.
			c.VPCCIDRs = pfx("10.2.0.0/16", "10.0.0.0/16", "2001:db8::/56", "10.2.0.0/16", "100.64.3.7/10")
			c.ExcludeCIDRs = pfx("192.168.9.9/32", "10.0.0.0/16", "172.16.0.0/12")
		}},
		{name: "external-snat-nodeport", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.ExternalSNAT = true
		}},
		{name: "external-snat-no-nodeport", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.ExternalSNAT = true
			c.NodePortSupport = false
		}},
		{name: "hashrandom-custom", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.RandomizeSNAT = ports.SNATRandom
			c.NodePortSupport = false
			c.Mark = 0x400
			c.VethPrefix = "veth"
			c.PrimaryInterface = "ens5"
		}},
		{name: "none", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.RandomizeSNAT = ports.SNATNone
		}},
		{name: "exclude-everything", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.ExcludeCIDRs = pfx("0.0.0.0/0")
		}},
		{name: "defaults-filled", randomFully: true, edit: func(c *ports.FirewallConfig) {
			c.PrimaryInterface, c.VethPrefix, c.Mark, c.RandomizeSNAT = "", "", 0, ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			s, err := spec.Normalize(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rs := Desired(s, tt.randomFully)
			got := rs.Render()
			golden(t, "desired-"+tt.name, got)

			// What we render is what iptables-save prints back: parsing
			// the rendering and keeping the owned part is the identity.
			back, err := ParseSave(got)
			if err != nil {
				t.Fatal(err)
			}
			if again := Owned(back).Render(); again != got {
				t.Errorf("parse/render round trip changed the rules:\n%s\nvs\n%s", again, got)
			}
		})
	}
}

func TestDesiredDefaultsMatchExplicit(t *testing.T) {
	explicit, err := spec.Normalize(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.PrimaryInterface, cfg.VethPrefix, cfg.Mark, cfg.RandomizeSNAT = "", "", 0, ""
	defaulted, err := spec.Normalize(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := Desired(explicit, true).Render(), Desired(defaulted, true).Render(); a != b {
		t.Errorf("empty fields do not default to eth0/eni/0x80/prng:\n%s\nvs\n%s", b, a)
	}
}

func TestNormalizeRejects(t *testing.T) {
	tests := []struct {
		name string
		edit func(*ports.FirewallConfig)
	}{
		{"no primary IP with SNAT", func(c *ports.FirewallConfig) { c.PrimaryIP = netip.Addr{} }},
		{"IPv6 primary IP", func(c *ports.FirewallConfig) { c.PrimaryIP = netip.MustParseAddr("2001:db8::1") }},
		{"unknown random mode", func(c *ports.FirewallConfig) { c.RandomizeSNAT = "random" }},
		{"invalid prefix", func(c *ports.FirewallConfig) { c.VPCCIDRs = []netip.Prefix{{}} }},
		{"interface with blank", func(c *ports.FirewallConfig) { c.PrimaryInterface = "eth 0" }},
		{"veth prefix with wildcard", func(c *ports.FirewallConfig) { c.VethPrefix = "eni+" }},
		{"interface too long", func(c *ports.FirewallConfig) { c.PrimaryInterface = "averyveryverylongname" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig()
			tt.edit(&cfg)
			if _, err := spec.Normalize(cfg); !errors.Is(err, core.ErrInvalidParameter) {
				t.Errorf("Normalize: got %v, want ErrInvalidParameter", err)
			}
		})
	}
	// Without SNAT the primary IP is irrelevant.
	cfg := baseConfig()
	cfg.ExternalSNAT, cfg.PrimaryIP = true, netip.Addr{}
	if _, err := spec.Normalize(cfg); err != nil {
		t.Errorf("external SNAT without primary IP: %v", err)
	}
}

// A node running kube-proxy and an older upstream release: Owned must keep
// exactly our rules, including the stale AWS-*-CHAIN-1 chains and the
// jumps into them, and nothing of kube-proxy's.
const nodeSave = `# Generated by iptables-save v1.8.9 on Sat Nov 21 16:23:07 2026
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-IPTABLES-HINT - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A PREROUTING -i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x80/0x80
-A PREROUTING -i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
COMMIT
# Completed on Sat Nov 21 16:23:07 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:AWS-CONNMARK-CHAIN-0 - [0:0]
:AWS-CONNMARK-CHAIN-1 - [0:0]
:AWS-SNAT-CHAIN-0 - [0:0]
:AWS-SNAT-CHAIN-1 - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -m state --state NEW -j AWS-CONNMARK-CHAIN-0
-A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
-A AWS-CONNMARK-CHAIN-0 ! -d 172.30.0.0/16 -m comment --comment "AWS CONNMARK CHAIN, VPC CIDR" -j AWS-CONNMARK-CHAIN-1
-A AWS-CONNMARK-CHAIN-1 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80
-A AWS-SNAT-CHAIN-0 ! -d 172.30.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-1
-A AWS-SNAT-CHAIN-1 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 172.30.47.189 --random-fully
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`

func TestOwnedFromNodeSave(t *testing.T) {
	full, err := ParseSave(nodeSave)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(full["filter"]["FORWARD"]); got != 1 {
		t.Errorf("filter FORWARD parsed with %d rules, want 1", got)
	}
	if _, ok := full["mangle"]["KUBE-KUBELET-CANARY"]; !ok {
		t.Error("declared empty chain KUBE-KUBELET-CANARY missing from the parse")
	}
	golden(t, "owned-upstream-node", Owned(full).Render())
}

func TestIsOwnedRule(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{`-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0`, true},
		{`-A POSTROUTING -j AWS-SNAT-CHAIN-3`, true},
		{`-A PREROUTING -i eni+ -g AWS-CONNMARK-CHAIN-0`, true},
		{`-A PREROUTING -m comment --comment "AWS, primary ENI" -j ACCEPT`, true},
		{`-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING`, false},
		{`-A POSTROUTING -m comment --comment "AWS SNAT CHAIN but not quite" -j ACCEPT`, false},
		{`-A POSTROUTING -j AWS-SNAT-CHAIN-X`, false},
		{`-A FORWARD -m comment --comment AWS -j ACCEPT`, false},
	}
	for _, tt := range tests {
		args, err := splitArgs(tt.line)
		if err != nil {
			t.Fatal(err)
		}
		if got := IsOwnedRule(args[2:]); got != tt.want {
			t.Errorf("IsOwnedRule(%s) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{`-A X -m comment --comment "a b" -j Y`, []string{"-A", "X", "-m", "comment", "--comment", "a b", "-j", "Y"}},
		{`-A X --comment "say \"hi\" \\ now"`, []string{"-A", "X", "--comment", `say "hi" \ now`}},
		{`-A X --comment ""  -j Y`, []string{"-A", "X", "--comment", "", "-j", "Y"}},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.line)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%s) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
		if back := RuleLine(got[1], got[2:]); back != tt.line && tt.line != `-A X --comment ""  -j Y` {
			t.Errorf("RuleLine round trip: %s -> %s", tt.line, back)
		}
	}
	if _, err := splitArgs(`-A X --comment "open`); err == nil {
		t.Error("unterminated quote accepted")
	}
	// Foreign oddities are skipped, a rule before any table is an error.
	rs, err := ParseSave("# Warning: iptables-legacy tables present\n*nat\nbogus line\n-A X --comment \"open\n-A POSTROUTING -j AWS-SNAT-CHAIN-0\nCOMMIT\n")
	if err != nil || len(rs["nat"]) != 1 || len(rs["nat"]["POSTROUTING"]) != 1 {
		t.Errorf("ParseSave with odd lines = %v, %v", rs, err)
	}
	if _, err := ParseSave("-A POSTROUTING -j ACCEPT\n"); err == nil {
		t.Error("ParseSave accepted a rule outside a table")
	}
}
