package netlink

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// validatePod checks what SetupPod and CheckPod need.
func validatePod(p ports.PodSpec) error {
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
	case !p.Addr.Is4():
		return bad(fmt.Sprintf("address %s is not IPv4", p.Addr))
	case p.RouteTable <= 0 || p.RouteTable == netstate.TableLocal || p.RouteTable == netstate.TableDefault:
		return bad(fmt.Sprintf("route table %d", p.RouteTable))
	case p.MTU < 0:
		return bad(fmt.Sprintf("MTU %d", p.MTU))
	}
	return nil
}

// podHandle opens a netlink socket inside the pod's namespace; it stays
// bound to that namespace whatever thread uses it later.
func podHandle(path string) (*nl.Handle, error) {
	var h *nl.Handle
	err := netns.Do(path, func() error {
		var err error
		h, err = nl.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// randomMAC returns a random unicast, locally administered MAC.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac, nil
}

// SetupPod wires a pod. See ports.PodNetwork.
//
// The veth pair is created from inside the pod's namespace with its peer
// placed directly in the node's, as upstream does: creating it on the node
// and moving one end would cost a namespace move, which waits for an RCU
// grace period in the kernel. When both ends already exist and are each
// other's peer (a retried ADD) the pair is kept and re-configured;
// otherwise leftovers under either name are deleted and the pair is made
// afresh.
func (d *Datapath) SetupPod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.PodResult{}, err
	}
	if err := validatePod(p); err != nil {
		return ports.PodResult{}, err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("wire pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	res, err := d.setupPod(ph, p)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("wire pod %s (%s, %s): %w", p.ContainerID, p.HostVeth, p.Addr, err)
	}
	return res, nil
}

func (d *Datapath) setupPod(ph *nl.Handle, p ports.PodSpec) (ports.PodResult, error) {
	hostLink, podLink, err := d.ensureVeth(ph, p)
	if err != nil {
		return ports.PodResult{}, err
	}
	hostMAC := hostLink.Attrs().HardwareAddr

	// Host end: IPv6 off before it comes up, then up.
	if err := d.hostVethSysctls(p.HostVeth); err != nil {
		return ports.PodResult{}, err
	}
	if hostLink.Attrs().Flags&net.FlagUp == 0 {
		if err := d.h.LinkSetUp(hostLink); err != nil {
			return ports.PodResult{}, fmt.Errorf("bring %s up: %w", p.HostVeth, kernelErr(err))
		}
	}

	// Pod end: up, the pod address as its only global address, routes
	// through the link-local gateway, and the gateway resolved statically
	// to the host end's MAC.
	if podLink.Attrs().Flags&net.FlagUp == 0 {
		if err := ph.LinkSetUp(podLink); err != nil {
			return ports.PodResult{}, fmt.Errorf("bring %s up in the pod: %w", p.IfName, kernelErr(err))
		}
	}
	want := netstate.HostPrefix(p.Addr)
	addrs, err := dump(d, "list pod addresses", func() ([]nl.Addr, error) { return ph.AddrList(podLink, nl.FAMILY_V4) })
	if err != nil {
		return ports.PodResult{}, err
	}
	have := false
	for _, a := range addrs {
		if a.Scope != int(nl.SCOPE_UNIVERSE) {
			continue
		}
		if ipPrefix(a.IPNet) == want {
			have = true
			continue
		}
		if err := ph.AddrDel(podLink, &a); err != nil && !isNotFound(err) {
			return ports.PodResult{}, fmt.Errorf("remove address %s in the pod: %w", a.IPNet, kernelErr(err))
		}
	}
	if !have {
		if err := ph.AddrAdd(podLink, &nl.Addr{IPNet: ipNet(want)}); err != nil && !isExist(err) {
			return ports.PodResult{}, fmt.Errorf("add address %s in the pod: %w", want, kernelErr(err))
		}
	}
	for _, r := range netstate.PodRoutes(p.IfName) {
		if err := ph.RouteReplace(routeFromState(r, podLink.Attrs().Index)); err != nil {
			return ports.PodResult{}, fmt.Errorf("replace route %q in the pod: %w", r.String(), kernelErr(err))
		}
	}
	neigh := &nl.Neigh{
		LinkIndex:    podLink.Attrs().Index,
		Family:       nl.FAMILY_V4,
		State:        unix.NUD_PERMANENT,
		IP:           net.IP(netstate.PodGateway.AsSlice()),
		HardwareAddr: hostMAC,
	}
	if err := ph.NeighSet(neigh); err != nil {
		return ports.PodResult{}, fmt.Errorf("set neighbour %s in the pod: %w", netstate.PodGateway, kernelErr(err))
	}

	// Node: the /32 route to the pod and its rules.
	hr := netstate.HostPodRoute(p)
	if err := d.h.RouteReplace(routeFromState(hr, hostLink.Attrs().Index)); err != nil {
		return ports.PodResult{}, fmt.Errorf("replace route %q: %w", hr.String(), kernelErr(err))
	}
	if err := d.syncRules(slog.LevelDebug, netstate.PodRuleSets(p.Addr, p.RouteTable, true)...); err != nil {
		return ports.PodResult{}, err
	}
	return ports.PodResult{
		HostVeth:     p.HostVeth,
		HostMAC:      hostMAC.String(),
		ContainerMAC: podLink.Attrs().HardwareAddr.String(),
	}, nil
}

// ensureVeth returns the two ends of the pod's veth pair, reusing a pair
// that is already there and recreating anything else.
func (d *Datapath) ensureVeth(ph *nl.Handle, p ports.PodSpec) (host, pod nl.Link, err error) {
	host, herr := d.h.LinkByName(p.HostVeth)
	if herr != nil && !isNotFound(herr) {
		return nil, nil, fmt.Errorf("look up %s: %w", p.HostVeth, kernelErr(herr))
	}
	pod, perr := ph.LinkByName(p.IfName)
	if perr != nil && !isNotFound(perr) {
		return nil, nil, fmt.Errorf("look up %s in the pod: %w", p.IfName, kernelErr(perr))
	}
	if host != nil && pod != nil && pairOf(host, pod) {
		if p.MTU > 0 {
			for _, end := range []struct {
				h    *nl.Handle
				link nl.Link
			}{{d.h, host}, {ph, pod}} {
				if end.link.Attrs().MTU != p.MTU {
					if err := end.h.LinkSetMTU(end.link, p.MTU); err != nil {
						return nil, nil, fmt.Errorf("set MTU %d on %s: %w", p.MTU, end.link.Attrs().Name, kernelErr(err))
					}
				}
			}
		}
		return host, pod, nil
	}

	// Leftovers of an earlier, partial attempt (or of another pod that had
	// the name): delete them, which also removes their peers.
	if host != nil {
		if !isVeth(host) {
			return nil, nil, fmt.Errorf("%w: host link %s exists and is not a veth", core.ErrDuplicate, p.HostVeth)
		}
		if err := d.h.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, fmt.Errorf("delete stale %s: %w", p.HostVeth, kernelErr(err))
		}
		d.changed(slog.LevelDebug, "delete stale veth", p.HostVeth)
	}
	if pod != nil {
		// Deleting the host end may have taken this one with it.
		if pod, perr = ph.LinkByName(p.IfName); perr == nil {
			if !isVeth(pod) {
				return nil, nil, fmt.Errorf("%w: pod interface %s exists and is not a veth", core.ErrDuplicate, p.IfName)
			}
			if err := ph.LinkDel(pod); err != nil && !isNotFound(err) {
				return nil, nil, fmt.Errorf("delete stale %s in the pod: %w", p.IfName, kernelErr(err))
			}
		}
	}

	mac, err := randomMAC()
	if err != nil {
		return nil, nil, fmt.Errorf("make a MAC for %s: %w", p.HostVeth, err)
	}
	attrs := nl.NewLinkAttrs()
	attrs.Name = p.IfName
	attrs.MTU = p.MTU
	veth := &nl.Veth{
		LinkAttrs:        attrs,
		PeerName:         p.HostVeth,
		PeerHardwareAddr: mac,
		PeerNamespace:    nl.NsFd(int(d.hostNs)),
	}
	if err := ph.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s (pod) / %s (node): %w", p.IfName, p.HostVeth, kernelErr(err))
	}
	if host, err = d.h.LinkByName(p.HostVeth); err != nil {
		return nil, nil, fmt.Errorf("look up new %s: %w", p.HostVeth, kernelErr(err))
	}
	if pod, err = ph.LinkByName(p.IfName); err != nil {
		return nil, nil, fmt.Errorf("look up new %s in the pod: %w", p.IfName, kernelErr(err))
	}
	return host, pod, nil
}

func isVeth(l nl.Link) bool { return l.Type() == "veth" }

// pairOf reports whether host (in the node's namespace) and pod (in the
// pod's) are the two ends of one veth pair: each names the other's index
// as its peer.
func pairOf(host, pod nl.Link) bool {
	return isVeth(host) && isVeth(pod) &&
		host.Attrs().ParentIndex == pod.Attrs().Index && pod.Attrs().ParentIndex == host.Attrs().Index
}

// hostVethSysctls keeps the host end out of IPv6 autoconfiguration and
// forwarding, when the kernel has IPv6 at all.
func (d *Datapath) hostVethSysctls(name string) error {
	dir := d.sysctlPath("net", "ipv6", "conf", name)
	return d.inHost(func() error {
		if _, err := os.Stat(dir); err != nil {
			return nil // no IPv6 on this node
		}
		for _, kv := range [][2]string{{"accept_ra", "0"}, {"accept_redirects", "1"}, {"forwarding", "0"}} {
			if _, err := writeSysctl(dir+"/"+kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// TeardownPod unwires a pod. See ports.PodNetwork. Anything already gone,
// including the pod's namespace, is fine.
//
// The host veth is deleted only when it is the peer of the interface in
// this pod's namespace: a DEL for an old sandbox that arrives after a new
// sandbox of the same pod took the same veth name must not cut the new one
// off. (A veth never outlives its peer, so when the old namespace is gone
// its veth is gone too.) The address's rules are removed in any case.
func (d *Datapath) TeardownPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var ph *nl.Handle
	if p.Netns != "" {
		h, err := podHandle(p.Netns)
		if err != nil {
			d.log.Debug("pod namespace not usable, its interfaces are gone", "netns", p.Netns, "error", err)
		} else {
			ph = h
			defer ph.Close()
		}
	}
	if err := d.teardownPod(ph, p); err != nil {
		return fmt.Errorf("unwire pod %s (%s, %s): %w", p.ContainerID, p.HostVeth, p.Addr, err)
	}
	return nil
}

func (d *Datapath) teardownPod(ph *nl.Handle, p ports.PodSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var pod nl.Link
	if ph != nil && p.IfName != "" {
		if l, err := ph.LinkByName(p.IfName); err == nil && isVeth(l) {
			pod = l
		}
	}
	if pod != nil {
		host, err := d.h.LinkByName(p.HostVeth)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("look up %s: %w", p.HostVeth, kernelErr(err))
		}
		if host != nil && !pairOf(host, pod) {
			host = nil // the pod's peer has another name: delete from the pod side
		}
		if host != nil && p.Addr.IsValid() {
			hr := netstate.HostPodRoute(p)
			if err := d.h.RouteDel(routeFromState(hr, host.Attrs().Index)); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete route %q: %w", hr.String(), kernelErr(err))
			}
		}
		// Deleting either end removes the pair and every route through it.
		if host != nil {
			err = d.h.LinkDel(host)
		} else {
			err = ph.LinkDel(pod)
		}
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("delete veth %s/%s: %w", p.IfName, p.HostVeth, kernelErr(err))
		}
	}
	if p.Addr.IsValid() {
		return d.syncRules(slog.LevelDebug, netstate.PodRuleSets(p.Addr, p.RouteTable, false)...)
	}
	return nil
}

// CheckPod verifies the pod's wiring on both sides. See ports.PodNetwork.
// The error wraps core.ErrNotFound and names everything that is missing.
func (d *Datapath) CheckPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validatePod(p); err != nil {
		return err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	pod, err := snapshot(ph, d.cfg.DumpAttempts)
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	d.mu.Lock()
	node, err := snapshot(d.h, d.cfg.DumpAttempts)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	if problems := netstate.CheckPod(node, pod, p); len(problems) > 0 {
		return fmt.Errorf("check pod %s: %w: %s", p.ContainerID, core.ErrNotFound, strings.Join(problems, "; "))
	}
	return nil
}

// RenderPod prints what the plugin wired inside the pod's namespace
// (netstate.PodView): its interface, routes and permanent neighbours.
func (d *Datapath) RenderPod(ctx context.Context, p ports.PodSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return "", fmt.Errorf("render pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	s, err := snapshot(ph, d.cfg.DumpAttempts)
	if err != nil {
		return "", fmt.Errorf("render pod %s: %w", p.ContainerID, err)
	}
	return netstate.PodView(s).Render(), nil
}
