package netstate

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{Rule{Priority: 512, To: pfx("10.0.1.5/32"), Table: TableMain}.String(), "512: from all to 10.0.1.5 lookup main"},
		{Rule{Priority: 1024, HasMark: true, Mark: 0x80, Mask: 0x80, Table: TableMain}.String(), "1024: from all fwmark 0x80/0x80 lookup main"},
		{Rule{Priority: 1535, To: pfx("10.100.0.0/16"), Table: TableMain}.String(), "1535: from all to 10.100.0.0/16 lookup main"},
		{Rule{Priority: 1536, From: pfx("10.0.2.7/32"), Table: 2}.String(), "1536: from 10.0.2.7 lookup 2"},
		{Rule{Priority: 10, IIF: "vlan.eth.1", Table: 101}.String(), "10: from all iif vlan.eth.1 lookup 101"},
		{Route{Table: 2, Gw: addr("10.0.2.1"), Dev: "eth1"}.String(), "default via 10.0.2.1 dev eth1 table 2"},
		{Route{Table: 2, Dst: pfx("10.0.2.1/32"), Dev: "eth1", Scope: ScopeLink}.String(), "10.0.2.1 dev eth1 table 2 scope link"},
		{Route{Table: TableMain, Dst: pfx("10.0.2.0/24"), Dev: "eth1", Proto: ProtoKernel, Scope: ScopeLink, Src: addr("10.0.2.10")}.String(),
			"10.0.2.0/24 dev eth1 proto kernel scope link src 10.0.2.10"},
		{Route{Table: TableMain, Dst: pfx("10.0.1.5/32"), Dev: "eni5e1c4d6c68c", Proto: ProtoBoot, Scope: ScopeLink}.String(),
			"10.0.1.5 dev eni5e1c4d6c68c scope link"},
		{Route{Table: TableLocal, Dst: pfx("10.0.0.0/8"), Dev: "x", Proto: ProtoStatic}.String(), "10.0.0.0/8 dev x table local proto static"},
		{Link{Name: "eth1", MTU: 9001, Up: true, Addrs: []netip.Prefix{pfx("10.0.2.99/24"), pfx("10.0.2.10/24")}, MAC: "02:00:00:00:00:01"}.String(),
			"eth1 mtu 9001 up inet 10.0.2.10/24 inet 10.0.2.99/24"},
		{Link{Name: "eni1", MTU: 1500}.String(), "eni1 mtu 1500 down"},
		{Neigh{Dev: "eth0", IP: PodGateway, MAC: "02:aa:bb:cc:dd:ee", State: "PERMANENT"}.String(), "169.254.1.1 dev eth0 lladdr 02:aa:bb:cc:dd:ee PERMANENT"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got  %q\nwant %q", tt.got, tt.want)
		}
	}
}

func TestRenderSortsAndViews(t *testing.T) {
	all := Snapshot{
		Rules: []Rule{
			{Priority: 0, Table: TableLocal},
			{Priority: 32765, From: pfx("10.0.2.10/32"), Table: 2},
			{Priority: 1536, From: pfx("10.0.2.9/32"), Table: 2},
			{Priority: 512, To: pfx("10.0.2.9/32"), Table: TableMain},
			{Priority: 512, To: pfx("10.0.1.10/32"), Table: TableMain},
			{Priority: 512, To: pfx("10.0.1.9/32"), Table: TableMain},
			{Priority: 1024, HasMark: true, Mark: 0x80, Mask: 0x80, Table: TableMain},
			{Priority: 32766, Table: TableMain},
			{Priority: 100, From: pfx("192.168.0.0/16"), Table: 77}, // someone else's
		},
		Routes: []Route{
			{Table: TableMain, Gw: addr("10.0.0.1"), Dev: "eth0"},
			{Table: TableMain, Dst: pfx("10.0.0.0/24"), Dev: "eth0", Proto: ProtoKernel, Scope: ScopeLink, Src: addr("10.0.0.10")},
			{Table: TableMain, Dst: pfx("10.0.1.10/32"), Dev: "enib", Scope: ScopeLink},
			{Table: TableMain, Dst: pfx("10.0.1.9/32"), Dev: "enia", Scope: ScopeLink},
			{Table: TableMain, Dst: pfx("10.0.2.0/24"), Dev: "eth1", Proto: ProtoKernel, Scope: ScopeLink, Src: addr("10.0.2.10")},
			{Table: 2, Gw: addr("10.0.2.1"), Dev: "eth1"},
			{Table: 2, Dst: pfx("10.0.2.1/32"), Dev: "eth1", Scope: ScopeLink},
			{Table: 77, Gw: addr("192.168.0.1"), Dev: "tun0"},
		},
		Links: []Link{
			{Name: "lo", MTU: 65536, Up: true},
			{Name: "eth0", MTU: 9001, Up: true, Addrs: []netip.Prefix{pfx("10.0.0.10/24")}},
			{Name: "eth1", MTU: 9001, Up: true, Addrs: []netip.Prefix{pfx("10.0.2.10/24")}},
			{Name: "enib", MTU: 9001, Up: true},
			{Name: "enia", MTU: 9001, Up: false},
			{Name: "tun0", MTU: 1400, Up: true},
		},
		Neighs:  []Neigh{{Dev: "eth0", IP: addr("10.0.0.1"), MAC: "02:00:00:00:00:01", State: "REACHABLE"}},
		Sysctls: []Sysctl{{Key: "net.ipv4.conf.eth0.rp_filter", Value: "2"}},
	}
	got := NodeView(all, NodeOptions{Primary: "eth0", VethPrefix: "eni"}).Render()
	want := `rule 512: from all to 10.0.1.9 lookup main
rule 512: from all to 10.0.1.10 lookup main
rule 512: from all to 10.0.2.9 lookup main
rule 1024: from all fwmark 0x80/0x80 lookup main
rule 1536: from 10.0.2.9 lookup 2
rule 32765: from 10.0.2.10 lookup 2
route 10.0.1.9 dev enia scope link
route 10.0.1.10 dev enib scope link
route 10.0.2.0/24 dev eth1 proto kernel scope link src 10.0.2.10
route default via 10.0.2.1 dev eth1 table 2
route 10.0.2.1 dev eth1 table 2 scope link
link enia mtu 9001 down
link enib mtu 9001 up
link eth0 mtu 9001 up inet 10.0.0.10/24
link eth1 mtu 9001 up inet 10.0.2.10/24
sysctl net.ipv4.conf.eth0.rp_filter = 2
`
	if got != want {
		t.Errorf("NodeView render:\n%s\nwant:\n%s", got, want)
	}

	// A set-up ENI whose rule went missing keeps its table and link in view.
	lost := all
	lost.Rules = slices.DeleteFunc(slices.Clone(all.Rules), func(r Rule) bool { return r.Priority == PrioENI || r.Priority == PrioPodFrom })
	got = NodeView(lost, NodeOptions{Primary: "eth0", VethPrefix: "eni", ENIs: map[int]string{2: "eth1"}}).Render()
	for _, line := range []string{"route default via 10.0.2.1 dev eth1 table 2\n", "link eth1 mtu 9001 up inet 10.0.2.10/24\n"} {
		if !strings.Contains(got, line) {
			t.Errorf("NodeView with a lost ENI rule lacks %q:\n%s", line, got)
		}
	}
	got = NodeView(lost, NodeOptions{Primary: "eth0", VethPrefix: "eni"}).Render()
	if strings.Contains(got, "eth1") {
		t.Errorf("an ENI table nobody refers to is shown:\n%s", got)
	}

	// Without a known primary, eth0 is not shown at all.
	got = NodeView(all, NodeOptions{VethPrefix: "eni"}).Render()
	if strings.Contains(got, "eth0 mtu") {
		t.Errorf("primary shown without being known:\n%s", got)
	}

	pod := Snapshot{
		Rules:  []Rule{{Priority: 0, Table: TableLocal}},
		Links:  []Link{{Name: "lo", MTU: 65536, Up: true}, {Name: "eth0", MTU: 9001, Up: true, Addrs: []netip.Prefix{pfx("10.0.1.9/32")}}},
		Routes: append(PodRoutes("eth0"), Route{Table: TableLocal, Dst: pfx("10.0.1.9/32"), Dev: "eth0"}),
		Neighs: []Neigh{
			{Dev: "eth0", IP: PodGateway, MAC: "02:aa:bb:cc:dd:ee", State: "PERMANENT"},
			{Dev: "eth0", IP: addr("10.0.1.1"), State: "FAILED"},
		},
	}
	got = PodView(pod).Render()
	want = `route default via 169.254.1.1 dev eth0
route 169.254.1.1 dev eth0 scope link
link eth0 mtu 9001 up inet 10.0.1.9/32
neigh 169.254.1.1 dev eth0 lladdr 02:aa:bb:cc:dd:ee PERMANENT
`
	if got != want {
		t.Errorf("PodView render:\n%s\nwant:\n%s", got, want)
	}
	if (Snapshot{}).Render() != "" {
		t.Error("empty snapshot renders non-empty text")
	}
}

func TestPlanRules(t *testing.T) {
	to := func(a string) Rule { return Rule{Priority: PrioPodTo, To: pfx(a + "/32"), Table: TableMain} }
	from := func(a string, table int) Rule { return Rule{Priority: PrioPodFrom, From: pfx(a + "/32"), Table: table} }
	eni := func(a string, table int) Rule { return Rule{Priority: PrioENI, From: pfx(a + "/32"), Table: table} }
	mark := func(m uint32) Rule {
		return Rule{Priority: PrioConnmark, HasMark: true, Mark: m, Mask: m, Table: TableMain}
	}
	svc := func(c string) Rule { return Rule{Priority: PrioExternalService, To: pfx(c), Table: TableMain} }

	tests := []struct {
		name    string
		current []Rule
		set     RuleSet
		wantDel []int
		wantAdd []Rule
	}{
		{"pod to: missing", nil, PodRuleSets(addr("10.0.1.5"), TableMain, true)[0], nil, []Rule{to("10.0.1.5")}},
		{"pod to: present", []Rule{to("10.0.1.5")}, PodRuleSets(addr("10.0.1.5"), TableMain, true)[0], nil, nil},
		{"pod to: duplicate", []Rule{to("10.0.1.5"), to("10.0.1.6"), to("10.0.1.5")}, PodRuleSets(addr("10.0.1.5"), TableMain, true)[0], []int{2}, nil},
		{"pod from: main wants none", []Rule{from("10.0.1.5", 2)}, PodRuleSets(addr("10.0.1.5"), TableMain, true)[1], []int{0}, nil},
		{"pod from: wrong table replaced", []Rule{from("10.0.1.5", 3), from("10.0.1.7", 3)}, PodRuleSets(addr("10.0.1.5"), 2, true)[1], []int{0}, []Rule{from("10.0.1.5", 2)}},
		{"pod from: teardown removes all copies", []Rule{from("10.0.1.5", 2), from("10.0.1.5", 2), from("10.0.1.5", 3)}, PodRuleSets(addr("10.0.1.5"), 2, false)[1], []int{0, 1, 2}, nil},
		{"connmark: mark changed", []Rule{mark(0x40)}, ConnmarkRuleSet(true, 0x80), []int{0}, []Rule{mark(0x80)}},
		{"connmark: disabled", []Rule{mark(0x80)}, ConnmarkRuleSet(false, 0x80), []int{0}, nil},
		{"external: stale CIDR", []Rule{svc("10.99.0.0/16"), svc("10.100.0.0/16")}, ExternalServiceRuleSet([]netip.Prefix{pfx("10.100.0.0/16"), pfx("10.200.1.1/16")}), []int{0}, []Rule{svc("10.200.0.0/16")}},
		{"eni: old primary IP for the table", []Rule{eni("10.0.2.9", 2), eni("10.0.3.9", 3)}, ENIRuleSet(addr("10.0.2.10"), 2, true), []int{0}, []Rule{eni("10.0.2.10", 2)}},
		{"eni: teardown", []Rule{eni("10.0.2.10", 2), eni("10.0.3.9", 3)}, ENIRuleSet(addr("10.0.2.10"), 2, false), []int{0}, nil},
		{"other priorities untouched", []Rule{{Priority: 100, To: pfx("10.0.1.5/32"), Table: TableMain}}, PodRuleSets(addr("10.0.1.5"), TableMain, false)[0], nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			del, add := PlanRules(tt.current, tt.set)
			if !slices.Equal(del, tt.wantDel) || !slices.Equal(add, tt.wantAdd) {
				t.Errorf("PlanRules = del %v add %v, want del %v add %v", del, add, tt.wantDel, tt.wantAdd)
			}
		})
	}
}

func TestENIGatewayAndRoutes(t *testing.T) {
	e := ports.ENINetwork{RouteTable: 3, PrimaryIP: addr("10.0.3.20"), SubnetCIDR: pfx("10.0.3.0/24")}
	if g := ENIGateway(e); g != addr("10.0.3.1") {
		t.Errorf("gateway = %s, want 10.0.3.1", g)
	}
	e.Gateway = addr("10.0.3.254")
	var lines []string
	for _, r := range ENIRoutes(e, "eth2") {
		lines = append(lines, r.String())
	}
	want := []string{"10.0.3.254 dev eth2 table 3 scope link", "default via 10.0.3.254 dev eth2 table 3"}
	if !slices.Equal(lines, want) {
		t.Errorf("ENIRoutes = %q, want %q", lines, want)
	}
}

func TestCheckPod(t *testing.T) {
	p := ports.PodSpec{IfName: "eth0", HostVeth: "enia", Addr: addr("10.0.2.7"), RouteTable: 2}
	good := func() (Snapshot, Snapshot) {
		node := Snapshot{
			Links:  []Link{{Name: "enia", MTU: 9001, Up: true, MAC: "02:00:00:00:00:aa"}},
			Routes: []Route{HostPodRoute(p)},
			Rules: []Rule{
				{Priority: PrioPodTo, To: pfx("10.0.2.7/32"), Table: TableMain},
				{Priority: PrioPodFrom, From: pfx("10.0.2.7/32"), Table: 2},
			},
		}
		pod := Snapshot{
			Links:  []Link{{Name: "eth0", MTU: 9001, Up: true, Addrs: []netip.Prefix{pfx("10.0.2.7/32")}}},
			Routes: PodRoutes("eth0"),
			Neighs: []Neigh{{Dev: "eth0", IP: PodGateway, MAC: "02:00:00:00:00:aa", State: "PERMANENT"}},
		}
		return node, pod
	}
	tests := []struct {
		name   string
		break_ func(node, pod *Snapshot)
		want   []string
	}{
		{"wired", func(*Snapshot, *Snapshot) {}, nil},
		{"no source rule", func(n, _ *Snapshot) { n.Rules = n.Rules[:1] }, []string{`rule "1536: from 10.0.2.7 lookup 2" missing`}},
		{"host veth down", func(n, _ *Snapshot) { n.Links[0].Up = false }, []string{"host veth enia down"}},
		{"stale neighbour MAC", func(_, p *Snapshot) { p.Neighs[0].MAC = "02:00:00:00:00:bb" },
			[]string{`pod neighbour "169.254.1.1 dev eth0 lladdr 02:00:00:00:00:aa PERMANENT" missing`}},
		{"no default route, no address", func(_, p *Snapshot) { p.Routes = p.Routes[:1]; p.Links[0].Addrs = nil },
			[]string{"pod address 10.0.2.7/32 missing on eth0", `pod route "default via 169.254.1.1 dev eth0" missing`}},
		{"host route gone with the veth", func(n, _ *Snapshot) { n.Links = nil; n.Routes = nil }, []string{
			"host veth enia missing",
			`host route "10.0.2.7 dev enia scope link" missing`,
			`pod neighbour "169.254.1.1 dev eth0 PERMANENT" missing`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, pod := good()
			tt.break_(&node, &pod)
			if got := CheckPod(node, pod, p); !slices.Equal(got, tt.want) {
				t.Errorf("CheckPod =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}
