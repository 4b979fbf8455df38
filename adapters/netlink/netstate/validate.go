package netstate

import (
	"fmt"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// ValidatePodLinks checks what preparing a pod's veth pair needs: everything
// but the address and the route table. Both datapath adapters use it, so
// they refuse exactly the same specs.
func ValidatePodLinks(p ports.PodSpec) error {
	bad := func(why string) error {
		return fmt.Errorf("wire pod %s: %w: %s", p.ContainerID, core.ErrInvalidParameter, why)
	}
	switch {
	case p.Netns == "":
		return bad("no network namespace")
	case p.IfName == "" || len(p.IfName) > 15:
		return bad(fmt.Sprintf("interface name %q", p.IfName))
	case p.HostVeth == "" || len(p.HostVeth) > 15:
		return bad(fmt.Sprintf("host veth name %q", p.HostVeth))
	case p.MTU < 0:
		return bad(fmt.Sprintf("MTU %d", p.MTU))
	}
	return nil
}

// ValidatePod checks what wiring and checking a pod need: the links, an
// IPv4 address and a usable route table.
func ValidatePod(p ports.PodSpec) error {
	if err := ValidatePodLinks(p); err != nil {
		return err
	}
	bad := func(why string) error {
		return fmt.Errorf("wire pod %s: %w: %s", p.ContainerID, core.ErrInvalidParameter, why)
	}
	switch {
	case !p.Addr.Is4():
		return bad(fmt.Sprintf("address %s is not IPv4", p.Addr))
	case p.RouteTable <= 0 || p.RouteTable == TableLocal || p.RouteTable == TableDefault:
		return bad(fmt.Sprintf("route table %d", p.RouteTable))
	}
	return nil
}

// ValidatePodRoute checks one entry of a pod-rule repair (SyncPodRules).
func ValidatePodRoute(p ports.PodRoute) error {
	bad := func(why string) error {
		return fmt.Errorf("repair pod %s (%s): %w: %s", p.Addr, p.HostVeth, core.ErrInvalidParameter, why)
	}
	switch {
	case !p.Addr.Is4():
		return bad("address is not IPv4")
	case p.HostVeth == "" || len(p.HostVeth) > 15:
		return bad(fmt.Sprintf("host veth name %q", p.HostVeth))
	case p.RouteTable <= 0 || p.RouteTable == TableLocal || p.RouteTable == TableDefault:
		return bad(fmt.Sprintf("route table %d", p.RouteTable))
	}
	return nil
}
