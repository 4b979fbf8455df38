//go:build !linux

package nftables

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpc-cni/vpc-cni/ports"
)

// Firewall is only functional on Linux.
type Firewall struct{ cfg Config }

// New fails: nf_tables exists only on Linux.
func New(cfg Config) (*Firewall, error) {
	return nil, fmt.Errorf("create nftables backend: %w", errors.ErrUnsupported)
}

// HasTable fails: nf_tables exists only on Linux.
func HasTable(netns, family, name string) (bool, error) { return false, errors.ErrUnsupported }

func (f *Firewall) Apply(context.Context, ports.FirewallConfig) error { return errors.ErrUnsupported }
func (f *Firewall) Teardown(context.Context) error                    { return errors.ErrUnsupported }
func (f *Firewall) Render(context.Context) (string, error)            { return "", errors.ErrUnsupported }
