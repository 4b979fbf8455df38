package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/spec"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/nftables"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Config configures the fake.
type Config struct {
	// Backend is whose rules (and text) to simulate: "iptables-legacy",
	// "iptables-nft" (default) or "nftables".
	Backend string
	// NoRandomFully simulates an iptables/kernel without --random-fully,
	// so prng falls back to --random as on such a node.
	NoRandomFully bool
}

// Firewall holds the rules of one simulated backend.
type Firewall struct {
	cfg Config

	mu       sync.Mutex
	rendered string
	last     *ports.FirewallConfig
	applies  int
	failNext error
}

var _ ports.Firewall = (*Firewall)(nil)

// New returns an empty firewall.
func New(cfg Config) (*Firewall, error) {
	if cfg.Backend == "" {
		cfg.Backend = string(iptables.NFT)
	}
	switch cfg.Backend {
	case string(iptables.Legacy), string(iptables.NFT), nftables.BackendName:
	default:
		return nil, fmt.Errorf("create memory firewall: unknown backend %q: %w", cfg.Backend, core.ErrInvalidParameter)
	}
	return &Firewall{cfg: cfg}, nil
}

// Name returns the simulated backend's name.
func (f *Firewall) Name() string { return f.cfg.Backend }

// Apply validates cfg and replaces the held rules with the ones the
// simulated backend would install.
func (f *Firewall) Apply(_ context.Context, cfg ports.FirewallConfig) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return fmt.Errorf("apply %s rules: %w", f.cfg.Backend, err)
	}
	s, err := spec.Normalize(cfg)
	if err != nil {
		return fmt.Errorf("apply %s rules: %w", f.cfg.Backend, err)
	}
	if f.cfg.Backend == nftables.BackendName {
		f.rendered = nftables.Render(nftables.Desired(s))
	} else {
		f.rendered = iptables.Desired(s, !f.cfg.NoRandomFully).Render()
	}
	f.last = &cfg
	f.applies++
	return nil
}

// Teardown forgets every rule.
func (f *Firewall) Teardown(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.takeFailure(); err != nil {
		return fmt.Errorf("tear down %s rules: %w", f.cfg.Backend, err)
	}
	f.rendered, f.last = "", nil
	return nil
}

// Render returns the held rules in the simulated backend's text.
func (f *Firewall) Render(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rendered, nil
}

// LastApplied returns the config of the last successful Apply since the
// last Teardown.
func (f *Firewall) LastApplied() (ports.FirewallConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		return ports.FirewallConfig{}, false
	}
	return *f.last, true
}

// Applies counts successful Apply calls.
func (f *Firewall) Applies() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies
}

// Tamper replaces the held rules, as if another program had edited the
// kernel's tables; the next Apply restores them.
func (f *Firewall) Tamper(rendered string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rendered = rendered
}

// FailNext makes the next Apply or Teardown fail with err (wrapped) and
// change nothing.
func (f *Firewall) FailNext(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = err
}

func (f *Firewall) takeFailure() error {
	err := f.failNext
	f.failNext = nil
	return err
}
