package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
)

// podGateway is the pods' next hop.
var podGateway = netip.MustParseAddr("169.254.1.1")

// nodeResidue looks, after every DEL, for anything of the deleted pods on
// the nodes: host veths, rules at 512 and 1536, routes and neighbour
// entries for pod addresses.
func (k *kernelBackend) nodeResidue(ctx context.Context, pods []*Pod) []string {
	var out []string
	podIPs := map[netip.Addr]string{}
	for _, p := range pods {
		if p.IP.IsValid() {
			podIPs[p.IP] = p.Node.Name + " " + p.Name
		}
	}
	for _, n := range k.c.nodes {
		s := k.nodes[n.Index]
		if s == nil {
			continue
		}
		out = append(out, nodeResidue(n.Name, s.h, podIPs)...)
	}
	return out
}

// sandboxResidue looks in a pod's namespace after DEL: any link but lo,
// any route, any neighbour entry.
func (k *kernelBackend) sandboxResidue(_ context.Context, p *Pod) []string {
	var h *nl.Handle
	if err := netns.Do(p.Netns, func() (err error) { h, err = nl.NewHandle(unix.NETLINK_ROUTE); return err }); err != nil {
		if errors.Is(err, core.ErrNotFound) {
			return nil
		}
		return []string{fmt.Sprintf("%s sandbox %s: open: %v", p.Node.Name, p.Name, err)}
	}
	defer h.Close()
	return sandboxLeftovers(p.Node.Name+" sandbox "+p.Name, h)
}

func nodeResidue(node string, h *nl.Handle, podIPs map[netip.Addr]string) []string {
	var out []string
	links, err := h.LinkList()
	if err != nil {
		return []string{fmt.Sprintf("%s: list links: %v", node, err)}
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if strings.HasPrefix(l.Attrs().Name, VethPrefix) {
			out = append(out, fmt.Sprintf("%s: link %s", node, l.Attrs().Name))
		}
	}
	rules, err := h.RuleList(nl.FAMILY_V4)
	if err != nil {
		return append(out, fmt.Sprintf("%s: list rules: %v", node, err))
	}
	for _, r := range rules {
		if r.Priority == 512 || r.Priority == 1536 {
			out = append(out, fmt.Sprintf("%s: rule %d: from %v to %v lookup %d", node, r.Priority, r.Src, r.Dst, r.Table))
		}
	}
	routes, err := h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Table: unix.RT_TABLE_UNSPEC}, nl.RT_FILTER_TABLE)
	if err != nil {
		return append(out, fmt.Sprintf("%s: list routes: %v", node, err))
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, bits := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok || ones != bits {
			continue
		}
		if pod, mine := podIPs[a.Unmap()]; mine && r.Type != unix.RTN_LOCAL {
			out = append(out, fmt.Sprintf("%s: route %s dev %s table %d (was %s)", node, r.Dst, names[r.LinkIndex], r.Table, pod))
		}
	}
	neighs, err := h.NeighList(0, nl.FAMILY_V4)
	if err != nil {
		return append(out, fmt.Sprintf("%s: list neighbours: %v", node, err))
	}
	for _, nb := range neighs {
		a, ok := netip.AddrFromSlice(nb.IP)
		if !ok {
			continue
		}
		if pod, mine := podIPs[a.Unmap()]; mine || a.Unmap() == podGateway {
			out = append(out, fmt.Sprintf("%s: neighbour %s dev %s (%s)", node, nb.IP, names[nb.LinkIndex], orDash(pod)))
		}
	}
	return out
}

func sandboxLeftovers(where string, h *nl.Handle) []string {
	var out []string
	links, err := h.LinkList()
	if err != nil {
		return []string{fmt.Sprintf("%s: list links: %v", where, err)}
	}
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			out = append(out, fmt.Sprintf("%s: link %s", where, l.Attrs().Name))
		}
	}
	routes, err := h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Table: unix.RT_TABLE_UNSPEC}, nl.RT_FILTER_TABLE)
	if err == nil {
		for _, r := range routes {
			if r.Table != unix.RT_TABLE_LOCAL {
				out = append(out, fmt.Sprintf("%s: route %s via %s", where, r.Dst, r.Gw))
			}
		}
	}
	neighs, err := h.NeighList(0, nl.FAMILY_V4)
	if err == nil {
		for _, nb := range neighs {
			out = append(out, fmt.Sprintf("%s: neighbour %s", where, nb.IP))
		}
	}
	return out
}

// builtinChains are the chains iptables tables come with.
var builtinChains = map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}

// firewallResidue removes every backend's rules from the node (what an
// uninstall runs) and lists whatever is still there: rules any backend
// says it owns, any iptables-legacy rule or user chain, any nftables rule
// or non-base chain (iptables-nft rules included).
func firewallResidue(ctx context.Context, n *Node) (residue, failures []string) {
	quiet := slog.New(slog.DiscardHandler)
	if err := firewall.TeardownAll(ctx, firewall.Config{NetNS: n.Netns, Logger: quiet}); err != nil {
		failures = append(failures, fmt.Sprintf("%s: firewall teardown: %v", n.Name, err))
	}
	for _, b := range firewall.Backends {
		fw, err := firewall.New(ctx, firewall.Config{Backend: b, NetNS: n.Netns, KeepOthers: true, Logger: quiet})
		if errors.Is(err, core.ErrNotFound) {
			continue
		}
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: open %s: %v", n.Name, b, err))
			continue
		}
		text, err := fw.Render(ctx)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: render %s: %v", n.Name, b, err))
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if strings.TrimSpace(line) != "" {
				residue = append(residue, fmt.Sprintf("%s: %s owns %s", n.Name, b, line))
			}
		}
	}
	if bin, err := iptables.LookBinary("iptables-legacy-save"); err == nil {
		out, err := outputIn(n.Netns, bin)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: iptables-legacy-save: %v", n.Name, err))
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "-A ") {
				residue = append(residue, fmt.Sprintf("%s: iptables-legacy rule %s", n.Name, line))
			}
			if name, ok := strings.CutPrefix(line, ":"); ok && !builtinChains[strings.Fields(name)[0]] {
				residue = append(residue, fmt.Sprintf("%s: iptables-legacy chain %s", n.Name, strings.Fields(name)[0]))
			}
		}
	}
	c, done, err := nftConn(n.Netns)
	if err != nil {
		return residue, append(failures, fmt.Sprintf("%s: open nftables: %v", n.Name, err))
	}
	defer done()
	chains, err := c.ListChains()
	if err != nil {
		return residue, append(failures, fmt.Sprintf("%s: list nftables chains: %v", n.Name, err))
	}
	for _, ch := range chains {
		where := fmt.Sprintf("%s: nftables table %s chain %s", n.Name, ch.Table.Name, ch.Name)
		if ch.Hooknum == nil {
			residue = append(residue, where+" (not a base chain)")
		}
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			failures = append(failures, fmt.Sprintf("%s: list rules: %v", where, err))
			continue
		}
		if len(rules) > 0 {
			residue = append(residue, fmt.Sprintf("%s: %d rules", where, len(rules)))
		}
	}
	return residue, failures
}
