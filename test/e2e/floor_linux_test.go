package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	nl "github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/app/local"
	"github.com/vpc-cni/vpc-cni/ports"
)

// stepsFloor wires pods with the steps the issue lists for the kernel
// floor, one netlink call each, in-process: a veth pair created in the
// pod's namespace, its host end then moved to the node's namespace, both
// ends up, the pod's address, its two routes through the link-local
// gateway, the gateway's static ARP entry, the node's route to the pod and
// its two rules (to the pod, and from it to its ENI's table). The links get
// the attributes adapters/netlink gives them (MTU, one queue each way), so
// the one difference from that datapath is the move: adapters/netlink (and
// upstream's plugin today) creates the pair across the two namespaces in
// one request instead.
type stepsFloor struct {
	tb     testing.TB
	node   vnetns.NsHandle
	h      *nl.Handle
	specs  []ports.PodSpec
	close  func()
	hostIx []int
}

func newStepsFloor(tb testing.TB, count int) *stepsFloor {
	tb.Helper()
	needRoot(tb)
	id := fmt.Sprintf("%07x", time.Now().UnixNano()%(1<<28))
	var cleanups []func()
	f := &stepsFloor{tb: tb, node: vnetns.None(), hostIx: make([]int, count), close: sync.OnceFunc(func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	})}
	fail := func(err error) {
		f.close()
		tb.Fatal(err)
	}
	node, err := netns.Create("vpccni-steps-" + id)
	if err != nil {
		fail(err)
	}
	cleanups = append(cleanups, func() { _ = netns.Delete(filepath.Base(node)) })
	if f.node, err = vnetns.GetFromPath(node); err != nil {
		fail(err)
	}
	cleanups = append(cleanups, func() { _ = f.node.Close() })
	if f.h, err = nl.NewHandleAt(f.node, unix.NETLINK_ROUTE); err != nil {
		fail(err)
	}
	cleanups = append(cleanups, f.h.Close)
	for i := 0; i < count; i++ {
		pod, err := netns.Create(fmt.Sprintf("vpccni-steps-%s-%d", id, i))
		if err != nil {
			fail(err)
		}
		cleanups = append(cleanups, func() { _ = netns.Delete(filepath.Base(pod)) })
		f.specs = append(f.specs, ports.PodSpec{
			Netns: pod, IfName: "eth0", HostVeth: fmt.Sprintf("stp%s%d", id[:4], i),
			Addr: netip.AddrFrom4([4]byte{10, 0, 1 + byte(i/250), byte(i%250 + 1)}), MTU: local.PodMTU, RouteTable: 2,
		})
	}
	return f
}

var gateway = net.IPv4(169, 254, 1, 1)

// host32 is ip as a /32 prefix.
func host32(ip net.IP) *net.IPNet { return &net.IPNet{IP: ip, Mask: net.CIDRMask(32, 32)} }

// add wires pod i with the listed steps and returns how long it took.
func (f *stepsFloor) add(i int) time.Duration {
	start := time.Now()
	if err := f.wire(f.specs[i], i); err != nil {
		f.close()
		f.tb.Fatalf("steps floor, pod %d: %v", i, err)
	}
	return time.Since(start)
}

func (f *stepsFloor) wire(p ports.PodSpec, i int) error {
	podNs, err := vnetns.GetFromPath(p.Netns)
	if err != nil {
		return err
	}
	defer podNs.Close()
	ph, err := nl.NewHandleAt(podNs, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer ph.Close()

	attrs := nl.NewLinkAttrs()
	attrs.Name, attrs.MTU, attrs.NumTxQueues, attrs.NumRxQueues = p.IfName, p.MTU, 1, 1
	veth := &nl.Veth{LinkAttrs: attrs, PeerName: p.HostVeth}
	if err := ph.LinkAdd(veth); err != nil {
		return fmt.Errorf("veth: %w", err)
	}
	host, err := ph.LinkByName(p.HostVeth)
	if err != nil {
		return err
	}
	if err := ph.LinkSetNsFd(host, int(f.node)); err != nil {
		return fmt.Errorf("move: %w", err)
	}
	if host, err = f.h.LinkByName(p.HostVeth); err != nil {
		return err
	}
	f.hostIx[i] = host.Attrs().Index
	if err := f.h.LinkSetUp(host); err != nil {
		return err
	}
	if err := ph.LinkSetUp(veth); err != nil {
		return err
	}
	addr := host32(p.Addr.AsSlice())
	if err := ph.AddrAdd(veth, &nl.Addr{IPNet: addr}); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	podIx := veth.Attrs().Index
	if err := ph.RouteAdd(&nl.Route{LinkIndex: podIx, Dst: host32(gateway), Scope: nl.SCOPE_LINK}); err != nil {
		return fmt.Errorf("gateway route: %w", err)
	}
	if err := ph.RouteAdd(&nl.Route{LinkIndex: podIx, Gw: gateway}); err != nil {
		return fmt.Errorf("default route: %w", err)
	}
	if err := ph.NeighAdd(&nl.Neigh{LinkIndex: podIx, Family: nl.FAMILY_V4, State: nl.NUD_PERMANENT, IP: gateway, HardwareAddr: host.Attrs().HardwareAddr}); err != nil {
		return fmt.Errorf("ARP entry: %w", err)
	}
	if err := f.h.RouteAdd(&nl.Route{LinkIndex: host.Attrs().Index, Dst: addr, Scope: nl.SCOPE_LINK}); err != nil {
		return fmt.Errorf("host route: %w", err)
	}
	for _, r := range f.rules(p) {
		if err := f.h.RuleAdd(r); err != nil {
			return fmt.Errorf("rule: %w", err)
		}
	}
	return nil
}

func (f *stepsFloor) rules(p ports.PodSpec) []*nl.Rule {
	addr := host32(p.Addr.AsSlice())
	to := nl.NewRule()
	to.Dst, to.Table, to.Priority = addr, unix.RT_TABLE_MAIN, 512
	from := nl.NewRule()
	from.Src, from.Table, from.Priority = addr, p.RouteTable, 1536
	return []*nl.Rule{to, from}
}

// del removes pod i's veth pair (the pod end goes with it) and rules.
func (f *stepsFloor) del(i int) {
	p := f.specs[i]
	err := f.h.LinkDel(&nl.Veth{LinkAttrs: nl.LinkAttrs{Index: f.hostIx[i], Name: p.HostVeth}})
	for _, r := range f.rules(p) {
		if rerr := f.h.RuleDel(r); err == nil {
			err = rerr
		}
	}
	if err != nil {
		f.close()
		f.tb.Fatalf("steps floor, delete pod %d: %v", i, err)
	}
}

// The steps floor leaves the pod wired as the plugin would (a veth pair
// across the two namespaces, the node's route to the pod, the gateway's
// ARP entry in the pod, both rules), and deleting it leaves no link or rule
// behind.
func TestStepsFloorWires(t *testing.T) {
	f := newStepsFloor(t, 1)
	defer f.close()
	f.add(0)
	p := f.specs[0]
	host, err := f.h.LinkByName(p.HostVeth)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := f.h.RouteList(host, nl.FAMILY_V4)
	if err != nil || len(routes) != 1 || routes[0].Dst.String() != p.Addr.String()+"/32" {
		t.Fatalf("node routes via %s = %v, %v; want one to %s/32", p.HostVeth, routes, err, p.Addr)
	}
	podNs, err := vnetns.GetFromPath(p.Netns)
	if err != nil {
		t.Fatal(err)
	}
	defer podNs.Close()
	ph, err := nl.NewHandleAt(podNs, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	eth0, err := ph.LinkByName(p.IfName)
	if err != nil || eth0.Attrs().ParentIndex != host.Attrs().Index {
		t.Fatalf("pod %s = %v, %v; want the peer of node link %d", p.IfName, eth0, err, host.Attrs().Index)
	}
	neighs, err := ph.NeighList(eth0.Attrs().Index, nl.FAMILY_V4)
	if err != nil || len(neighs) != 1 || !neighs[0].IP.Equal(gateway) || neighs[0].HardwareAddr.String() != host.Attrs().HardwareAddr.String() {
		t.Fatalf("pod neighbours = %v, %v; want %s at %s", neighs, err, gateway, host.Attrs().HardwareAddr)
	}
	rules, err := f.h.RuleList(nl.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		rules, _ := f.h.RuleList(nl.FAMILY_V4)
		for _, r := range rules {
			if (r.Dst != nil && r.Dst.IP.Equal(p.Addr.AsSlice())) || (r.Src != nil && r.Src.IP.Equal(p.Addr.AsSlice())) {
				n++
			}
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("rules of %s = %d in %v, want 2", p.Addr, n, rules)
	}
	f.del(0)
	if _, err := f.h.LinkByName(p.HostVeth); err == nil {
		t.Errorf("%s still exists after del", p.HostVeth)
	}
	if n := count(); n != 0 {
		t.Errorf("rules of %s after del = %d, want 0", p.Addr, n)
	}
}
