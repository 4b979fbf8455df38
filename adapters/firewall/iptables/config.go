package iptables

import (
	"log/slog"
	"time"

	"github.com/vpc-cni/vpc-cni/ports"
)

// Mode is the kernel subsystem the iptables binary drives.
type Mode string

const (
	// Legacy drives the x_tables kernel tables (iptables-legacy).
	Legacy Mode = "iptables-legacy"
	// NFT drives nf_tables through the iptables compatibility layer
	// (iptables-nft); the rules show up in "nft list ruleset".
	NFT Mode = "iptables-nft"
)

// Config configures one iptables backend.
type Config struct {
	// Mode selects iptables-legacy or iptables-nft. Default NFT.
	Mode Mode
	// Path is the iptables binary; default the binary named after Mode,
	// looked up in PATH, /usr/sbin and /sbin. Its "--version" must report
	// the same mode ("legacy" or "nf_tables").
	Path string
	// SavePath is the matching iptables-save; default "<Mode>-save" looked
	// up the same way.
	SavePath string
	// NetNS is the network namespace to program (a path such as
	// /run/netns/NAME); empty means the caller's namespace.
	NetNS string
	// LockTimeout bounds the wait for the xtables lock held by other
	// iptables users (kube-proxy). Default 30s.
	LockTimeout time.Duration
	Logger      *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = NFT
	}
	if c.LockTimeout <= 0 {
		c.LockTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

var _ ports.Firewall = (*Firewall)(nil)

// Name returns the backend name, "iptables-legacy" or "iptables-nft".
func (f *Firewall) Name() string { return string(f.cfg.Mode) }
