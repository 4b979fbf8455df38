package firewall

import (
	"errors"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestDecide(t *testing.T) {
	both := Evidence{LegacyPresent: true, NFTPresent: true}
	with := func(f func(*Evidence)) Evidence {
		e := both
		f(&e)
		return e
	}
	tests := []struct {
		name string
		e    Evidence
		want string
	}{
		{"kube-proxy nftables mode wins over everything", with(func(e *Evidence) {
			e.KubeProxyNFTables, e.LegacyRules, e.HintLegacy = true, 500, true
		}), BackendNFTables},
		{"no iptables at all", Evidence{}, BackendNFTables},
		{"only legacy installed", Evidence{LegacyPresent: true, NFTRules: 9}, BackendIptablesLegacy},
		{"only nft installed", Evidence{NFTPresent: true, LegacyRules: 9, SystemMode: "legacy"}, BackendIptablesNFT},
		{"hint in nft beats more legacy rules", with(func(e *Evidence) { e.HintNFT, e.LegacyRules = true, 40 }), BackendIptablesNFT},
		{"hint in legacy beats more nft rules", with(func(e *Evidence) { e.HintLegacy, e.NFTRules = true, 40 }), BackendIptablesLegacy},
		{"hints in both: count rules", with(func(e *Evidence) {
			e.HintLegacy, e.HintNFT, e.LegacyRules, e.NFTRules = true, true, 12, 3
		}), BackendIptablesLegacy},
		{"more legacy rules", with(func(e *Evidence) { e.LegacyRules, e.NFTRules = 3, 2 }), BackendIptablesLegacy},
		{"more nft rules", with(func(e *Evidence) { e.LegacyRules, e.NFTRules, e.SystemMode = 2, 3, "legacy" }), BackendIptablesNFT},
		{"tie, system legacy", with(func(e *Evidence) { e.SystemMode = "legacy" }), BackendIptablesLegacy},
		{"tie, system nf_tables", with(func(e *Evidence) { e.SystemMode = "nf_tables" }), BackendIptablesNFT},
		{"tie, no iptables command", both, BackendIptablesNFT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := Decide(tt.e)
			if got != tt.want {
				t.Errorf("Decide(%+v) = %s (%s), want %s", tt.e, got, reason, tt.want)
			}
			if reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestValidateBackend(t *testing.T) {
	for _, ok := range []string{"auto", "iptables-legacy", "iptables-nft", "nftables"} {
		if err := ValidateBackend(ok); err != nil {
			t.Errorf("ValidateBackend(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "iptables", "nft", "AUTO"} {
		if err := ValidateBackend(bad); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("ValidateBackend(%q) = %v, want ErrInvalidParameter", bad, err)
		}
	}
}
