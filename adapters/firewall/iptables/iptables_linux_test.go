//go:build linux

package iptables

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/fwtest"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var modes = []Mode{Legacy, NFT}

// newInNS returns a backend of the given mode bound to a fresh namespace.
func newInNS(t *testing.T, mode Mode) (*Firewall, fwtest.NetNS) {
	t.Helper()
	ns := fwtest.NewNetNS(t)
	fwtest.RequireBinary(t, string(mode))
	fwtest.RequireBinary(t, string(mode)+"-save")
	fw, err := New(Config{Mode: mode, NetNS: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	return fw, ns
}

func render(t *testing.T, fw *Firewall) string {
	t.Helper()
	got, err := fw.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func apply(t *testing.T, fw *Firewall, cfg ports.FirewallConfig) {
	t.Helper()
	if err := fw.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

// wantGolden compares the kernel state with a golden file of the pure
// rule tests: what Apply installs is exactly what Desired describes.
func wantGolden(t *testing.T, fw *Firewall, name string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, fw); got != string(want) {
		t.Fatalf("kernel rules differ from %s\n--- got\n%s--- want\n%s", name, got, want)
	}
}

var saveNoise = regexp.MustCompile(`(?m)^#.*\n|\[\d+:\d+\]`)

// fullSave is the whole iptables-save output without comments and
// counters, to prove that a no-op Apply really changed nothing.
func fullSave(t *testing.T, ns fwtest.NetNS, mode Mode) string {
	t.Helper()
	return saveNoise.ReplaceAllString(ns.Stdout(t, string(mode)+"-save"), "")
}

func TestRootApplyLifecycle(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			fw, ns := newInNS(t, mode)
			ipt := string(mode)
			if fw.Name() != ipt {
				t.Errorf("Name() = %q, want %q", fw.Name(), ipt)
			}
			// Somebody else's rules, which we must never touch.
			ns.Run(t, ipt, "-t", "nat", "-N", "KUBE-SERVICES")
			ns.Run(t, ipt, "-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")
			ns.Run(t, ipt, "-t", "nat", "-A", "POSTROUTING", "-o", "eth9", "-j", "MASQUERADE")
			ns.Run(t, ipt, "-t", "mangle", "-A", "PREROUTING", "-i", "eth9", "-j", "MARK", "--set-mark", "0x4000")

			// Fresh node: everything is created.
			apply(t, fw, baseConfig())
			wantGolden(t, fw, "desired-default")

			// Idempotent: a second Apply changes nothing at all.
			before := fullSave(t, ns, mode)
			apply(t, fw, baseConfig())
			if after := fullSave(t, ns, mode); after != before {
				t.Fatalf("second Apply changed the tables\n--- before\n%s--- after\n%s", before, after)
			}

			// Out-of-band deletions are repaired, in the right order: the
			// connmark jump must come back before the restore rule.
			ns.Run(t, ipt, "-t", "nat", "-D", "PREROUTING", "-i", "eni+", "-m", "comment", "--comment", CommentOutbound, "-j", ChainConnmark)
			ns.Run(t, ipt, "-t", "nat", "-D", ChainSNAT, "1")
			ns.Run(t, ipt, "-t", "mangle", "-D", "PREROUTING", "-i", "vlan+", "-m", "comment", "--comment", CommentPrimaryENI,
				"-j", "CONNMARK", "--restore-mark", "--nfmask", "0x80", "--ctmask", "0x80")
			if render(t, fw) == string(mustRead(t, "desired-default")) {
				t.Fatal("out-of-band deletes did not show in Render")
			}
			apply(t, fw, baseConfig())
			wantGolden(t, fw, "desired-default")

			// A rule appended to our chain and a duplicate in a built-in
			// chain are removed; a stale chain of an old release (with the
			// jump into it) disappears.
			ns.Run(t, ipt, "-t", "nat", "-A", ChainSNAT, "-d", "192.0.2.0/24", "-j", "RETURN")
			ns.Run(t, ipt, "-t", "nat", "-A", "POSTROUTING", "-m", "comment", "--comment", CommentSNATChain, "-j", ChainSNAT)
			ns.Run(t, ipt, "-t", "nat", "-N", "AWS-SNAT-CHAIN-1")
			ns.Run(t, ipt, "-t", "nat", "-A", "AWS-SNAT-CHAIN-1", "-j", "RETURN")
			ns.Run(t, ipt, "-t", "nat", "-I", ChainSNAT, "1", "-j", "AWS-SNAT-CHAIN-1")
			apply(t, fw, baseConfig())
			wantGolden(t, fw, "desired-default")

			// New VPC CIDRs rewrite the chains.
			more := baseConfig()
			more.VPCCIDRs = pfx("10.2.0.0/16", "10.0.0.0/16", "2001:db8::/56", "10.2.0.0/16", "100.64.3.7/10")
			more.ExcludeCIDRs = pfx("192.168.9.9/32", "10.0.0.0/16", "172.16.0.0/12")
			apply(t, fw, more)
			wantGolden(t, fw, "desired-many-cidrs")

			// External SNAT removes SNAT and connmark, keeps NodePort.
			ext := baseConfig()
			ext.ExternalSNAT = true
			apply(t, fw, ext)
			wantGolden(t, fw, "desired-external-snat-nodeport")
			ext.NodePortSupport = false
			apply(t, fw, ext)
			wantGolden(t, fw, "desired-external-snat-no-nodeport")

			// Back on, then Teardown: nothing of ours is left, the
			// foreign rules are intact.
			apply(t, fw, baseConfig())
			wantGolden(t, fw, "desired-default")
			if err := fw.Teardown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := render(t, fw); got != "" {
				t.Fatalf("Render after Teardown = %q, want empty", got)
			}
			save := fullSave(t, ns, mode)
			if strings.Contains(save, "AWS") {
				t.Errorf("iptables-save still shows our rules after Teardown:\n%s", save)
			}
			for _, foreign := range []string{
				`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`,
				`-A POSTROUTING -o eth9 -j MASQUERADE`,
				`-A PREROUTING -i eth9 -j MARK --set-xmark 0x4000/0xffffffff`,
			} {
				if !strings.Contains(save, foreign+"\n") {
					t.Errorf("foreign rule %q was removed:\n%s", foreign, save)
				}
			}
			// Teardown twice is fine.
			if err := fw.Teardown(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustRead(t *testing.T, golden string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", golden+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The two flavours land in different kernel subsystems: iptables-nft rules
// are nf_tables objects that nft lists, legacy rules are invisible to it.
func TestRootRulesLandInTheirSubsystem(t *testing.T) {
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			fw, ns := newInNS(t, mode)
			fwtest.RequireBinary(t, "nft")
			apply(t, fw, baseConfig())
			nft := ns.Stdout(t, "nft", "list", "ruleset")
			inNFT := strings.Contains(nft, "chain "+ChainSNAT) && strings.Contains(nft, "chain "+ChainConnmark)
			other := map[Mode]Mode{Legacy: NFT, NFT: Legacy}[mode]
			fwtest.RequireBinary(t, string(other)+"-save")
			otherSave := ns.Stdout(t, string(other)+"-save")
			switch mode {
			case Legacy:
				if strings.Contains(nft, "AWS") {
					t.Errorf("legacy rules visible in nft list ruleset:\n%s", nft)
				}
			case NFT:
				if !inNFT {
					t.Errorf("iptables-nft rules missing from nft list ruleset:\n%s", nft)
				}
			}
			if strings.Contains(otherSave, "AWS") {
				t.Errorf("%s-save shows rules applied with %s:\n%s", other, mode, otherSave)
			}
		})
	}
}

// Teardown on a namespace where the legacy tables were never used must
// not instantiate them: otherwise iptables-nft starts warning about
// legacy tables and kube-proxy's detection counts them.
func TestRootTeardownDoesNotCreateLegacyTables(t *testing.T) {
	fw, ns := newInNS(t, Legacy)
	if err := fw.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := render(t, fw); got != "" {
		t.Fatalf("Render on a fresh namespace = %q", got)
	}
	if names := strings.TrimSpace(ns.Run(t, "cat", "/proc/net/ip_tables_names")); names != "" {
		t.Errorf("legacy tables created by Teardown/Render: %q", names)
	}
}

// A binary (or kernel) that refuses --random-fully: the backend notices on
// the first Apply and converges with --random, and remembers it.
func TestRootRandomFullyFallback(t *testing.T) {
	_, ns := newInNS(t, Legacy)
	real := fwtest.RequireBinary(t, "iptables-legacy")
	wrapper := filepath.Join(t.TempDir(), "iptables-legacy")
	script := "#!/bin/sh\nfor a in \"$@\"; do\n  if [ \"$a\" = --random-fully ]; then echo 'iptables: unknown option \"--random-fully\"' >&2; exit 2; fi\ndone\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	fw, err := New(Config{Mode: Legacy, Path: wrapper, NetNS: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	if !fw.RandomFully() {
		t.Fatal("iptables 1.8 should be assumed to support --random-fully before trying")
	}
	apply(t, fw, baseConfig())
	if fw.RandomFully() {
		t.Error("RandomFully() still true after the kernel refused it")
	}
	wantGolden(t, fw, "desired-default-no-random-fully")
	// Stays converged.
	before := fullSave(t, ns, Legacy)
	apply(t, fw, baseConfig())
	if after := fullSave(t, ns, Legacy); after != before {
		t.Fatalf("second Apply changed the tables\n--- before\n%s--- after\n%s", before, after)
	}
}

func TestNewRejectsWrongBinary(t *testing.T) {
	fwtest.RequireBinary(t, "iptables-legacy")
	fwtest.RequireBinary(t, "iptables-nft-save")
	legacy, _ := LookBinary("iptables-legacy")
	_, err := New(Config{Mode: NFT, Path: legacy})
	if !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("New(NFT, legacy binary): got %v, want ErrInvalidParameter", err)
	}
	if _, err := New(Config{Mode: "iptables-weird"}); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("New(unknown mode): got %v, want ErrInvalidParameter", err)
	}
	if _, err := New(Config{Mode: Legacy, Path: "/nonexistent/iptables"}); err == nil {
		t.Error("New with a missing binary succeeded")
	}
}

func TestApplyRejectsBadConfig(t *testing.T) {
	fwtest.RequireBinary(t, "iptables-nft")
	fwtest.RequireBinary(t, "iptables-nft-save")
	fw, err := New(Config{Mode: NFT})
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.RandomizeSNAT = "bogus"
	// Validation happens before anything is run, so this touches no
	// namespace at all.
	if err := fw.Apply(context.Background(), cfg); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("Apply(bad mode): got %v, want ErrInvalidParameter", err)
	}
}
