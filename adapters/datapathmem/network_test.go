package datapathmem

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
	ctx  = context.Background()
)

const (
	mac0 = "02:00:00:00:00:10"
	mac1 = "02:00:00:00:00:11"
	mac2 = "02:00:00:00:00:12"
)

var (
	hostCfg = ports.HostConfig{
		PrimaryMAC: mac0, PrimaryIP: addr("10.0.0.10"), MTU: 9001,
		ConnmarkRule: true, Mark: 0x80,
		ExternalServiceCIDRs: []netip.Prefix{pfx("10.100.0.0/16"), pfx("192.168.5.0/24")},
		NodePortSupport:      true,
	}
	eni1 = ports.ENINetwork{ID: "eni-1", MAC: mac1, DeviceNumber: 1, RouteTable: core.RouteTableFor(0, 1),
		PrimaryIP: addr("10.0.2.10"), SubnetCIDR: pfx("10.0.2.0/24"), MTU: 9001}
	eni2 = ports.ENINetwork{ID: "eni-2", MAC: mac2, NetworkCard: 1, RouteTable: core.RouteTableFor(1, 0),
		PrimaryIP: addr("10.0.3.20"), SubnetCIDR: pfx("10.0.3.0/24"), Gateway: addr("10.0.3.1"), MTU: 9001}
)

// The same golden text as adapters/netlink's namespace test.
const goldenHost = `rule 1024: from all fwmark 0x80/0x80 lookup main
rule 1535: from all to 10.100.0.0/16 lookup main
rule 1535: from all to 192.168.5.0/24 lookup main
rule 32765: from 10.0.2.10 lookup 2
rule 32765: from 10.0.3.20 lookup 10100
route default via 10.0.2.1 dev eth1 table 2
route 10.0.2.1 dev eth1 table 2 scope link
route default via 10.0.3.1 dev eth2 table 10100
route 10.0.3.1 dev eth2 table 10100 scope link
link eth0 mtu 9001 up inet 10.0.0.10/24
link eth1 mtu 9001 up inet 10.0.2.10/24
link eth2 mtu 9001 up inet 10.0.3.20/24
sysctl net.ipv4.conf.eth0.rp_filter = 2
`

func newNode(t *testing.T) *Network {
	t.Helper()
	n, err := New(Config{Links: []Link{
		{Name: "eth0", MAC: mac0, Up: true, Addrs: []netip.Prefix{pfx("10.0.0.10/24")}},
		{Name: "eth1", MAC: mac1},
		{Name: "eth2", MAC: mac2, Addrs: []netip.Prefix{pfx("10.0.3.99/24")}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func render(t *testing.T, n *Network) string {
	t.Helper()
	s, err := n.Render(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func setupNode(t *testing.T, n *Network) {
	t.Helper()
	if err := n.SetupHost(ctx, hostCfg); err != nil {
		t.Fatal(err)
	}
	if p := n.PrimaryInterface(); p != "eth0" { // the link with the primary MAC
		t.Fatalf("PrimaryInterface after SetupHost = %q, want eth0", p)
	}
	for _, e := range []ports.ENINetwork{eni1, eni2} {
		if err := n.SetupENI(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHostSetupRepairTeardown(t *testing.T) {
	n := newNode(t)
	setupNode(t, n)
	if got := render(t, n); got != goldenHost {
		t.Fatalf("after setup:\n%s\nwant:\n%s", got, goldenHost)
	}
	setupNode(t, n)
	if got := render(t, n); got != goldenHost {
		t.Fatalf("second setup changed state:\n%s", got)
	}

	// What a network manager restart does to upstream nodes (#3309).
	n.FlushRules()
	if !n.DeleteRoute("route default via 10.0.2.1 dev eth1 table 2") {
		t.Fatal("DeleteRoute found nothing")
	}
	if n.DeleteRule("rule 32765: from 10.0.2.10 lookup 2") {
		t.Fatal("DeleteRule found a flushed rule")
	}
	broken := render(t, n)
	if strings.Contains(broken, "rule ") || strings.Contains(broken, "default via 10.0.2.1") {
		t.Fatalf("tampering not visible:\n%s", broken)
	}
	if !strings.Contains(broken, "route 10.0.2.1 dev eth1 table 2 scope link\n") || !strings.Contains(broken, "link eth1 ") {
		t.Fatalf("a set-up ENI's table and link must stay visible without its rule:\n%s", broken)
	}
	setupNode(t, n)
	if got := render(t, n); got != goldenHost {
		t.Fatalf("not repaired:\n%s", got)
	}

	if err := n.TeardownENI(ctx, eni1); err != nil {
		t.Fatal(err)
	}
	got := render(t, n)
	if strings.Contains(got, "eth1") || strings.Contains(got, "lookup 2\n") {
		t.Fatalf("after TeardownENI:\n%s", got)
	}
}

func TestHostErrors(t *testing.T) {
	n := newNode(t)
	missing := eni1
	missing.MAC = "02:00:00:00:00:99"
	if err := n.SetupENI(ctx, missing); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "02:00:00:00:00:99") {
		t.Errorf("SetupENI with an absent MAC = %v", err)
	}
	bad := eni1
	bad.RouteTable = 254
	if err := n.SetupENI(ctx, bad); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("SetupENI into main = %v", err)
	}
	// The ENI's link shows up later (attachment finished).
	if err := n.AddLink(Link{Name: "eth3", MAC: missing.MAC}); err != nil {
		t.Fatal(err)
	}
	if err := n.SetupENI(ctx, missing); err != nil {
		t.Errorf("SetupENI once the link exists: %v", err)
	}
	if err := n.AddLink(Link{Name: "eth3", MAC: "02:00:00:00:00:98"}); !errors.Is(err, core.ErrDuplicate) {
		t.Errorf("AddLink of an existing name = %v", err)
	}
	injected := errors.New("netlink says no")
	n.InjectError("SetupHost", injected)
	if err := n.SetupHost(ctx, hostCfg); !errors.Is(err, injected) {
		t.Errorf("injected SetupHost = %v", err)
	}
	if err := n.SetupHost(ctx, hostCfg); err != nil {
		t.Errorf("SetupHost after the injected failure: %v", err)
	}
}

func podSpec(id, netns, veth, a string, table int) ports.PodSpec {
	return ports.PodSpec{ContainerID: id, Netns: netns, IfName: "eth0", HostVeth: veth, Addr: addr(a), MTU: 9001, RouteTable: table}
}

func TestPods(t *testing.T) {
	n := newNode(t)
	a := podSpec("ctr-a", "/run/netns/a", "eni5e1c4d6c68c", "10.0.1.5", 254)
	b := podSpec("ctr-b", "/run/netns/b", "eni2f5353dd8c5", "10.0.2.7", 2)
	resA, err := n.SetupPod(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.SetupPod(ctx, b); err != nil {
		t.Fatal(err)
	}
	const golden = `rule 512: from all to 10.0.1.5 lookup main
rule 512: from all to 10.0.2.7 lookup main
rule 1536: from 10.0.2.7 lookup 2
route 10.0.1.5 dev eni5e1c4d6c68c scope link
route 10.0.2.7 dev eni2f5353dd8c5 scope link
link eni2f5353dd8c5 mtu 9001 up
link eni5e1c4d6c68c mtu 9001 up
`
	if got := render(t, n); got != golden {
		t.Fatalf("node:\n%s", got)
	}
	podSide, err := n.RenderPod(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	wantPod := fmt.Sprintf(`route default via 169.254.1.1 dev eth0
route 169.254.1.1 dev eth0 scope link
link eth0 mtu 9001 up inet 10.0.1.5/32
neigh 169.254.1.1 dev eth0 lladdr %s PERMANENT
`, resA.HostMAC)
	if podSide != wantPod {
		t.Fatalf("pod side:\n%s\nwant:\n%s", podSide, wantPod)
	}
	if again, err := n.SetupPod(ctx, a); err != nil || again != resA {
		t.Errorf("retried SetupPod = %+v, %v; want %+v", again, err, resA)
	}
	if err := n.CheckPod(ctx, b); err != nil {
		t.Errorf("CheckPod: %v", err)
	}
	n.DeleteRule("1536: from 10.0.2.7 lookup 2")
	if err := n.CheckPod(ctx, b); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `rule "1536: from 10.0.2.7 lookup 2" missing`) {
		t.Errorf("CheckPod after a lost rule = %v", err)
	}

	// The sandbox goes away before DEL: the veth goes with it, rules stay.
	n.DeleteNetns(b.Netns)
	got := render(t, n)
	if strings.Contains(got, "eni2f5353dd8c5") || !strings.Contains(got, "rule 512: from all to 10.0.2.7 lookup main") {
		t.Fatalf("after the namespace went:\n%s", got)
	}
	if _, err := n.SetupPod(ctx, b); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetupPod into a deleted namespace = %v", err)
	}
	for _, p := range []ports.PodSpec{a, b, a, b} {
		if err := n.TeardownPod(ctx, p); err != nil {
			t.Fatalf("TeardownPod %s: %v", p.ContainerID, err)
		}
	}
	if got := render(t, n); got != "" {
		t.Errorf("after teardown:\n%s", got)
	}
	if s, err := n.RenderPod(ctx, a); err != nil || s != "" {
		t.Errorf("pod A after teardown = %q, %v", s, err)
	}
}

func TestPodRejectsBadSpecs(t *testing.T) {
	n := newNode(t)
	p := podSpec("ctr", "/run/netns/x", "enix", "2001:db8::1", 254)
	if _, err := n.SetupPod(ctx, p); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("IPv6 pod = %v, want ErrInvalidParameter", err)
	}
}

func TestStaleTeardownKeepsNewSandbox(t *testing.T) {
	n := newNode(t)
	old := podSpec("ctr-old", "/run/netns/old", "enib2ad6e7b0f4", "10.0.1.20", 254)
	cur := podSpec("ctr-new", "/run/netns/new", "enib2ad6e7b0f4", "10.0.1.21", 254)
	for _, p := range []ports.PodSpec{old, cur} {
		if _, err := n.SetupPod(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.TeardownPod(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := n.CheckPod(ctx, cur); err != nil {
		t.Fatalf("new sandbox damaged by the stale DEL: %v", err)
	}
	want := "rule 512: from all to 10.0.1.21 lookup main\nroute 10.0.1.21 dev enib2ad6e7b0f4 scope link\nlink enib2ad6e7b0f4 mtu 9001 up\n"
	if got := render(t, n); got != want {
		t.Fatalf("node:\n%s", got)
	}
}
