package netlink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/core"
)

// retryDump runs a netlink dump until it completes without the kernel's
// "dump interrupted" flag (or EINTR), at most attempts times. A dump that
// raced with a change may miss or repeat objects, so its partial result is
// never used.
func retryDump[T any](attempts int, what string, f func() (T, error)) (T, error) {
	var v T
	var err error
	for range max(attempts, 1) {
		v, err = f()
		if err == nil || !interrupted(err) {
			break
		}
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s: %w", what, kernelErr(err))
	}
	return v, nil
}

func interrupted(err error) bool {
	return errors.Is(err, nl.ErrDumpInterrupted) || errors.Is(err, unix.EINTR)
}

// kernelErr maps a netlink error to the core's sentinels, keeping the
// original in the chain.
func kernelErr(err error) error {
	var lnf nl.LinkNotFoundError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &lnf), errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %w", core.ErrDuplicate, err)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ERANGE):
		return fmt.Errorf("%w: %w", core.ErrInvalidParameter, err)
	}
	return err
}

func isNotFound(err error) bool {
	var lnf nl.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENODEV)
}

func isExist(err error) bool { return errors.Is(err, unix.EEXIST) }

func ipAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

func ipPrefix(n *net.IPNet) netip.Prefix {
	if n == nil || n.IP == nil {
		return netip.Prefix{}
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(ipAddr(n.IP), bits)
}

func ipNet(p netip.Prefix) *net.IPNet {
	if !p.IsValid() {
		return nil
	}
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// plainRule reports whether a rule uses only the selectors vpc-cni itself
// sets. Other rules at our priorities are shown by Render but never
// deleted as stale or duplicate.
func plainRule(r nl.Rule) bool {
	return r.Tos == 0 && r.TunID == 0 && r.Goto < 0 && r.Flow < 0 && !r.Invert &&
		r.SuppressIfgroup < 0 && r.SuppressPrefixlen < 0 && r.IPProto == 0 &&
		r.Dport == nil && r.Sport == nil && r.UIDRange == nil
}

func ruleState(r nl.Rule) netstate.Rule {
	s := netstate.Rule{
		Priority: r.Priority,
		From:     ipPrefix(r.Src),
		To:       ipPrefix(r.Dst),
		IIF:      r.IifName,
		OIF:      r.OifName,
		Table:    r.Table,
	}
	if r.Mark != 0 || r.Mask != nil {
		s.HasMark = true
		s.Mark = r.Mark
		s.Mask = 0xffffffff
		if r.Mask != nil {
			s.Mask = *r.Mask
		}
	}
	return s
}

func ruleFromState(s netstate.Rule) *nl.Rule {
	r := nl.NewRule()
	r.Family = nl.FAMILY_V4
	if s.From.Addr().Is6() || s.To.Addr().Is6() {
		r.Family = nl.FAMILY_V6
	}
	r.Priority = s.Priority
	r.Table = s.Table
	r.Src = ipNet(s.From)
	r.Dst = ipNet(s.To)
	r.IifName = s.IIF
	r.OifName = s.OIF
	if s.HasMark {
		r.Mark = s.Mark
		mask := s.Mask
		r.Mask = &mask
	}
	return r
}

func routeState(r nl.Route, names map[int]string) netstate.Route {
	dst := ipPrefix(r.Dst)
	if dst.Bits() == 0 {
		dst = netip.Prefix{} // the library reports a default route as 0.0.0.0/0
	}
	return netstate.Route{
		Table: r.Table,
		Dst:   dst,
		Gw:    ipAddr(r.Gw),
		Dev:   names[r.LinkIndex],
		Proto: int(r.Protocol),
		Scope: int(r.Scope),
		Src:   ipAddr(r.Src),
	}
}

func routeFromState(s netstate.Route, linkIndex int) *nl.Route {
	r := &nl.Route{
		LinkIndex: linkIndex,
		Dst:       ipNet(s.Dst),
		Scope:     nl.Scope(s.Scope),
		Table:     s.Table,
	}
	if s.Gw.IsValid() {
		r.Gw = net.IP(s.Gw.AsSlice())
	}
	if !s.Dst.IsValid() {
		r.Family = nl.FAMILY_V4
		if s.Gw.Is6() {
			r.Family = nl.FAMILY_V6
		}
	}
	return r
}

func neighState(state int) string {
	switch {
	case state&unix.NUD_PERMANENT != 0:
		return "PERMANENT"
	case state&unix.NUD_NOARP != 0:
		return "NOARP"
	case state&unix.NUD_REACHABLE != 0:
		return "REACHABLE"
	case state&unix.NUD_STALE != 0:
		return "STALE"
	case state&unix.NUD_DELAY != 0:
		return "DELAY"
	case state&unix.NUD_PROBE != 0:
		return "PROBE"
	case state&unix.NUD_FAILED != 0:
		return "FAILED"
	case state&unix.NUD_INCOMPLETE != 0:
		return "INCOMPLETE"
	}
	return "NONE"
}

// snapshot reads every IPv4 rule, route (outside the local table), link,
// global address and neighbour entry visible through h.
func snapshot(h *nl.Handle, attempts int) (netstate.Snapshot, error) {
	var s netstate.Snapshot
	links, err := retryDump(attempts, "list links", h.LinkList)
	if err != nil {
		return s, err
	}
	addrs, err := retryDump(attempts, "list addresses", func() ([]nl.Addr, error) { return h.AddrList(nil, nl.FAMILY_V4) })
	if err != nil {
		return s, err
	}
	routes, err := retryDump(attempts, "list routes", func() ([]nl.Route, error) {
		return h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Table: unix.RT_TABLE_UNSPEC}, nl.RT_FILTER_TABLE)
	})
	if err != nil {
		return s, err
	}
	rules, err := retryDump(attempts, "list rules", func() ([]nl.Rule, error) { return h.RuleList(nl.FAMILY_V4) })
	if err != nil {
		return s, err
	}
	neighs, err := retryDump(attempts, "list neighbours", func() ([]nl.Neigh, error) { return h.NeighList(0, nl.FAMILY_V4) })
	if err != nil {
		return s, err
	}

	names := map[int]string{}
	byIndex := map[int][]netip.Prefix{}
	for _, a := range addrs {
		if a.Scope == int(nl.SCOPE_UNIVERSE) {
			byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], ipPrefix(a.IPNet))
		}
	}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		s.Links = append(s.Links, netstate.Link{
			Name:  a.Name,
			MTU:   a.MTU,
			Up:    a.Flags&net.FlagUp != 0,
			Addrs: byIndex[a.Index],
			MAC:   a.HardwareAddr.String(),
		})
	}
	for _, r := range routes {
		if r.Table == unix.RT_TABLE_LOCAL || r.Type != unix.RTN_UNICAST {
			continue
		}
		s.Routes = append(s.Routes, routeState(r, names))
	}
	for _, r := range rules {
		s.Rules = append(s.Rules, ruleState(r))
	}
	for _, n := range neighs {
		mac := ""
		if len(n.HardwareAddr) > 0 {
			mac = n.HardwareAddr.String()
		}
		s.Neighs = append(s.Neighs, netstate.Neigh{
			Dev:   names[n.LinkIndex],
			IP:    ipAddr(n.IP),
			MAC:   mac,
			State: neighState(n.State),
		})
	}
	return s, nil
}
