package netlink

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// The pod-rule repair scenario, shared with adapters/datapathmem (same
// text): pods A (main), B and F (table 2) wired, then F's veth deleted
// (a DEL cut short: its rules stay, its route went with the link).
const goldenPodSync = `rule 512: from all to 10.0.1.5 lookup main
rule 512: from all to 10.0.2.7 lookup main
rule 512: from all to 10.0.2.8 lookup main
rule 1536: from 10.0.2.7 lookup 2
rule 1536: from 10.0.2.8 lookup 2
route 10.0.1.5 dev eni5e1c4d6c68c scope link
route 10.0.2.7 dev eni2f5353dd8c5 scope link
link eni2f5353dd8c5 mtu 9001 up
link eni5e1c4d6c68c mtu 9001 up
`

// After the out-of-band flush and SyncPodRules for A, B and D (no veth):
// A's and B's objects are back, F's 512 rule (F is not listed) is not,
// F's 1536 rule is not deleted, and nothing appears for D.
const goldenPodSyncRepaired = `rule 512: from all to 10.0.1.5 lookup main
rule 512: from all to 10.0.2.7 lookup main
rule 1536: from 10.0.2.7 lookup 2
rule 1536: from 10.0.2.8 lookup 2
route 10.0.1.5 dev eni5e1c4d6c68c scope link
route 10.0.2.7 dev eni2f5353dd8c5 scope link
link eni2f5353dd8c5 mtu 9001 up
link eni5e1c4d6c68c mtu 9001 up
`

func podRoute(p ports.PodSpec) ports.PodRoute {
	return ports.PodRoute{Addr: p.Addr, RouteTable: p.RouteTable, HostVeth: p.HostVeth}
}

func TestSyncPodRulesRestoresFlushedRules(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := nodeWithNICs(t) // eth0..eth2: links HostVeths must not list
	node.writeSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	podA, podB, podF := newTestNS(t, "poda"), newTestNS(t, "podb"), newTestNS(t, "podf")
	d := newDatapath(t, Config{Netns: node.path})

	a := podSpec("ctr-a", podA, "pod-a", "10.0.1.5", 254)
	b := podSpec("ctr-b", podB, "pod-b", "10.0.2.7", 2)
	f := podSpec("ctr-f", podF, "pod-f", "10.0.2.8", 2)
	missing := ports.PodRoute{Addr: netip.MustParseAddr("10.0.2.11"), RouteTable: 2, HostVeth: VethName("eni", "default", "pod-d")}
	for _, p := range []ports.PodSpec{a, b, f} {
		setupPod(t, d, p)
	}
	node.ip(t, "link", "del", f.HostVeth)
	if got := render(t, d); got != goldenPodSync {
		t.Fatalf("node before the flush:\n%s\ndiff (+got -want):\n%s", got, diff(got, goldenPodSync))
	}

	veths, err := d.HostVeths(ctx)
	if err != nil {
		t.Fatalf("HostVeths: %v", err)
	}
	if want := []string{b.HostVeth, a.HostVeth}; !slices.Equal(slices.Sorted(maps.Keys(veths)), want) {
		t.Errorf("HostVeths = %v, want exactly %v", slices.Sorted(maps.Keys(veths)), want)
	}

	// A network manager flushes the pod rules and a route.
	node.ip(t, "rule", "del", "pref", "512", "to", "10.0.1.5", "lookup", "main")
	node.ip(t, "rule", "del", "pref", "512", "to", "10.0.2.7", "lookup", "main")
	node.ip(t, "rule", "del", "pref", "512", "to", "10.0.2.8", "lookup", "main")
	node.ip(t, "rule", "del", "pref", "1536", "from", "10.0.2.7", "lookup", "2")
	node.ip(t, "route", "del", "10.0.2.7", "dev", b.HostVeth)
	if got := render(t, d); got == goldenPodSyncRepaired {
		t.Fatal("the flush changed nothing")
	}

	listed := []ports.PodRoute{podRoute(a), podRoute(b), missing}
	for i := range 2 { // the second pass finds nothing to do
		if err := d.SyncPodRules(ctx, listed); err != nil {
			t.Fatalf("SyncPodRules pass %d: %v", i+1, err)
		}
		if got := render(t, d); got != goldenPodSyncRepaired {
			t.Fatalf("node after SyncPodRules pass %d:\n%s\ndiff (+got -want):\n%s", i+1, got, diff(got, goldenPodSyncRepaired))
		}
	}
	for _, p := range []ports.PodSpec{a, b} {
		if err := d.CheckPod(ctx, p); err != nil {
			t.Errorf("CheckPod %s after repair: %v", p.ContainerID, err)
		}
	}
	tcpEcho(t, podA, podB, a.Addr)

	// A bad entry is reported and does not stop the others.
	node.ip(t, "rule", "del", "pref", "512", "to", "10.0.1.5", "lookup", "main")
	bad := ports.PodRoute{Addr: netip.MustParseAddr("fd00::5"), RouteTable: 2, HostVeth: a.HostVeth}
	if err := d.SyncPodRules(ctx, []ports.PodRoute{bad, podRoute(a)}); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("SyncPodRules with an IPv6 entry = %v, want ErrInvalidParameter", err)
	}
	if got := render(t, d); got != goldenPodSyncRepaired {
		t.Errorf("valid entry not repaired next to a bad one:\n%s", diff(got, goldenPodSyncRepaired))
	}
}

// HostVeths lists the pods' veths whatever their prefix (the setting may
// have changed since they were wired) and no other link, even one named
// like a pod's veth.
func TestHostVethsAnyPrefix(t *testing.T) {
	needRoot(t)
	node := nodeWithNICs(t)
	node.writeSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	podA, podC := newTestNS(t, "poda"), newTestNS(t, "podc")
	d := newDatapath(t, Config{Netns: node.path})
	a := podSpec("ctr-a", podA, "pod-a", "10.0.1.5", 254)
	c := podSpec("ctr-c", podC, "pod-c", "10.0.1.9", 254)
	c.HostVeth = VethName("cali", "default", "pod-c")
	setupPod(t, d, a)
	setupPod(t, d, c)
	node.ip(t, "link", "add", "eni0123456789a", "type", "bridge")

	veths, err := d.HostVeths(context.Background())
	if err != nil {
		t.Fatalf("HostVeths: %v", err)
	}
	if want := []string{c.HostVeth, a.HostVeth}; !slices.Equal(slices.Sorted(maps.Keys(veths)), want) {
		t.Errorf("HostVeths = %v, want exactly %v", slices.Sorted(maps.Keys(veths)), want)
	}
}
