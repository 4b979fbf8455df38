package datapathmem

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
)

// space is one network namespace of the model.
type space struct {
	links  []*link
	routes []netstate.Route
	rules  []netstate.Rule
	neighs []netstate.Neigh
}

type link struct {
	name  string
	mac   string
	mtu   int
	up    bool
	addrs []netip.Prefix
	// veth ends know their peer and the peer's namespace.
	veth      bool
	peer      *link
	peerSpace *space
}

func (s *space) link(name string) *link {
	for _, l := range s.links {
		if l.name == name {
			return l
		}
	}
	return nil
}

func (s *space) linkByMAC(mac string) *link {
	for _, l := range s.links {
		if strings.EqualFold(l.mac, mac) {
			return l
		}
	}
	return nil
}

// prefixRoute is the route the kernel adds to main for an address on an up
// link (none for a host address).
func prefixRoute(l *link, p netip.Prefix) (netstate.Route, bool) {
	if p.Bits() >= p.Addr().BitLen() {
		return netstate.Route{}, false
	}
	return netstate.Route{
		Table: netstate.TableMain,
		Dst:   p.Masked(),
		Dev:   l.name,
		Proto: netstate.ProtoKernel,
		Scope: netstate.ScopeLink,
		Src:   p.Addr(),
	}, true
}

func (s *space) setUp(l *link) {
	if l.up {
		return
	}
	l.up = true
	for _, a := range l.addrs {
		if r, ok := prefixRoute(l, a); ok {
			s.replaceRoute(r)
		}
	}
}

func (s *space) addAddr(l *link, p netip.Prefix) {
	if slices.Contains(l.addrs, p) {
		return
	}
	l.addrs = append(l.addrs, p)
	if r, ok := prefixRoute(l, p); ok && l.up {
		s.replaceRoute(r)
	}
}

func (s *space) delAddr(l *link, p netip.Prefix) {
	l.addrs = slices.DeleteFunc(l.addrs, func(a netip.Prefix) bool { return a == p })
	if r, ok := prefixRoute(l, p); ok {
		s.routes = slices.DeleteFunc(s.routes, func(x netstate.Route) bool { return x == r })
	}
}

// delLink removes a link, everything routed or resolved through it and, for
// a veth, its peer.
func (s *space) delLink(l *link) {
	s.forget(l)
	if l.veth && l.peer != nil && l.peerSpace != nil {
		l.peerSpace.forget(l.peer)
	}
}

func (s *space) forget(l *link) {
	s.links = slices.DeleteFunc(s.links, func(x *link) bool { return x == l })
	s.routes = slices.DeleteFunc(s.routes, func(r netstate.Route) bool { return r.Dev == l.name })
	s.neighs = slices.DeleteFunc(s.neighs, func(n netstate.Neigh) bool { return n.Dev == l.name })
}

// replaceRoute acts like RTM_NEWROUTE with NLM_F_REPLACE: a route with the
// same table and destination is replaced.
func (s *space) replaceRoute(r netstate.Route) {
	for i, x := range s.routes {
		if x.Table == r.Table && x.Dst == r.Dst {
			s.routes[i] = r
			return
		}
	}
	s.routes = append(s.routes, r)
}

func (s *space) addRule(r netstate.Rule) {
	if !slices.Contains(s.rules, r) {
		s.rules = append(s.rules, r)
	}
}

func (s *space) delRuleAt(i int) {
	s.rules = slices.Delete(s.rules, i, i+1)
}

func (s *space) setNeigh(n netstate.Neigh) {
	for i, x := range s.neighs {
		if x.Dev == n.Dev && x.IP == n.IP {
			s.neighs[i] = n
			return
		}
	}
	s.neighs = append(s.neighs, n)
}

func (s *space) snapshot() netstate.Snapshot {
	var out netstate.Snapshot
	for _, l := range s.links {
		out.Links = append(out.Links, netstate.Link{
			Name: l.name, MTU: l.mtu, Up: l.up, Addrs: slices.Clone(l.addrs), MAC: l.mac,
		})
	}
	out.Routes = slices.Clone(s.routes)
	out.Rules = slices.Clone(s.rules)
	out.Neighs = slices.Clone(s.neighs)
	return out
}
