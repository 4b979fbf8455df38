//go:build linux

package firewall

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/fwtest"
	"github.com/vpc-cni/vpc-cni/ports"
)

func baseConfig() ports.FirewallConfig {
	return ports.FirewallConfig{
		PrimaryIP:        netip.MustParseAddr("10.0.0.10"),
		PrimaryInterface: "eth0",
		VPCCIDRs:         []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")},
		RandomizeSNAT:    ports.SNATRandomFully,
		VethPrefix:       "eni",
		Mark:             0x80,
		NodePortSupport:  true,
	}
}

// requireAll skips unless every backend can run here.
func requireAll(t *testing.T) fwtest.NetNS {
	t.Helper()
	ns := fwtest.NewNetNS(t)
	for _, b := range []string{"iptables-legacy", "iptables-legacy-save", "iptables-nft", "iptables-nft-save", "nft"} {
		fwtest.RequireBinary(t, b)
	}
	return ns
}

func golden(t *testing.T, backend string) string {
	t.Helper()
	dir := map[string]string{BackendIptablesLegacy: "iptables", BackendIptablesNFT: "iptables", BackendNFTables: "nftables"}[backend]
	b, err := os.ReadFile(dir + "/testdata/desired-default.golden")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func renderOf(t *testing.T, ns fwtest.NetNS, backend string) string {
	t.Helper()
	fw, err := newBackend(Config{NetNS: ns.Path}.withDefaults(), backend)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fw.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRootDetectFollowsTheRules(t *testing.T) {
	ns := requireAll(t)
	ctx := context.Background()
	cfg := Config{NetNS: ns.Path}

	// Fresh namespace: a tie at zero, decided by the system's iptables.
	e, err := Gather(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !e.LegacyPresent || !e.NFTPresent || e.LegacyRules != 0 || e.NFTRules != 0 || e.KubeProxyNFTables {
		t.Fatalf("fresh namespace evidence = %+v", e)
	}
	wantTie := BackendIptablesNFT
	if e.SystemMode == "legacy" {
		wantTie = BackendIptablesLegacy
	}
	if got, err := Detect(ctx, cfg); err != nil || got != wantTie {
		t.Fatalf("Detect on a fresh namespace = %q, %v; want %q (system iptables %q)", got, err, wantTie, e.SystemMode)
	}
	if names := strings.TrimSpace(ns.Run(t, "cat", "/proc/net/ip_tables_names")); names != "" {
		t.Errorf("Detect instantiated legacy tables: %q", names)
	}

	// Three legacy rules against one nft rule: legacy.
	for _, port := range []string{"1", "2", "3"} {
		ns.Run(t, "iptables-legacy", "-t", "filter", "-A", "INPUT", "-p", "tcp", "--dport", port, "-j", "ACCEPT")
	}
	ns.Run(t, "iptables-nft", "-t", "filter", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-j", "ACCEPT")
	if got, err := Detect(ctx, cfg); err != nil || got != BackendIptablesLegacy {
		t.Fatalf("Detect with 3 legacy / 1 nft rules = %q, %v", got, err)
	}

	// Our own rules do not count: applying many of them with iptables-nft
	// does not move the decision.
	nftFW, err := newBackend(Config{NetNS: ns.Path}.withDefaults(), BackendIptablesNFT)
	if err != nil {
		t.Fatal(err)
	}
	if err := nftFW.Apply(ctx, baseConfig()); err != nil {
		t.Fatal(err)
	}
	if got, err := Detect(ctx, cfg); err != nil || got != BackendIptablesLegacy {
		t.Fatalf("Detect after applying our nft rules = %q, %v", got, err)
	}

	// More foreign nft rules: nft.
	for _, port := range []string{"10", "11", "12"} {
		ns.Run(t, "iptables-nft", "-t", "filter", "-A", "INPUT", "-p", "tcp", "--dport", port, "-j", "ACCEPT")
	}
	if got, err := Detect(ctx, cfg); err != nil || got != BackendIptablesNFT {
		t.Fatalf("Detect with 3 legacy / 4 nft rules = %q, %v", got, err)
	}

	// kubelet's hint chain in legacy overrides the counts.
	ns.Run(t, "iptables-legacy", "-t", "mangle", "-N", "KUBE-IPTABLES-HINT")
	if got, err := Detect(ctx, cfg); err != nil || got != BackendIptablesLegacy {
		t.Fatalf("Detect with the legacy hint chain = %q, %v", got, err)
	}

	// kube-proxy in nftables mode overrides everything.
	ns.Run(t, "nft", "add table ip kube-proxy")
	if got, err := Detect(ctx, cfg); err != nil || got != BackendNFTables {
		t.Fatalf("Detect with table ip kube-proxy = %q, %v", got, err)
	}
	fw, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if fw.Name() != BackendNFTables {
		t.Errorf("New(auto).Name() = %q", fw.Name())
	}

	// An explicit backend is taken as given.
	cfg.Backend = BackendIptablesLegacy
	if got, err := Detect(ctx, cfg); err != nil || got != BackendIptablesLegacy {
		t.Fatalf("Detect(explicit legacy) = %q, %v", got, err)
	}
	cfg.Backend = "pf"
	if _, err := New(ctx, cfg); err == nil {
		t.Fatal("New accepted backend pf")
	}
}

// A node that ran every backend at some point: New with one backend keeps
// only that one's rules after its first Apply; TeardownAll leaves nothing.
func TestRootSwitchingBackendsAndTeardownAll(t *testing.T) {
	ns := requireAll(t)
	ctx := context.Background()
	for _, b := range Backends {
		fw, err := newBackend(Config{NetNS: ns.Path}.withDefaults(), b)
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Apply(ctx, baseConfig()); err != nil {
			t.Fatal(err)
		}
		if got := renderOf(t, ns, b); got != golden(t, b) {
			t.Fatalf("%s rules:\n%s", b, got)
		}
	}

	for _, keep := range []string{BackendNFTables, BackendIptablesNFT} {
		fw, err := New(ctx, Config{Backend: keep, NetNS: ns.Path})
		if err != nil {
			t.Fatal(err)
		}
		if err := fw.Apply(ctx, baseConfig()); err != nil {
			t.Fatal(err)
		}
		for _, b := range Backends {
			got := renderOf(t, ns, b)
			switch {
			case b == keep && got != golden(t, b):
				t.Errorf("chosen backend %s lost its rules:\n%s", b, got)
			case b != keep && got != "":
				t.Errorf("after switching to %s, %s still holds:\n%s", keep, b, got)
			}
		}
	}

	// With KeepOthers nothing else is touched.
	keepFW, err := New(ctx, Config{Backend: BackendIptablesLegacy, NetNS: ns.Path, KeepOthers: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := keepFW.Apply(ctx, baseConfig()); err != nil {
		t.Fatal(err)
	}
	if renderOf(t, ns, BackendIptablesNFT) == "" || renderOf(t, ns, BackendIptablesLegacy) == "" {
		t.Fatal("KeepOthers: expected both iptables flavours to hold rules")
	}

	if err := TeardownAll(ctx, Config{NetNS: ns.Path}); err != nil {
		t.Fatal(err)
	}
	for _, b := range Backends {
		if got := renderOf(t, ns, b); got != "" {
			t.Errorf("%s after TeardownAll:\n%s", b, got)
		}
	}
	for _, cmd := range [][]string{{"nft", "list", "ruleset"}, {"iptables-legacy-save"}, {"iptables-nft-save"}} {
		if out := ns.Stdout(t, cmd...); strings.Contains(out, "AWS") || strings.Contains(out, "aws-cni") {
			t.Errorf("%s after TeardownAll still shows our rules:\n%s", cmd[0], out)
		}
	}
}
