package netstate

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rule priorities vpc-cni uses on the node (upstream-compatible).
const (
	// PrioPodTo: "to <pod IP> lookup main", so traffic to a pod always uses
	// the pod's /32 route, whatever ENI table a source rule would pick.
	PrioPodTo = 512
	// PrioConnmark: "fwmark <mark>/<mark> lookup main", replies of
	// connections that entered through the primary interface leave through
	// it again.
	PrioConnmark = 1024
	// PrioExternalService: "to <cidr> lookup main" for
	// AWS_EXTERNAL_SERVICE_CIDRS.
	PrioExternalService = 1535
	// PrioPodFrom: "from <pod IP> lookup <ENI table>" for pods whose address
	// belongs to a secondary ENI.
	PrioPodFrom = 1536
	// PrioENI: "from <ENI primary IP> lookup <ENI table>".
	PrioENI = 32765
)

// OwnedPriorities are the rule priorities NodeView shows.
var OwnedPriorities = []int{PrioPodTo, PrioConnmark, PrioExternalService, PrioPodFrom, PrioENI}

// Well-known routing tables.
const (
	TableUnspec  = 0
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// Route protocols and scopes, with the kernel's numbers.
const (
	ProtoUnspec = 0
	ProtoKernel = 2
	ProtoBoot   = 3
	ProtoStatic = 4

	ScopeUniverse = 0
	ScopeLink     = 253
	ScopeHost     = 254
)

// PodGateway is the link-local next hop every pod routes through. It is not
// assigned anywhere: a permanent neighbour entry in the pod resolves it to
// the host veth's MAC.
var PodGateway = netip.MustParseAddr("169.254.1.1")

// Rule is one policy routing rule.
type Rule struct {
	Priority int
	// From and To are the selectors; the zero Prefix means "all".
	From, To netip.Prefix
	// Mark and Mask are the fwmark selector, used when HasMark.
	HasMark    bool
	Mark, Mask uint32
	// IIF and OIF are interface selectors (not set by vpc-cni, shown when
	// something else put them on a rule at one of our priorities).
	IIF, OIF string
	Table    int
}

// String prints the rule the way `ip rule` does, without the tab:
// "512: from all to 10.0.1.5 lookup main".
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d: from %s", r.Priority, prefixOrAll(r.From))
	if r.To.IsValid() {
		fmt.Fprintf(&b, " to %s", prefixString(r.To))
	}
	if r.HasMark {
		fmt.Fprintf(&b, " fwmark %#x/%#x", r.Mark, r.Mask)
	}
	if r.IIF != "" {
		fmt.Fprintf(&b, " iif %s", r.IIF)
	}
	if r.OIF != "" {
		fmt.Fprintf(&b, " oif %s", r.OIF)
	}
	fmt.Fprintf(&b, " lookup %s", TableName(r.Table))
	return b.String()
}

// Route is one route.
type Route struct {
	Table int
	// Dst is the destination; the zero Prefix means "default".
	Dst   netip.Prefix
	Gw    netip.Addr
	Dev   string
	Proto int
	Scope int
	Src   netip.Addr
}

// String prints the route the way `ip route show table all` does:
// "default via 10.0.2.1 dev eth1 table 2". The protocol is left out when it
// is "boot" (what a plain `ip route add` or a netlink request without a
// protocol gets), as ip does.
func (r Route) String() string {
	var b strings.Builder
	if r.Dst.IsValid() {
		b.WriteString(prefixString(r.Dst))
	} else {
		b.WriteString("default")
	}
	if r.Gw.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if r.Table != TableMain && r.Table != TableUnspec {
		fmt.Fprintf(&b, " table %s", TableName(r.Table))
	}
	switch r.Proto {
	case ProtoUnspec, ProtoBoot:
	case ProtoKernel:
		b.WriteString(" proto kernel")
	case ProtoStatic:
		b.WriteString(" proto static")
	default:
		fmt.Fprintf(&b, " proto %d", r.Proto)
	}
	switch r.Scope {
	case ScopeUniverse:
	case ScopeLink:
		b.WriteString(" scope link")
	case ScopeHost:
		b.WriteString(" scope host")
	default:
		fmt.Fprintf(&b, " scope %d", r.Scope)
	}
	if r.Src.IsValid() {
		fmt.Fprintf(&b, " src %s", r.Src)
	}
	return b.String()
}

// Link is one network interface: administrative state, MTU and its global
// IPv4 addresses.
type Link struct {
	Name  string
	MTU   int
	Up    bool
	Addrs []netip.Prefix
	// MAC is kept for checks but not printed: pod veth MACs are random, and
	// golden texts must not depend on them.
	MAC string
}

// String prints "eth1 mtu 9001 up inet 10.0.2.10/24".
func (l Link) String() string {
	var b strings.Builder
	state := "down"
	if l.Up {
		state = "up"
	}
	fmt.Fprintf(&b, "%s mtu %d %s", l.Name, l.MTU, state)
	addrs := slices.Clone(l.Addrs)
	slices.SortFunc(addrs, comparePrefix)
	for _, a := range addrs {
		fmt.Fprintf(&b, " inet %s", a)
	}
	return b.String()
}

// Neigh is one neighbour (ARP) entry.
type Neigh struct {
	Dev   string
	IP    netip.Addr
	MAC   string
	State string // PERMANENT, REACHABLE, STALE, ...
}

// String prints "169.254.1.1 dev eth0 lladdr 02:00:00:00:00:01 PERMANENT".
func (n Neigh) String() string {
	s := fmt.Sprintf("%s dev %s", n.IP, n.Dev)
	if n.MAC != "" {
		s += " lladdr " + n.MAC
	}
	return s + " " + n.State
}

// Sysctl is one kernel parameter, named with dots
// ("net.ipv4.conf.eth0.rp_filter").
type Sysctl struct {
	Key, Value string
}

// Snapshot is what an adapter sees in one network namespace (before a view
// narrows it to what vpc-cni owns).
type Snapshot struct {
	Rules   []Rule
	Routes  []Route
	Links   []Link
	Neighs  []Neigh
	Sysctls []Sysctl
}

// Render prints the snapshot as sorted lines, one object a line, each
// prefixed by its kind ("rule", "route", "link", "neigh", "sysctl"), in
// that order. The result ends with a newline unless it is empty.
func (s Snapshot) Render() string {
	var b strings.Builder
	rules := slices.Clone(s.Rules)
	slices.SortStableFunc(rules, compareRule)
	for _, r := range rules {
		b.WriteString("rule " + r.String() + "\n")
	}
	routes := slices.Clone(s.Routes)
	slices.SortStableFunc(routes, compareRoute)
	for _, r := range routes {
		b.WriteString("route " + r.String() + "\n")
	}
	links := slices.Clone(s.Links)
	slices.SortStableFunc(links, func(a, b Link) int { return cmp.Compare(a.Name, b.Name) })
	for _, l := range links {
		b.WriteString("link " + l.String() + "\n")
	}
	neighs := slices.Clone(s.Neighs)
	slices.SortStableFunc(neighs, func(a, b Neigh) int {
		return cmp.Or(cmp.Compare(a.Dev, b.Dev), a.IP.Compare(b.IP))
	})
	for _, n := range neighs {
		b.WriteString("neigh " + n.String() + "\n")
	}
	sysctls := slices.Clone(s.Sysctls)
	slices.SortStableFunc(sysctls, func(a, b Sysctl) int { return cmp.Compare(a.Key, b.Key) })
	for _, c := range sysctls {
		b.WriteString("sysctl " + c.Key + " = " + c.Value + "\n")
	}
	return b.String()
}

// NodeOptions says which links of the node's namespace are vpc-cni's.
type NodeOptions struct {
	// Primary is the primary interface, once known (empty otherwise). Its
	// link is shown; its main-table routes are the operating system's and
	// are not.
	Primary string
	// VethPrefix marks pod host veths ("eni").
	VethPrefix string
	// ENIs are the secondary ENIs the adapter has set up and not torn
	// down: route table to link name. Their tables and links are shown
	// even when the rule pointing at a table has gone missing (which is
	// exactly what a reader of the text needs to see).
	ENIs map[int]string
}

// NodeView narrows a snapshot of the node's namespace to what vpc-cni owns
// or relies on:
//   - rules at the OwnedPriorities;
//   - every route of each table those rules point to, other than main,
//     local and default, and of the tables in o.ENIs (the ENI tables);
//   - the links those tables route through and the links in o.ENIs (the
//     ENI links), the primary link and every link named with the veth
//     prefix;
//   - main-table routes through the ENI links and the veths (pod /32s, and
//     a subnet route the kernel or another agent put back on an ENI link);
//   - the sysctls as given (the adapter passes only the ones it manages).
//
// Neighbour entries are not part of the node view.
func NodeView(all Snapshot, o NodeOptions) Snapshot {
	var out Snapshot
	tables := map[int]bool{}
	for _, r := range all.Rules {
		if !slices.Contains(OwnedPriorities, r.Priority) {
			continue
		}
		out.Rules = append(out.Rules, r)
		switch r.Table {
		case TableUnspec, TableMain, TableLocal, TableDefault:
		default:
			tables[r.Table] = true
		}
	}
	eniLinks := map[string]bool{}
	for table, dev := range o.ENIs {
		tables[table] = true
		eniLinks[dev] = true
	}
	for _, r := range all.Routes {
		if tables[r.Table] {
			out.Routes = append(out.Routes, r)
			if r.Dev != "" {
				eniLinks[r.Dev] = true
			}
		}
	}
	isVeth := func(name string) bool {
		return o.VethPrefix != "" && strings.HasPrefix(name, o.VethPrefix)
	}
	for _, r := range all.Routes {
		if r.Table == TableMain && r.Dev != "" && r.Dev != o.Primary && (eniLinks[r.Dev] || isVeth(r.Dev)) {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, l := range all.Links {
		if (o.Primary != "" && l.Name == o.Primary) || eniLinks[l.Name] || isVeth(l.Name) {
			out.Links = append(out.Links, l)
		}
	}
	out.Sysctls = slices.Clone(all.Sysctls)
	return out
}

// PodView narrows a snapshot of a pod's namespace to what the plugin wires
// there: links other than lo, routes outside the local table, and permanent
// neighbour entries. Rules are left out (a single-interface pod has only
// the kernel's defaults).
func PodView(all Snapshot) Snapshot {
	var out Snapshot
	for _, l := range all.Links {
		if l.Name != "lo" {
			out.Links = append(out.Links, l)
		}
	}
	for _, r := range all.Routes {
		if r.Table != TableLocal {
			out.Routes = append(out.Routes, r)
		}
	}
	for _, n := range all.Neighs {
		if n.State == "PERMANENT" {
			out.Neighs = append(out.Neighs, n)
		}
	}
	return out
}

// TableName prints a table id as ip does: main, local, default or the
// number.
func TableName(t int) string {
	switch t {
	case TableMain:
		return "main"
	case TableLocal:
		return "local"
	case TableDefault:
		return "default"
	}
	return strconv.Itoa(t)
}

// HostPrefix is addr/32 (or /128).
func HostPrefix(a netip.Addr) netip.Prefix {
	return netip.PrefixFrom(a, a.BitLen())
}

func prefixOrAll(p netip.Prefix) string {
	if !p.IsValid() {
		return "all"
	}
	return prefixString(p)
}

// prefixString prints a host prefix as a bare address, as ip does.
func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func comparePrefix(a, b netip.Prefix) int {
	// The zero prefix ("all"/"default") sorts first.
	if a.IsValid() != b.IsValid() {
		if !a.IsValid() {
			return -1
		}
		return 1
	}
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

func compareRule(a, b Rule) int {
	return cmp.Or(
		cmp.Compare(a.Priority, b.Priority),
		comparePrefix(a.From, b.From),
		comparePrefix(a.To, b.To),
		cmp.Compare(a.Mark, b.Mark),
		cmp.Compare(a.Mask, b.Mask),
		cmp.Compare(a.IIF, b.IIF),
		cmp.Compare(a.OIF, b.OIF),
		cmp.Compare(a.Table, b.Table),
	)
}

// tableOrder puts main first, then the numbered tables in order.
func tableOrder(t int) int {
	if t == TableMain {
		return -1
	}
	return t
}

func compareRoute(a, b Route) int {
	return cmp.Or(
		cmp.Compare(tableOrder(a.Table), tableOrder(b.Table)),
		comparePrefix(a.Dst, b.Dst),
		cmp.Compare(a.Dev, b.Dev),
		a.Gw.Compare(b.Gw),
		cmp.Compare(a.Proto, b.Proto),
		cmp.Compare(a.Scope, b.Scope),
		a.Src.Compare(b.Src),
	)
}
