package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/nftables"
	"github.com/vpc-cni/vpc-cni/core"
)

// Evidence is what Detect looks at on the node.
type Evidence struct {
	// KubeProxyNFTables: a table named "kube-proxy" exists (ip or ip6
	// family), i.e. kube-proxy runs in nftables mode.
	KubeProxyNFTables bool
	// LegacyPresent / NFTPresent: the iptables-legacy(-save) and
	// iptables-nft(-save) binaries exist.
	LegacyPresent, NFTPresent bool
	// HintLegacy / HintNFT: kubelet's KUBE-IPTABLES-HINT or
	// KUBE-KUBELET-CANARY chain exists in that flavour's tables.
	HintLegacy, HintNFT bool
	// LegacyRules / NFTRules count the rules in each flavour that are not
	// ours.
	LegacyRules, NFTRules int
	// SystemMode is what plain "iptables --version" reports: "legacy",
	// "nf_tables" or "" when there is no iptables command.
	SystemMode string
}

// Decide picks the backend for the evidence and says why. In order:
//
//  1. kube-proxy in nftables mode: "nftables" (our own table with explicit
//     priorities is the only way to order against kube-proxy's table).
//  2. Neither iptables flavour installed: "nftables" (needs no binary);
//     only one installed: that one.
//  3. kubelet's hint chain in exactly one flavour: that flavour.
//  4. More foreign rules in one flavour: that flavour (the iptables
//     wrapper kube-proxy images use decides the same way).
//  5. A tie, typically a fresh node with no rules anywhere: the mode of
//     the system's "iptables" command, and iptables-nft when that is not
//     legacy (the default of every current distribution).
func Decide(e Evidence) (backend, reason string) {
	switch {
	case e.KubeProxyNFTables:
		return BackendNFTables, "kube-proxy runs in nftables mode (table kube-proxy exists)"
	case !e.LegacyPresent && !e.NFTPresent:
		return BackendNFTables, "no iptables binary installed"
	case !e.LegacyPresent:
		return BackendIptablesNFT, "iptables-legacy not installed"
	case !e.NFTPresent:
		return BackendIptablesLegacy, "iptables-nft not installed"
	case e.HintNFT && !e.HintLegacy:
		return BackendIptablesNFT, "kubelet hint chain found in iptables-nft"
	case e.HintLegacy && !e.HintNFT:
		return BackendIptablesLegacy, "kubelet hint chain found in iptables-legacy"
	case e.LegacyRules > e.NFTRules:
		return BackendIptablesLegacy, fmt.Sprintf("iptables-legacy holds more rules (%d > %d)", e.LegacyRules, e.NFTRules)
	case e.NFTRules > e.LegacyRules:
		return BackendIptablesNFT, fmt.Sprintf("iptables-nft holds more rules (%d > %d)", e.NFTRules, e.LegacyRules)
	case e.SystemMode == "legacy":
		return BackendIptablesLegacy, fmt.Sprintf("tie at %d rules; system iptables is legacy", e.NFTRules)
	}
	return BackendIptablesNFT, fmt.Sprintf("tie at %d rules; system iptables is %q", e.NFTRules, e.SystemMode)
}

// hintChains are created by kubelet in the flavour the node uses.
var hintChains = []string{"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"}

// Gather collects the Evidence in cfg.NetNS. Reading never creates
// anything: iptables-save is run without naming a table, so a legacy
// table that does not exist stays absent.
func Gather(ctx context.Context, cfg Config) (Evidence, error) {
	cfg = cfg.withDefaults()
	var e Evidence
	for _, family := range []string{"ip", "ip6"} {
		has, err := nftables.HasTable(cfg.NetNS, family, "kube-proxy")
		if err != nil {
			return e, fmt.Errorf("detect firewall backend: %w", err)
		}
		e.KubeProxyNFTables = e.KubeProxyNFTables || has
	}
	for _, mode := range []iptables.Mode{iptables.Legacy, iptables.NFT} {
		fw, err := iptables.New(cfg.iptablesConfig(mode))
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			return e, fmt.Errorf("detect firewall backend: %w", err)
		}
		full, err := fw.Save(ctx)
		if err != nil {
			return e, fmt.Errorf("detect firewall backend: %w", err)
		}
		total, owned := count(full), count(iptables.Owned(full))
		hint := false
		for _, chains := range full {
			for _, h := range hintChains {
				if _, ok := chains[h]; ok {
					hint = true
				}
			}
		}
		switch mode {
		case iptables.Legacy:
			e.LegacyPresent, e.LegacyRules, e.HintLegacy = true, total-owned, hint
		case iptables.NFT:
			e.NFTPresent, e.NFTRules, e.HintNFT = true, total-owned, hint
		}
	}
	if path, err := iptables.LookBinary("iptables"); err == nil {
		out, _ := exec.CommandContext(ctx, path, "--version").Output()
		switch {
		case bytes.Contains(out, []byte("(legacy)")):
			e.SystemMode = "legacy"
		case bytes.Contains(out, []byte("(nf_tables)")):
			e.SystemMode = "nf_tables"
		}
	}
	return e, nil
}

func count(rs iptables.Ruleset) int {
	n := 0
	for _, chains := range rs {
		for _, rules := range chains {
			n += len(rules)
		}
	}
	return n
}

// Detect returns the backend the node already uses (see Decide), or
// cfg.Backend when that is not "auto".
func Detect(ctx context.Context, cfg Config) (string, error) {
	cfg = cfg.withDefaults()
	if cfg.Backend != BackendAuto {
		if err := ValidateBackend(cfg.Backend); err != nil {
			return "", err
		}
		return cfg.Backend, nil
	}
	e, err := Gather(ctx, cfg)
	if err != nil {
		return "", err
	}
	backend, reason := Decide(e)
	cfg.Logger.Info("detected firewall backend", "backend", backend, "reason", reason,
		"legacy_rules", e.LegacyRules, "nft_rules", e.NFTRules)
	return backend, nil
}
