package memory

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
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

func readGolden(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The fake holds exactly the text the real backends install and render
// on a node (their golden files are checked against the kernel by their
// own root tests).
func TestRendersLikeTheRealBackends(t *testing.T) {
	tests := []struct {
		cfg    Config
		golden string
	}{
		{Config{}, "../iptables/testdata/desired-default.golden"},
		{Config{Backend: "iptables-legacy"}, "../iptables/testdata/desired-default.golden"},
		{Config{Backend: "iptables-legacy", NoRandomFully: true}, "../iptables/testdata/desired-default-no-random-fully.golden"},
		{Config{Backend: "nftables"}, "../nftables/testdata/desired-default.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Backend, func(t *testing.T) {
			fw, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := fw.Apply(context.Background(), baseConfig()); err != nil {
				t.Fatal(err)
			}
			got, _ := fw.Render(context.Background())
			if want := readGolden(t, tt.golden); got != want {
				t.Errorf("--- got\n%s--- want (%s)\n%s", got, tt.golden, want)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	fw, err := New(Config{Backend: "nftables"})
	if err != nil {
		t.Fatal(err)
	}
	if fw.Name() != "nftables" {
		t.Errorf("Name() = %q", fw.Name())
	}
	if _, ok := fw.LastApplied(); ok {
		t.Error("LastApplied before any Apply")
	}
	if err := fw.Apply(ctx, baseConfig()); err != nil {
		t.Fatal(err)
	}
	want, _ := fw.Render(ctx)

	// Tampering shows in Render and the next Apply repairs it.
	fw.Tamper("")
	if got, _ := fw.Render(ctx); got != "" {
		t.Fatalf("Render after Tamper = %q", got)
	}
	if err := fw.Apply(ctx, baseConfig()); err != nil {
		t.Fatal(err)
	}
	if got, _ := fw.Render(ctx); got != want {
		t.Fatalf("Apply did not repair the tampered rules:\n%s", got)
	}

	// An injected failure changes nothing and is consumed.
	boom := errors.New("netlink: device or resource busy")
	fw.FailNext(boom)
	ext := baseConfig()
	ext.ExternalSNAT, ext.NodePortSupport = true, false
	if err := fw.Apply(ctx, ext); !errors.Is(err, boom) {
		t.Fatalf("Apply with FailNext: %v", err)
	}
	if got, _ := fw.Render(ctx); got != want {
		t.Fatal("failed Apply changed the rules")
	}
	if err := fw.Apply(ctx, ext); err != nil {
		t.Fatal(err)
	}
	if got, _ := fw.Render(ctx); got != "" {
		t.Fatalf("external SNAT without NodePort should own nothing, got\n%s", got)
	}
	if last, ok := fw.LastApplied(); !ok || !last.ExternalSNAT {
		t.Errorf("LastApplied = %+v, %v", last, ok)
	}
	if n := fw.Applies(); n != 3 {
		t.Errorf("Applies() = %d, want 3 successful calls", n)
	}

	// Invalid configs are refused like the real backends refuse them.
	bad := baseConfig()
	bad.PrimaryIP = netip.Addr{}
	if err := fw.Apply(ctx, bad); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("Apply(no primary IP) = %v", err)
	}

	if err := fw.Apply(ctx, baseConfig()); err != nil {
		t.Fatal(err)
	}
	if err := fw.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := fw.Render(ctx); got != "" {
		t.Errorf("Render after Teardown = %q", got)
	}
	if _, ok := fw.LastApplied(); ok {
		t.Error("LastApplied after Teardown")
	}
}

func TestNewRejectsUnknownBackend(t *testing.T) {
	if _, err := New(Config{Backend: "pf"}); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("New(pf) = %v", err)
	}
}
