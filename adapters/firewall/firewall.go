package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/nftables"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Backend names, as accepted by --firewall.
const (
	BackendAuto           = "auto"
	BackendIptablesLegacy = string(iptables.Legacy)
	BackendIptablesNFT    = string(iptables.NFT)
	BackendNFTables       = nftables.BackendName
)

// Backends lists every concrete backend, in the order TeardownAll visits
// them.
var Backends = []string{BackendIptablesLegacy, BackendIptablesNFT, BackendNFTables}

// ValidateBackend checks a --firewall value ("auto" or a concrete backend).
func ValidateBackend(b string) error {
	if b == BackendAuto || slices.Contains(Backends, b) {
		return nil
	}
	return fmt.Errorf("check firewall backend %q: want auto, iptables-legacy, iptables-nft or nftables: %w", b, core.ErrInvalidParameter)
}

// Config chooses and configures the backend.
type Config struct {
	// Backend is "auto" (default: Detect), "iptables-legacy",
	// "iptables-nft" or "nftables".
	Backend string
	// NetNS is the network namespace to program (a path such as
	// /run/netns/NAME); empty means the caller's namespace.
	NetNS string
	// Binary paths; empty means looked up by name (see iptables.Config).
	LegacyPath, LegacySavePath, NFTPath, NFTSavePath string
	// LockTimeout bounds the wait for the xtables lock. Default 30s.
	LockTimeout time.Duration
	// KeepOthers disables the one-time removal of rules that the other
	// backends own (left by an earlier run with another backend, or by
	// upstream) after the first successful Apply.
	KeepOthers bool
	Logger     *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Backend == "" {
		c.Backend = BackendAuto
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) iptablesConfig(mode iptables.Mode) iptables.Config {
	ic := iptables.Config{Mode: mode, NetNS: c.NetNS, LockTimeout: c.LockTimeout, Logger: c.Logger}
	if mode == iptables.Legacy {
		ic.Path, ic.SavePath = c.LegacyPath, c.LegacySavePath
	} else {
		ic.Path, ic.SavePath = c.NFTPath, c.NFTSavePath
	}
	return ic
}

// newBackend builds one concrete backend.
func newBackend(cfg Config, backend string) (ports.Firewall, error) {
	switch backend {
	case BackendIptablesLegacy:
		return iptables.New(cfg.iptablesConfig(iptables.Legacy))
	case BackendIptablesNFT:
		return iptables.New(cfg.iptablesConfig(iptables.NFT))
	case BackendNFTables:
		return nftables.New(nftables.Config{NetNS: cfg.NetNS, Logger: cfg.Logger})
	}
	return nil, ValidateBackend(backend)
}

// New resolves cfg.Backend ("auto" runs Detect) and returns that backend.
// Unless cfg.KeepOthers is set, the first successful Apply is followed by
// a Teardown of every other backend, so a node that changed backend (or
// comes from upstream, which mixes iptables and nftables) does not keep
// stale rules in the other subsystem; that sweep is retried on later
// Applies until it succeeds.
func New(ctx context.Context, cfg Config) (ports.Firewall, error) {
	cfg = cfg.withDefaults()
	backend, err := Detect(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create firewall: %w", err)
	}
	fw, err := newBackend(cfg, backend)
	if err != nil {
		return nil, fmt.Errorf("create firewall: %w", err)
	}
	if cfg.KeepOthers {
		return fw, nil
	}
	return &sweeping{Firewall: fw, cfg: cfg}, nil
}

var _ ports.Firewall = (*sweeping)(nil)

// sweeping removes the other backends' rules once, after the first
// successful Apply.
type sweeping struct {
	ports.Firewall
	cfg Config

	mu    sync.Mutex
	swept bool
}

func (s *sweeping) Apply(ctx context.Context, cfg ports.FirewallConfig) error {
	if err := s.Firewall.Apply(ctx, cfg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.swept {
		return nil
	}
	if err := teardown(ctx, s.cfg, s.Name()); err != nil {
		// Not fatal for this backend's rules; try again next time.
		s.cfg.Logger.Warn("remove rules of other firewall backends", "backend", s.Name(), "error", err)
		return nil
	}
	s.swept = true
	return nil
}

// TeardownAll removes what every backend owns (installed binaries only;
// the nftables backend needs none). It is what an uninstall runs, and
// what tests use to prove nothing is left behind.
func TeardownAll(ctx context.Context, cfg Config) error {
	return teardown(ctx, cfg.withDefaults(), "")
}

func teardown(ctx context.Context, cfg Config, except string) error {
	var errs []error
	for _, b := range Backends {
		if b == except {
			continue
		}
		fw, err := newBackend(cfg, b)
		if errors.Is(err, core.ErrNotFound) {
			continue // that iptables flavour is not installed
		}
		if err == nil {
			err = fw.Teardown(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("tear down %s: %w", b, err))
		}
	}
	return errors.Join(errs...)
}
