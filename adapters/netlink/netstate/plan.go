package netstate

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vpc-cni/vpc-cni/ports"
)

// RuleSet is the desired state of one group of rules: at Priority, the
// rules for which Owned is true must be exactly Want (each once).
//
// Match, when its Priority is set, selects the same rules the way the
// kernel matches a rule deletion: its zero fields (table included) match
// anything. A set with a Match can be enforced without listing the node's
// rules: delete Match until the kernel finds none, then add Want.
type RuleSet struct {
	Priority int
	Owned    func(Rule) bool
	Want     []Rule
	Match    Rule
}

// PlanRules compares the current rules (in kernel order) with a desired
// set. It returns the indexes in current of the rules to delete (stale
// ones, and every duplicate after the first copy of a wanted rule) and the
// wanted rules that are missing.
func PlanRules(current []Rule, set RuleSet) (del []int, add []Rule) {
	seen := map[Rule]bool{}
	for i, r := range current {
		if r.Priority != set.Priority || !set.Owned(r) {
			continue
		}
		if slices.Contains(set.Want, r) && !seen[r] {
			seen[r] = true
			continue
		}
		del = append(del, i)
	}
	for _, w := range set.Want {
		if !seen[w] {
			seen[w] = true
			add = append(add, w)
		}
	}
	return del, add
}

// PodRuleSets are the node rules of one pod address: "to <addr> lookup
// main" at 512, and "from <addr> lookup <table>" at 1536 unless the table is
// main (a pod on the primary ENI needs no source rule). With present false
// both sets want nothing (teardown). At those priorities every rule naming
// the address as its destination (512) or source (1536) belongs to the pod:
// one with another table, or with more selectors, is stale and goes. That
// is also what the sets' Match selects in the kernel.
func PodRuleSets(addr netip.Addr, table int, present bool) []RuleSet {
	host := HostPrefix(addr)
	to := RuleSet{
		Priority: PrioPodTo,
		Owned:    func(r Rule) bool { return r.To == host },
		Match:    Rule{Priority: PrioPodTo, To: host},
	}
	from := RuleSet{
		Priority: PrioPodFrom,
		Owned:    func(r Rule) bool { return r.From == host },
		Match:    Rule{Priority: PrioPodFrom, From: host},
	}
	if present {
		to.Want = []Rule{{Priority: PrioPodTo, To: host, Table: TableMain}}
		if table != TableMain {
			from.Want = []Rule{{Priority: PrioPodFrom, From: host, Table: table}}
		}
	}
	return []RuleSet{to, from}
}

// ConnmarkRuleSet is "fwmark <mark>/<mark> lookup main" at 1024 when
// enabled; any other fwmark rule to main at that priority is stale.
func ConnmarkRuleSet(enabled bool, mark uint32) RuleSet {
	s := RuleSet{
		Priority: PrioConnmark,
		Owned: func(r Rule) bool {
			return r.HasMark && r.Table == TableMain && !r.From.IsValid() && !r.To.IsValid()
		},
	}
	if enabled {
		s.Want = []Rule{{Priority: PrioConnmark, HasMark: true, Mark: mark, Mask: mark, Table: TableMain}}
	}
	return s
}

// ExternalServiceRuleSet is "to <cidr> lookup main" at 1535 for each CIDR;
// other destination rules to main at that priority are stale.
func ExternalServiceRuleSet(cidrs []netip.Prefix) RuleSet {
	s := RuleSet{
		Priority: PrioExternalService,
		Owned: func(r Rule) bool {
			return r.To.IsValid() && !r.From.IsValid() && !r.HasMark && r.IIF == "" && r.OIF == "" && r.Table == TableMain
		},
	}
	for _, c := range cidrs {
		s.Want = append(s.Want, Rule{Priority: PrioExternalService, To: c.Masked(), Table: TableMain})
	}
	return s
}

// ENIRuleSet is "from <ENI primary IP> lookup <table>" at 32765. Rules at
// that priority from the same address or to the same table are the ENI's;
// with present false they all go.
func ENIRuleSet(primaryIP netip.Addr, table int, present bool) RuleSet {
	host := HostPrefix(primaryIP)
	s := RuleSet{
		Priority: PrioENI,
		Owned:    func(r Rule) bool { return r.From == host || r.Table == table },
	}
	if present {
		s.Want = []Rule{{Priority: PrioENI, From: host, Table: table}}
	}
	return s
}

// ENIGateway is the ENI's next hop: eni.Gateway, or the first host address
// of its subnet.
func ENIGateway(eni ports.ENINetwork) netip.Addr {
	if eni.Gateway.IsValid() {
		return eni.Gateway
	}
	return eni.SubnetCIDR.Masked().Addr().Next()
}

// ENIRoutes are the routes of an ENI's table: the gateway as an on-link /32
// and the default route through it.
func ENIRoutes(eni ports.ENINetwork, dev string) []Route {
	gw := ENIGateway(eni)
	return []Route{
		{Table: eni.RouteTable, Dst: HostPrefix(gw), Dev: dev, Scope: ScopeLink},
		{Table: eni.RouteTable, Gw: gw, Dev: dev},
	}
}

// HostPodRoute is the node's route to a pod: "<addr> dev <host veth> scope
// link" in main.
func HostPodRoute(p ports.PodSpec) Route {
	return Route{Table: TableMain, Dst: HostPrefix(p.Addr), Dev: p.HostVeth, Scope: ScopeLink}
}

// PodRoutes are the routes inside the pod: the gateway on-link and the
// default route through it.
func PodRoutes(ifName string) []Route {
	return []Route{
		{Table: TableMain, Dst: HostPrefix(PodGateway), Dev: ifName, Scope: ScopeLink},
		{Table: TableMain, Gw: PodGateway, Dev: ifName},
	}
}

// SameRoute compares the parts of a route vpc-cni sets (table, destination,
// gateway, device, scope), ignoring protocol and preferred source.
func SameRoute(a, b Route) bool {
	return a.Table == b.Table && a.Dst == b.Dst && a.Gw == b.Gw && a.Dev == b.Dev && a.Scope == b.Scope
}

// CheckPod lists what is missing or wrong for a wired pod, given snapshots
// of the node's and of the pod's namespaces. An empty result means the pod
// is wired as SetupPod leaves it.
func CheckPod(node, pod Snapshot, p ports.PodSpec) []string {
	var problems []string
	var hostMAC string
	if l, ok := findLink(node, p.HostVeth); !ok {
		problems = append(problems, fmt.Sprintf("host veth %s missing", p.HostVeth))
	} else {
		hostMAC = l.MAC
		if !l.Up {
			problems = append(problems, fmt.Sprintf("host veth %s down", p.HostVeth))
		}
	}
	if want := HostPodRoute(p); !hasRoute(node, want) {
		problems = append(problems, fmt.Sprintf("host route %q missing", want.String()))
	}
	for _, set := range PodRuleSets(p.Addr, p.RouteTable, true) {
		for _, w := range set.Want {
			if !slices.Contains(node.Rules, w) {
				problems = append(problems, fmt.Sprintf("rule %q missing", w.String()))
			}
		}
	}
	if l, ok := findLink(pod, p.IfName); !ok {
		problems = append(problems, fmt.Sprintf("pod interface %s missing", p.IfName))
	} else {
		if !l.Up {
			problems = append(problems, fmt.Sprintf("pod interface %s down", p.IfName))
		}
		if !slices.Contains(l.Addrs, HostPrefix(p.Addr)) {
			problems = append(problems, fmt.Sprintf("pod address %s missing on %s", HostPrefix(p.Addr), p.IfName))
		}
	}
	for _, want := range PodRoutes(p.IfName) {
		if !hasRoute(pod, want) {
			problems = append(problems, fmt.Sprintf("pod route %q missing", want.String()))
		}
	}
	want := Neigh{Dev: p.IfName, IP: PodGateway, MAC: hostMAC, State: "PERMANENT"}
	if hostMAC == "" || !slices.Contains(pod.Neighs, want) {
		problems = append(problems, fmt.Sprintf("pod neighbour %q missing", want.String()))
	}
	return problems
}

func findLink(s Snapshot, name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

func hasRoute(s Snapshot, want Route) bool {
	return slices.ContainsFunc(s.Routes, func(r Route) bool { return SameRoute(r, want) })
}
