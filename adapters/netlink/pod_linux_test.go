package netlink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func podSpec(id string, pod *testNS, name, addr string, table int) ports.PodSpec {
	return ports.PodSpec{
		ContainerID: id,
		Netns:       pod.path,
		IfName:      "eth0",
		HostVeth:    VethName("eni", "default", name),
		Addr:        netip.MustParseAddr(addr),
		MTU:         9001,
		RouteTable:  table,
	}
}

// Pod A is on the primary ENI (main), pod B on a secondary ENI (table 2).
const goldenPods = `rule 512: from all to 10.0.1.5 lookup main
rule 512: from all to 10.0.2.7 lookup main
rule 1536: from 10.0.2.7 lookup 2
route 10.0.1.5 dev eni5e1c4d6c68c scope link
route 10.0.2.7 dev eni2f5353dd8c5 scope link
link eni2f5353dd8c5 mtu 9001 up
link eni5e1c4d6c68c mtu 9001 up
`

func goldenPodSide(addr, hostMAC string) string {
	return fmt.Sprintf(`route default via 169.254.1.1 dev eth0
route 169.254.1.1 dev eth0 scope link
link eth0 mtu 9001 up inet %s/32
neigh 169.254.1.1 dev eth0 lladdr %s PERMANENT
`, addr, hostMAC)
}

func setupPod(t *testing.T, d ports.PodNetwork, p ports.PodSpec) ports.PodResult {
	t.Helper()
	res, err := d.SetupPod(context.Background(), p)
	if err != nil {
		t.Fatalf("SetupPod %s: %v", p.ContainerID, err)
	}
	return res
}

func renderPod(t *testing.T, d *Datapath, p ports.PodSpec) string {
	t.Helper()
	s, err := d.RenderPod(context.Background(), p)
	if err != nil {
		t.Fatalf("RenderPod %s: %v", p.ContainerID, err)
	}
	return s
}

// tcpEcho listens in one pod and dials from another: a line sent from the
// client comes back. It proves the two pods reach each other through the
// node's routes, rules and the static gateway neighbour.
func tcpEcho(t *testing.T, server, client *testNS, serverAddr netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := netns.Do(server.path, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", server.name, err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("echo " + line))
	}()
	var conn net.Conn
	if err := netns.Do(client.path, func() (err error) {
		// The deadline only bounds a broken datapath; it asserts nothing
		// about speed.
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 10*time.Second)
		return err
	}); err != nil {
		t.Fatalf("connect from %s to %s: %v", client.name, ln.Addr(), err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || got != "echo hello\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}
}

// podNeighbour reads the gateway's neighbour entry in the pod with a
// separate netlink socket.
func podNeighbour(t *testing.T, pod *testNS) (nl.Neigh, bool) {
	t.Helper()
	ns, err := pod.h.NeighList(0, nl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.IP.Equal(net.IPv4(169, 254, 1, 1)) {
			return n, true
		}
	}
	return nl.Neigh{}, false
}

func TestPodNetworkInNamespaces(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	node.writeSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	podA, podB := newTestNS(t, "poda"), newTestNS(t, "podb")
	d := newDatapath(t, Config{Netns: node.path})

	a := podSpec("ctr-a", podA, "pod-a", "10.0.1.5", 254)
	b := podSpec("ctr-b", podB, "pod-b", "10.0.2.7", 2)
	resA := setupPod(t, d, a)
	resB := setupPod(t, d, b)

	if got := render(t, d); got != goldenPods {
		t.Fatalf("node after SetupPod:\n%s\ndiff (+got -want):\n%s", got, diff(got, goldenPods))
	}
	if want := goldenPodSide("10.0.1.5", resA.HostMAC); renderPod(t, d, a) != want {
		t.Fatalf("pod A:\n%s", diff(renderPod(t, d, a), want))
	}
	if resA.HostVeth != a.HostVeth || resA.ContainerMAC == "" {
		t.Errorf("result = %+v", resA)
	}
	hw, _ := net.ParseMAC(resA.HostMAC)
	if len(hw) != 6 || hw[0]&0x02 == 0 || hw[0]&0x01 != 0 {
		t.Errorf("host MAC %s is not a unicast, locally administered address", resA.HostMAC)
	}
	if n, ok := podNeighbour(t, podB); !ok || n.State != unix.NUD_PERMANENT || n.HardwareAddr.String() != resB.HostMAC {
		t.Errorf("pod B gateway neighbour = %+v (found %v), want PERMANENT with %s", n, ok, resB.HostMAC)
	}
	for _, p := range []ports.PodSpec{a, b} {
		if err := d.CheckPod(ctx, p); err != nil {
			t.Errorf("CheckPod %s: %v", p.ContainerID, err)
		}
	}
	tcpEcho(t, podB, podA, b.Addr)
	tcpEcho(t, podA, podB, a.Addr)

	t.Run("retried ADD converges", func(t *testing.T) {
		again := setupPod(t, d, a)
		if again != resA {
			t.Errorf("second SetupPod = %+v, want the same pair %+v", again, resA)
		}
		if got := render(t, d); got != goldenPods {
			t.Fatalf("node changed:\n%s", diff(got, goldenPods))
		}
	})

	t.Run("CHECK names what is missing, ADD repairs it", func(t *testing.T) {
		podA.ip(t, "neigh", "del", "169.254.1.1", "dev", "eth0")
		node.ip(t, "rule", "del", "pref", "1536", "from", "10.0.2.7", "lookup", "2")
		node.ip(t, "route", "del", "10.0.2.7", "dev", b.HostVeth)
		errA, errB := d.CheckPod(ctx, a), d.CheckPod(ctx, b)
		if !errors.Is(errA, core.ErrNotFound) || !strings.Contains(errA.Error(), `pod neighbour "169.254.1.1 dev eth0 lladdr `+resA.HostMAC+` PERMANENT" missing`) {
			t.Errorf("CheckPod A = %v", errA)
		}
		for _, want := range []string{`rule "1536: from 10.0.2.7 lookup 2" missing`, `host route "10.0.2.7 dev eni2f5353dd8c5 scope link" missing`} {
			if errB == nil || !strings.Contains(errB.Error(), want) {
				t.Errorf("CheckPod B = %v, want it to name %s", errB, want)
			}
		}
		setupPod(t, d, a)
		setupPod(t, d, b)
		for _, p := range []ports.PodSpec{a, b} {
			if err := d.CheckPod(ctx, p); err != nil {
				t.Errorf("CheckPod %s after repair: %v", p.ContainerID, err)
			}
		}
		if got := render(t, d); got != goldenPods {
			t.Fatalf("node not repaired:\n%s", diff(got, goldenPods))
		}
	})

	t.Run("half-gone veth is recreated", func(t *testing.T) {
		node.ip(t, "link", "del", a.HostVeth)
		res := setupPod(t, d, a)
		if res.HostMAC == resA.HostMAC {
			t.Errorf("host MAC unchanged after recreation: %s", res.HostMAC)
		}
		if got := render(t, d); got != goldenPods {
			t.Fatalf("node:\n%s", diff(got, goldenPods))
		}
		if want := goldenPodSide("10.0.1.5", res.HostMAC); renderPod(t, d, a) != want {
			t.Fatalf("pod A:\n%s", diff(renderPod(t, d, a), want))
		}
		tcpEcho(t, podB, podA, b.Addr)
	})

	t.Run("teardown leaves nothing and can repeat", func(t *testing.T) {
		for _, p := range []ports.PodSpec{a, b, a, b} {
			if err := d.TeardownPod(ctx, p); err != nil {
				t.Fatalf("TeardownPod %s: %v", p.ContainerID, err)
			}
		}
		if got := render(t, d); got != "" {
			t.Errorf("node after teardown:\n%s", got)
		}
		for _, p := range []ports.PodSpec{a, b} {
			if got := renderPod(t, d, p); got != "" {
				t.Errorf("pod %s after teardown:\n%s", p.ContainerID, got)
			}
		}
		if _, ok := podNeighbour(t, podA); ok {
			t.Error("pod A still has a gateway neighbour")
		}
		if err := d.CheckPod(ctx, a); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("CheckPod after teardown = %v, want ErrNotFound", err)
		}
	})
}

// A DEL after the runtime removed the sandbox: the namespace (and with it
// the veth) is gone, the node's rules are not.
func TestTeardownPodWithoutNamespace(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	d := newDatapath(t, Config{Netns: node.path})

	name := "vpccni-podc-" + randSuffix()
	path, err := netns.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(name) })
	c := ports.PodSpec{ContainerID: "ctr-c", Netns: path, IfName: "eth0", HostVeth: VethName("eni", "default", "pod-c"),
		Addr: netip.MustParseAddr("10.0.2.8"), MTU: 9001, RouteTable: 2}
	setupPod(t, d, c)
	if err := netns.Delete(name); err != nil {
		t.Fatal(err)
	}
	// The kernel destroys a namespace asynchronously; wait for the veth to
	// go with it (bounded, so a kernel that never cleans up fails here).
	for i := 0; ; i++ {
		if _, err := node.h.LinkByName(c.HostVeth); err != nil {
			break
		}
		if i == 1000 {
			t.Fatal("host veth still present long after its namespace was deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := "rule 512: from all to 10.0.2.8 lookup main\nrule 1536: from 10.0.2.8 lookup 2\n"
	if got := render(t, d); got != want {
		t.Fatalf("before teardown:\n%s", diff(got, want))
	}
	for range 2 {
		if err := d.TeardownPod(ctx, c); err != nil {
			t.Fatalf("TeardownPod without namespace: %v", err)
		}
	}
	if got := render(t, d); got != "" {
		t.Errorf("after teardown:\n%s", got)
	}
	if _, err := d.SetupPod(ctx, c); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetupPod into a deleted namespace = %v, want ErrNotFound", err)
	}
}

func TestSetupPodRejectsBadSpecs(t *testing.T) {
	needRoot(t)
	node := newTestNS(t, "node")
	pod := newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	good := podSpec("ctr", pod, "p", "10.0.1.9", 254)
	tests := []struct {
		name string
		edit func(p *ports.PodSpec)
	}{
		{"no netns", func(p *ports.PodSpec) { p.Netns = "" }},
		{"long veth name", func(p *ports.PodSpec) { p.HostVeth = "eni0123456789abc" }},
		{"IPv6", func(p *ports.PodSpec) { p.Addr = netip.MustParseAddr("2001:db8::1") }},
		{"no table", func(p *ports.PodSpec) { p.RouteTable = 0 }},
	}
	for _, tt := range tests {
		p := good
		tt.edit(&p)
		if _, err := d.SetupPod(context.Background(), p); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("%s: SetupPod = %v, want ErrInvalidParameter", tt.name, err)
		}
	}
	if got := render(t, d); got != "" {
		t.Errorf("rejected specs left state:\n%s", got)
	}
}

// BenchmarkPodSetupTeardown measures one SetupPod plus one TeardownPod in
// process: the kernel floor the plugin's ADD+DEL latency compares against.
func BenchmarkPodSetupTeardown(b *testing.B) {
	needRoot(b)
	ctx := context.Background()
	node := newTestNS(b, "node")
	pod := newTestNS(b, "pod")
	d := newDatapath(b, Config{Netns: node.path})
	p := podSpec("ctr-bench", pod, "pod-bench", "10.0.2.9", 2)
	for b.Loop() {
		if _, err := d.SetupPod(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := d.TeardownPod(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// A DEL for an old sandbox that arrives after the pod's new sandbox took
// the same host veth name must leave the new sandbox wired.
func TestStaleTeardownKeepsNewSandbox(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	oldNS, newNS := newTestNS(t, "podold"), newTestNS(t, "podnew")
	d := newDatapath(t, Config{Netns: node.path})
	old := podSpec("ctr-old", oldNS, "web-0", "10.0.1.20", 254)
	cur := podSpec("ctr-new", newNS, "web-0", "10.0.1.21", 254)
	setupPod(t, d, old)
	setupPod(t, d, cur) // same veth name: the old pair is replaced
	if err := d.TeardownPod(ctx, old); err != nil {
		t.Fatalf("stale TeardownPod: %v", err)
	}
	if err := d.CheckPod(ctx, cur); err != nil {
		t.Fatalf("new sandbox damaged by the stale DEL: %v", err)
	}
	want := "rule 512: from all to 10.0.1.21 lookup main\nroute 10.0.1.21 dev eni" + VethName("", "default", "web-0") +
		" scope link\nlink eni" + VethName("", "default", "web-0") + " mtu 9001 up\n"
	if got := render(t, d); got != want {
		t.Fatalf("node:\n%s", diff(got, want))
	}
	// The host end got the IPv6 settings before it came up.
	for key, want := range map[string]string{"accept_ra": "0", "accept_redirects": "1", "forwarding": "0"} {
		var got []byte
		path := "/proc/sys/net/ipv6/conf/" + cur.HostVeth + "/" + key
		if err := netns.Do(node.path, func() (err error) { got, err = os.ReadFile(path); return err }); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				t.Skipf("kernel without IPv6: %v", err)
			}
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s = %q, want %s", path, got, want)
		}
	}
}

// A name taken by something that is not a veth (a bridge here) is not deleted: the pod
// fails with ErrDuplicate and nothing is created on either side.
func TestSetupPodRefusesForeignLinks(t *testing.T) {
	needRoot(t)
	for _, side := range []string{"node", "pod"} {
		t.Run(side, func(t *testing.T) {
			node, pod := newTestNS(t, "node"), newTestNS(t, "pod")
			d := newDatapath(t, Config{Netns: node.path})
			p := podSpec("ctr-x", pod, "x", "10.0.1.9", 254)
			owner, name := node, p.HostVeth
			if side == "pod" {
				owner, name = pod, p.IfName
			}
			owner.ip(t, "link", "add", name, "type", "bridge")
			_, err := d.SetupPod(context.Background(), p)
			if !errors.Is(err, core.ErrDuplicate) || !strings.Contains(err.Error(), name) {
				t.Fatalf("SetupPod = %v, want ErrDuplicate naming %s", err, name)
			}
			links := func(ns *testNS) []string {
				var out []string
				ls, err := ns.h.LinkList()
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range ls {
					out = append(out, l.Attrs().Name+"/"+l.Type())
				}
				return out
			}
			wantNode, wantPod := "[lo/device]", "[lo/device]"
			if side == "node" {
				wantNode = "[lo/device " + name + "/bridge]"
			} else {
				wantPod = "[lo/device " + name + "/bridge]"
			}
			if got := fmt.Sprint(links(node)); got != wantNode {
				t.Errorf("node links = %s, want %s", got, wantNode)
			}
			if got := fmt.Sprint(links(pod)); got != wantPod {
				t.Errorf("pod links = %s, want %s", got, wantPod)
			}
		})
	}
}

// A retried ADD with another MTU keeps the pair and changes both ends.
func TestSetupPodAgainChangesMTU(t *testing.T) {
	needRoot(t)
	node, pod := newTestNS(t, "node"), newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	p := podSpec("ctr-m", pod, "m", "10.0.1.11", 254)
	first := setupPod(t, d, p)
	p.MTU = 1500
	again := setupPod(t, d, p)
	if again != first {
		t.Errorf("second SetupPod = %+v, want the same pair %+v", again, first)
	}
	for _, l := range vethEnds(t, node, pod, p) {
		if l.Attrs().MTU != 1500 {
			t.Errorf("%s MTU = %d, want 1500", l.Attrs().Name, l.Attrs().MTU)
		}
	}
}

// vethEnds looks up both ends of p's veth pair, the node's first.
func vethEnds(t *testing.T, node, pod *testNS, p ports.PodSpec) []nl.Link {
	t.Helper()
	var ends []nl.Link
	for _, end := range []struct {
		ns   *testNS
		name string
	}{{node, p.HostVeth}, {pod, p.IfName}} {
		l, err := end.ns.h.LinkByName(end.name)
		if err != nil {
			t.Fatal(err)
		}
		ends = append(ends, l)
	}
	return ends
}

// Both ends of a pod's veth are made with one queue each way, not one per
// possible CPU cut back to one afterwards (which waits for an RCU grace
// period per end; see createVeth). On a single-CPU machine the kernel's
// default is one queue as well, so there this cannot tell the difference.
func TestPodVethHasOneQueueEachWay(t *testing.T) {
	needRoot(t)
	node, pod := newTestNS(t, "node"), newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	p := podSpec("ctr-q", pod, "q", "10.0.1.12", 254)
	setupPod(t, d, p)
	for _, l := range vethEnds(t, node, pod, p) {
		if a := l.Attrs(); a.NumTxQueues != 1 || a.NumRxQueues != 1 {
			t.Errorf("%s has %d tx and %d rx queues, want 1 and 1", a.Name, a.NumTxQueues, a.NumRxQueues)
		}
	}
}
