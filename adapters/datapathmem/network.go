package datapathmem

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	_ ports.HostNetwork = (*Network)(nil)
	_ ports.PodNetwork  = (*Network)(nil)
)

// DefaultMTU is the MTU of a link created without one, as in the kernel.
const DefaultMTU = 1500

// Link describes one of the node's own interfaces (eth0, an ENI's ethN).
type Link struct {
	Name string
	MAC  string
	// MTU 0 means DefaultMTU.
	MTU   int
	Up    bool
	Addrs []netip.Prefix
}

// Config configures a Network.
type Config struct {
	// VethPrefix names pod host veths; Render shows links with it. Empty
	// means "eni".
	VethPrefix string
	// Links are the node's interfaces at start.
	Links []Link
}

// Network is one simulated node: its own namespace and those of its pods.
// It is safe for concurrent use.
type Network struct {
	mu         sync.Mutex
	vethPrefix string
	node       *space
	pods       map[string]*space
	deleted    map[string]bool
	faults     map[string][]error

	primary  string
	nodePort bool
	sysctls  map[string]string
	enis     map[int]string // route table → link name, for Render
}

// New returns a node with cfg.Links.
func New(cfg Config) (*Network, error) {
	n := &Network{
		vethPrefix: cfg.VethPrefix,
		node:       &space{},
		pods:       map[string]*space{},
		deleted:    map[string]bool{},
		faults:     map[string][]error{},
		sysctls:    map[string]string{},
		enis:       map[int]string{},
	}
	if n.vethPrefix == "" {
		n.vethPrefix = "eni"
	}
	for _, l := range cfg.Links {
		if err := n.AddLink(l); err != nil {
			return nil, fmt.Errorf("configure memory datapath: %w", err)
		}
	}
	return n, nil
}

// AddLink adds one of the node's interfaces, as when an ENI's device
// appears after attachment. Its addresses get their subnet routes in main
// when it is up, as in the kernel.
func (n *Network) AddLink(l Link) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l.Name == "" {
		return fmt.Errorf("add link: %w: no name", core.ErrInvalidParameter)
	}
	if n.node.link(l.Name) != nil {
		return fmt.Errorf("add link %s: %w", l.Name, core.ErrDuplicate)
	}
	mac, err := net.ParseMAC(l.MAC)
	if err != nil {
		return fmt.Errorf("add link %s: %w: MAC %q", l.Name, core.ErrInvalidParameter, l.MAC)
	}
	k := &link{name: l.Name, mac: mac.String(), mtu: l.MTU}
	if k.mtu == 0 {
		k.mtu = DefaultMTU
	}
	n.node.links = append(n.node.links, k)
	for _, a := range l.Addrs {
		n.node.addAddr(k, a)
	}
	if l.Up {
		n.node.setUp(k)
	}
	return nil
}

// DeleteLink removes one of the node's links (an ENI detached), with every
// route through it.
func (n *Network) DeleteLink(name string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.node.link(name)
	if l == nil {
		return fmt.Errorf("delete link %s: %w", name, core.ErrNotFound)
	}
	n.node.delLink(l)
	return nil
}

// DeleteNetns destroys a pod's namespace, as the runtime does when a
// sandbox goes: its links go and, with them, the host ends of their veths
// and the routes through them. Policy rules on the node stay. Later
// SetupPod calls for the path fail as for a missing namespace.
func (n *Network) DeleteNetns(path string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.pods[path]; ok {
		for _, l := range slices.Clone(s.links) {
			s.delLink(l)
		}
		delete(n.pods, path)
	}
	n.deleted[path] = true
}

// DeleteRule removes the first node rule that renders as line (with or
// without the leading "rule "), as `ip rule del` would. It reports whether
// one was found.
func (n *Network) DeleteRule(line string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	line = strings.TrimPrefix(strings.TrimSpace(line), "rule ")
	for i, r := range n.node.rules {
		if r.String() == line {
			n.node.delRuleAt(i)
			return true
		}
	}
	return false
}

// DeleteRoute removes the first node route that renders as line (with or
// without the leading "route ").
func (n *Network) DeleteRoute(line string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	line = strings.TrimPrefix(strings.TrimSpace(line), "route ")
	for i, r := range n.node.routes {
		if r.String() == line {
			n.node.routes = slices.Delete(n.node.routes, i, i+1)
			return true
		}
	}
	return false
}

// FlushRules removes every node rule at the priorities vpc-cni uses, as a
// network manager that owns the rule list might (upstream issue #3309).
func (n *Network) FlushRules() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.node.rules = slices.DeleteFunc(n.node.rules, func(r netstate.Rule) bool {
		return slices.Contains(netstate.OwnedPriorities, r.Priority)
	})
}

// InjectError makes the next call of method ("SetupHost", "SetupENI",
// "TeardownENI", "HostVeths", "SyncPodRules", "PreparePod", "SetupPod",
// "TeardownPod", "CheckPod") return err without changing anything. Several injections for one method apply in order.
func (n *Network) InjectError(method string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults[method] = append(n.faults[method], err)
}

func (n *Network) fault(method string) error {
	q := n.faults[method]
	if len(q) == 0 {
		return nil
	}
	n.faults[method] = q[1:]
	return q[0]
}

// syncRules applies the rule sets to the node, as adapters/netlink does.
func (n *Network) syncRules(sets ...netstate.RuleSet) {
	for _, set := range sets {
		del, add := netstate.PlanRules(n.node.rules, set)
		for j := len(del) - 1; j >= 0; j-- {
			n.node.delRuleAt(del[j])
		}
		for _, r := range add {
			n.node.addRule(r)
		}
	}
}

// ---- HostNetwork ----------------------------------------------------------

// SetupHost applies the node-wide settings. See ports.HostNetwork.
func (n *Network) SetupHost(ctx context.Context, cfg ports.HostConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("SetupHost"); err != nil {
		return err
	}
	if cfg.ConnmarkRule && cfg.Mark == 0 {
		return fmt.Errorf("set up host: %w: connmark rule without a mark", core.ErrInvalidParameter)
	}
	for _, c := range cfg.ExternalServiceCIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			return fmt.Errorf("set up host: %w: external service CIDR %s is not IPv4", core.ErrInvalidParameter, c)
		}
	}
	var l *link
	if cfg.PrimaryInterface != "" {
		if l = n.node.link(cfg.PrimaryInterface); l == nil {
			return fmt.Errorf("find primary interface %s: %w", cfg.PrimaryInterface, core.ErrNotFound)
		}
	} else if l = n.node.linkByMAC(cfg.PrimaryMAC); l == nil {
		return fmt.Errorf("find primary interface: %w: no link has MAC %s", core.ErrNotFound, cfg.PrimaryMAC)
	}
	n.primary = l.name
	if cfg.MTU > 0 {
		l.mtu = cfg.MTU
	}
	n.syncRules(netstate.ConnmarkRuleSet(cfg.ConnmarkRule, cfg.Mark), netstate.ExternalServiceRuleSet(cfg.ExternalServiceCIDRs))
	if cfg.NodePortSupport {
		n.sysctls["net.ipv4.conf."+l.name+".rp_filter"] = "2"
	}
	n.nodePort = cfg.NodePortSupport
	return nil
}

// PrimaryInterface returns the link SetupHost last found carrying the
// primary ENI. See ports.HostNetwork.
func (n *Network) PrimaryInterface() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.primary
}

func validateENI(eni ports.ENINetwork) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("set up ENI %s: %w: %s", eni.ID, core.ErrInvalidParameter, fmt.Sprintf(format, args...))
	}
	if _, err := net.ParseMAC(eni.MAC); err != nil {
		return bad("MAC %q: %v", eni.MAC, err)
	}
	switch eni.RouteTable {
	case netstate.TableUnspec, netstate.TableDefault, netstate.TableMain, netstate.TableLocal:
		return bad("route table %d is reserved (the primary ENI needs no SetupENI)", eni.RouteTable)
	}
	if eni.RouteTable < 0 {
		return bad("route table %d", eni.RouteTable)
	}
	if !eni.PrimaryIP.Is4() || !eni.SubnetCIDR.IsValid() || !eni.SubnetCIDR.Contains(eni.PrimaryIP) {
		return bad("primary IP %s not an IPv4 address in subnet %s", eni.PrimaryIP, eni.SubnetCIDR)
	}
	return nil
}

// SetupENI wires one secondary ENI. See ports.HostNetwork. The link must
// already exist (AddLink); the model does not wait for it.
func (n *Network) SetupENI(ctx context.Context, eni ports.ENINetwork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateENI(eni); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("SetupENI"); err != nil {
		return err
	}
	mac, _ := net.ParseMAC(eni.MAC)
	l := n.node.linkByMAC(mac.String())
	if l == nil {
		return fmt.Errorf("set up ENI %s: find link with MAC %s: %w", eni.ID, mac, core.ErrNotFound)
	}
	n.enis[eni.RouteTable] = l.name
	if eni.MTU > 0 {
		l.mtu = eni.MTU
	}
	n.node.setUp(l)
	want := netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits())
	for _, a := range slices.Clone(l.addrs) {
		if a != want {
			n.node.delAddr(l, a)
		}
	}
	n.node.addAddr(l, want)

	desired := netstate.ENIRoutes(eni, l.name)
	for _, r := range desired {
		n.node.replaceRoute(r)
	}
	subnet := eni.SubnetCIDR.Masked()
	n.node.routes = slices.DeleteFunc(n.node.routes, func(r netstate.Route) bool {
		if r.Table == eni.RouteTable {
			return !slices.ContainsFunc(desired, func(w netstate.Route) bool { return netstate.SameRoute(r, w) })
		}
		return r.Table == netstate.TableMain && r.Dev == l.name && r.Dst == subnet
	})
	n.syncRules(netstate.ENIRuleSet(eni.PrimaryIP, eni.RouteTable, true))
	return nil
}

// TeardownENI removes the ENI's table and rule. See ports.HostNetwork.
func (n *Network) TeardownENI(ctx context.Context, eni ports.ENINetwork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateENI(eni); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("TeardownENI"); err != nil {
		return err
	}
	delete(n.enis, eni.RouteTable)
	n.node.routes = slices.DeleteFunc(n.node.routes, func(r netstate.Route) bool { return r.Table == eni.RouteTable })
	n.syncRules(netstate.ENIRuleSet(eni.PrimaryIP, eni.RouteTable, false))
	return nil
}

// HostVeths lists the node's veths named as pods' host veths are, with
// any prefix, as adapters/netlink does. See ports.HostNetwork.
func (n *Network) HostVeths(ctx context.Context) (map[string]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("HostVeths"); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, l := range n.node.links {
		if _, ok := netstate.PodVethSuffix(l.name); ok && l.veth {
			out[l.name] = true
		}
	}
	return out, nil
}

// SyncPodRules adds the missing rules and host routes of wired pods, as
// adapters/netlink does. See ports.HostNetwork.
func (n *Network) SyncPodRules(ctx context.Context, pods []ports.PodRoute) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("SyncPodRules"); err != nil {
		return err
	}
	var errs []error
	for _, p := range pods {
		if err := netstate.ValidatePodRoute(p); err != nil {
			errs = append(errs, err)
			continue
		}
		if l := n.node.link(p.HostVeth); l == nil || !l.up {
			continue // mid-ADD or mid-DEL: the plugin finishes it
		}
		for _, set := range netstate.PodRuleSets(p.Addr, p.RouteTable, true) {
			for _, w := range set.Want {
				n.node.addRule(w)
			}
		}
		hr := netstate.HostPodRoute(ports.PodSpec{Addr: p.Addr, HostVeth: p.HostVeth})
		if !slices.ContainsFunc(n.node.routes, func(r netstate.Route) bool { return r.Table == hr.Table && r.Dst == hr.Dst }) {
			n.node.routes = append(n.node.routes, hr)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("repair pod rules: %w", errors.Join(errs...))
	}
	return nil
}

// Render prints the node as adapters/netlink does.
func (n *Network) Render(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.node.snapshot()
	if n.nodePort && n.primary != "" {
		key := "net.ipv4.conf." + n.primary + ".rp_filter"
		v, ok := n.sysctls[key]
		if !ok || n.node.link(n.primary) == nil {
			v = "missing"
		}
		s.Sysctls = append(s.Sysctls, netstate.Sysctl{Key: key, Value: v})
	}
	return netstate.NodeView(s, netstate.NodeOptions{Primary: n.primary, VethPrefix: n.vethPrefix, ENIs: n.enis}).Render(), nil
}

// ---- PodNetwork -----------------------------------------------------------

func randomMAC() string {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac.String()
}

// podSpace returns the pod's namespace, creating it (empty) on first use:
// any path is taken to be a namespace the runtime made, unless DeleteNetns
// removed it.
func (n *Network) podSpace(path string) (*space, error) {
	if n.deleted[path] {
		return nil, fmt.Errorf("open network namespace %s: %w", path, core.ErrNotFound)
	}
	s, ok := n.pods[path]
	if !ok {
		s = &space{}
		n.pods[path] = s
	}
	return s, nil
}

// PreparePod creates or reuses the pod's veth pair and sets up what does
// not depend on the address. See ports.PodNetwork.
func (n *Network) PreparePod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.PodResult{}, err
	}
	if err := netstate.ValidatePodLinks(p); err != nil {
		return ports.PodResult{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("PreparePod"); err != nil {
		return ports.PodResult{}, err
	}
	_, host, pod, err := n.preparePair(p)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("prepare pod %s (%s): %w", p.ContainerID, p.HostVeth, err)
	}
	return ports.PodResult{HostVeth: p.HostVeth, HostMAC: host.mac, ContainerMAC: pod.mac}, nil
}

// SetupPod wires a pod. See ports.PodNetwork.
func (n *Network) SetupPod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.PodResult{}, err
	}
	if err := netstate.ValidatePod(p); err != nil {
		return ports.PodResult{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("SetupPod"); err != nil {
		return ports.PodResult{}, err
	}
	ps, host, pod, err := n.preparePair(p)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("wire pod %s: %w", p.ContainerID, err)
	}
	want := netstate.HostPrefix(p.Addr)
	for _, a := range slices.Clone(pod.addrs) {
		if a != want {
			ps.delAddr(pod, a)
		}
	}
	ps.addAddr(pod, want)
	n.node.replaceRoute(netstate.HostPodRoute(p))
	n.syncRules(netstate.PodRuleSets(p.Addr, p.RouteTable, true)...)
	return ports.PodResult{HostVeth: p.HostVeth, HostMAC: host.mac, ContainerMAC: pod.mac}, nil
}

// preparePair makes (or keeps) the pair, brings both ends up and puts the
// pod's routes and gateway neighbour in place. Call with n.mu held.
func (n *Network) preparePair(p ports.PodSpec) (ps *space, host, pod *link, err error) {
	ps, err = n.podSpace(p.Netns)
	if err != nil {
		return nil, nil, nil, err
	}
	host, pod = n.node.link(p.HostVeth), ps.link(p.IfName)
	reuse := host != nil && pod != nil && host.veth && host.peer == pod && pod.peer == host
	if !reuse {
		if host != nil {
			if !host.veth {
				return nil, nil, nil, fmt.Errorf("%w: host link %s exists and is not a veth", core.ErrDuplicate, p.HostVeth)
			}
			n.node.delLink(host)
		}
		if pod = ps.link(p.IfName); pod != nil {
			if !pod.veth {
				return nil, nil, nil, fmt.Errorf("%w: pod interface %s exists and is not a veth", core.ErrDuplicate, p.IfName)
			}
			ps.delLink(pod)
		}
		mtu := p.MTU
		if mtu == 0 {
			mtu = DefaultMTU
		}
		host = &link{name: p.HostVeth, mac: randomMAC(), mtu: mtu, veth: true, peerSpace: ps}
		pod = &link{name: p.IfName, mac: randomMAC(), mtu: mtu, veth: true, peerSpace: n.node, peer: host}
		host.peer = pod
		n.node.links = append(n.node.links, host)
		ps.links = append(ps.links, pod)
	} else if p.MTU > 0 {
		host.mtu, pod.mtu = p.MTU, p.MTU
	}
	n.node.setUp(host)
	ps.setUp(pod)
	for _, r := range netstate.PodRoutes(p.IfName) {
		ps.replaceRoute(r)
	}
	ps.setNeigh(netstate.Neigh{Dev: p.IfName, IP: netstate.PodGateway, MAC: host.mac, State: "PERMANENT"})
	return ps, host, pod, nil
}

// TeardownPod unwires a pod. See ports.PodNetwork.
func (n *Network) TeardownPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("TeardownPod"); err != nil {
		return err
	}
	// As adapters/netlink: only the pair whose pod end is in this pod's
	// namespace goes, so a late DEL for an old sandbox leaves a new
	// sandbox's veth of the same name alone.
	if ps, ok := n.pods[p.Netns]; ok && p.IfName != "" {
		if l := ps.link(p.IfName); l != nil && l.veth {
			ps.delLink(l)
		}
	}
	if p.Addr.IsValid() {
		n.syncRules(netstate.PodRuleSets(p.Addr, p.RouteTable, false)...)
	}
	return nil
}

// CheckPod verifies the pod's wiring on both sides. See ports.PodNetwork.
func (n *Network) CheckPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := netstate.ValidatePod(p); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.fault("CheckPod"); err != nil {
		return err
	}
	ps, err := n.podSpace(p.Netns)
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	if problems := netstate.CheckPod(n.node.snapshot(), ps.snapshot(), p); len(problems) > 0 {
		return fmt.Errorf("check pod %s: %w: %s", p.ContainerID, core.ErrNotFound, strings.Join(problems, "; "))
	}
	return nil
}

// RenderPod prints the pod's side as adapters/netlink does.
func (n *Network) RenderPod(ctx context.Context, p ports.PodSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ps, err := n.podSpace(p.Netns)
	if err != nil {
		return "", fmt.Errorf("render pod %s: %w", p.ContainerID, err)
	}
	return netstate.PodView(ps.snapshot()).Render(), nil
}
