//go:build !linux

package netlink

import (
	"context"
	"errors"

	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	_ ports.HostNetwork = (*Datapath)(nil)
	_ ports.PodNetwork  = (*Datapath)(nil)
)

// ErrUnsupported: the netlink datapath needs Linux.
var ErrUnsupported = errors.New("netlink datapath needs Linux")

// Datapath is only functional on Linux.
type Datapath struct{}

// New fails off Linux.
func New(cfg Config) (*Datapath, error) { return nil, ErrUnsupported }

// Close does nothing.
func (d *Datapath) Close() error { return nil }

// PrimaryInterface is empty off Linux.
func (d *Datapath) PrimaryInterface() string { return "" }

// SetupHost fails off Linux.
func (d *Datapath) SetupHost(context.Context, ports.HostConfig) error { return ErrUnsupported }

// SetupENI fails off Linux.
func (d *Datapath) SetupENI(context.Context, ports.ENINetwork) error { return ErrUnsupported }

// TeardownENI fails off Linux.
func (d *Datapath) TeardownENI(context.Context, ports.ENINetwork) error { return ErrUnsupported }

// HostVeths fails off Linux.
func (d *Datapath) HostVeths(context.Context) (map[string]bool, error) { return nil, ErrUnsupported }

// SyncPodRules fails off Linux.
func (d *Datapath) SyncPodRules(context.Context, []ports.PodRoute) error { return ErrUnsupported }

// Render fails off Linux.
func (d *Datapath) Render(context.Context) (string, error) { return "", ErrUnsupported }

// PreparePod fails off Linux.
func (d *Datapath) PreparePod(context.Context, ports.PodSpec) (ports.PodResult, error) {
	return ports.PodResult{}, ErrUnsupported
}

// SetupPod fails off Linux.
func (d *Datapath) SetupPod(context.Context, ports.PodSpec) (ports.PodResult, error) {
	return ports.PodResult{}, ErrUnsupported
}

// TeardownPod fails off Linux.
func (d *Datapath) TeardownPod(context.Context, ports.PodSpec) error { return ErrUnsupported }

// CheckPod fails off Linux.
func (d *Datapath) CheckPod(context.Context, ports.PodSpec) error { return ErrUnsupported }

// RenderPod fails off Linux.
func (d *Datapath) RenderPod(context.Context, ports.PodSpec) (string, error) {
	return "", ErrUnsupported
}
