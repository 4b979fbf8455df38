package ipamd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// datapathModule chooses the host datapath (--datapath).
var datapathModule = fx.Module("datapath", fx.Provide(newHostNetwork))

func newHostNetwork(lc fx.Lifecycle, o Options, env config.Env, log *slog.Logger) (ports.HostNetwork, error) {
	if o.HostNetwork != nil {
		return o.HostNetwork, nil
	}
	switch o.Datapath {
	case DatapathNetlink:
		d, err := netlink.New(netlink.Config{VethPrefix: env.VethPrefix, Logger: log.With("component", "netlink")})
		if err != nil {
			return nil, fmt.Errorf("--datapath=netlink: %w", err)
		}
		lc.Append(fx.Hook{OnStop: func(context.Context) error { return d.Close() }})
		return d, nil
	case DatapathMemory:
		n, err := datapathmem.New(datapathmem.Config{VethPrefix: env.VethPrefix})
		if err != nil {
			return nil, fmt.Errorf("--datapath=memory: %w", err)
		}
		return n, nil
	default:
		return nil, fmt.Errorf("--datapath=%q: want netlink or memory: %w", o.Datapath, core.ErrInvalidParameter)
	}
}

// memoryHypervisor plays EC2's part for the in-memory datapath: before the
// datapath looks for an ENI's link (by MAC), it makes sure a link with
// that MAC exists, named eth<device> like on an instance. A link left from
// an ENI that was since replaced at the same device is swapped.
type memoryHypervisor struct {
	net *datapathmem.Network

	mu    sync.Mutex
	links map[string]string // name → MAC this hypervisor created
}

func newMemoryHypervisor(n *datapathmem.Network) *memoryHypervisor {
	return &memoryHypervisor{net: n, links: map[string]string{}}
}

func (h *memoryHypervisor) ensure(e core.ENI) error {
	name := fmt.Sprintf("eth%d", e.DeviceNumber)
	if e.NetworkCard != 0 {
		name = fmt.Sprintf("eth%d-%d", e.NetworkCard, e.DeviceNumber)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if mac, ok := h.links[name]; ok {
		if mac == e.MAC {
			return nil
		}
		if err := h.net.DeleteLink(name); err != nil && !errors.Is(err, core.ErrNotFound) {
			return fmt.Errorf("replace link %s: %w", name, err)
		}
		delete(h.links, name)
	}
	l := datapathmem.Link{Name: name, MAC: e.MAC}
	if e.Primary && e.PrimaryIP.IsValid() && e.SubnetCIDR.IsValid() {
		// The primary interface comes up with its address, as at boot.
		l.Up = true
		l.Addrs = append(l.Addrs, netip.PrefixFrom(e.PrimaryIP, e.SubnetCIDR.Bits()))
	}
	if err := h.net.AddLink(l); err != nil && !errors.Is(err, core.ErrDuplicate) {
		return fmt.Errorf("create link %s for %s (MAC %s): %w", name, e.ID, e.MAC, err)
	}
	h.links[name] = e.MAC
	return nil
}
