//go:build !linux

package iptables

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpc-cni/vpc-cni/ports"
)

// Firewall is only functional on Linux.
type Firewall struct{ cfg Config }

// New fails: iptables exists only on Linux.
func New(cfg Config) (*Firewall, error) {
	return nil, fmt.Errorf("create %s backend: %w", cfg.withDefaults().Mode, errors.ErrUnsupported)
}

// LookBinary fails: iptables exists only on Linux.
func LookBinary(name string) (string, error) {
	return "", fmt.Errorf("find %s: %w", name, errors.ErrUnsupported)
}

func (f *Firewall) Apply(context.Context, ports.FirewallConfig) error { return errors.ErrUnsupported }
func (f *Firewall) Teardown(context.Context) error                    { return errors.ErrUnsupported }
func (f *Firewall) Render(context.Context) (string, error)            { return "", errors.ErrUnsupported }

// Save fails: iptables exists only on Linux.
func (f *Firewall) Save(context.Context) (Ruleset, error) { return nil, errors.ErrUnsupported }
