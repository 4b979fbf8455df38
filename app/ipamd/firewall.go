package ipamd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	fwmemory "github.com/vpc-cni/vpc-cni/adapters/firewall/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// firewallModule chooses the SNAT/connmark backend (--firewall).
var firewallModule = fx.Module("firewall", fx.Provide(newFirewall))

// firewallDetectTimeout bounds backend detection (it runs the iptables
// binaries).
const firewallDetectTimeout = 30 * time.Second

func newFirewall(o Options, log *slog.Logger) (ports.Firewall, error) {
	if o.FirewallBackend != nil {
		return o.FirewallBackend, nil
	}
	switch o.Firewall {
	case FirewallMemory:
		return fwmemory.New(fwmemory.Config{})
	case FirewallAuto, FirewallIPTablesLegacy, FirewallIPTablesNFT, FirewallNFTables:
		ctx, cancel := context.WithTimeout(context.Background(), firewallDetectTimeout)
		defer cancel()
		fw, err := firewall.New(ctx, firewall.Config{Backend: o.Firewall, Logger: log.With("component", "firewall")})
		if err != nil {
			return nil, fmt.Errorf("--firewall=%s: %w", o.Firewall, err)
		}
		log.Info("firewall backend chosen", "flag", o.Firewall, "backend", fw.Name())
		return fw, nil
	default:
		return nil, fmt.Errorf("--firewall=%q: want auto, iptables-legacy, iptables-nft, nftables or memory: %w", o.Firewall, core.ErrInvalidParameter)
	}
}
