package datapathmem

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// The same scenario and golden texts as adapters/netlink's
// TestSyncPodRulesRestoresFlushedRules: pods A (main), B and F (table 2)
// wired, then F's sandbox gone without a DEL (its rules stay).
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
	n := newNode(t) // eth0..eth2: links HostVeths must not list
	a := podSpec("ctr-a", "/run/netns/a", "eni5e1c4d6c68c", "10.0.1.5", 254)
	b := podSpec("ctr-b", "/run/netns/b", "eni2f5353dd8c5", "10.0.2.7", 2)
	f := podSpec("ctr-f", "/run/netns/f", "enib55503818c4", "10.0.2.8", 2)
	missing := ports.PodRoute{Addr: addr("10.0.2.11"), RouteTable: 2, HostVeth: "enid6b219bf875"}
	for _, p := range []ports.PodSpec{a, b, f} {
		if _, err := n.SetupPod(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	n.DeleteNetns(f.Netns)
	if got := render(t, n); got != goldenPodSync {
		t.Fatalf("node before the flush:\n%s\nwant:\n%s", got, goldenPodSync)
	}

	veths, err := n.HostVeths(ctx)
	if err != nil {
		t.Fatalf("HostVeths: %v", err)
	}
	if want := []string{b.HostVeth, a.HostVeth}; !slices.Equal(slices.Sorted(maps.Keys(veths)), want) {
		t.Errorf("HostVeths = %v, want exactly %v", slices.Sorted(maps.Keys(veths)), want)
	}

	for _, line := range []string{
		"rule 512: from all to 10.0.1.5 lookup main",
		"rule 512: from all to 10.0.2.7 lookup main",
		"rule 512: from all to 10.0.2.8 lookup main",
		"rule 1536: from 10.0.2.7 lookup 2",
	} {
		if !n.DeleteRule(line) {
			t.Fatalf("%s not found", line)
		}
	}
	if !n.DeleteRoute("route 10.0.2.7 dev eni2f5353dd8c5 scope link") {
		t.Fatal("route not found")
	}

	listed := []ports.PodRoute{podRoute(a), podRoute(b), missing}
	for i := range 2 { // the second pass finds nothing to do
		if err := n.SyncPodRules(ctx, listed); err != nil {
			t.Fatalf("SyncPodRules pass %d: %v", i+1, err)
		}
		if got := render(t, n); got != goldenPodSyncRepaired {
			t.Fatalf("node after SyncPodRules pass %d:\n%s\nwant:\n%s", i+1, got, goldenPodSyncRepaired)
		}
	}
	for _, p := range []ports.PodSpec{a, b} {
		if err := n.CheckPod(ctx, p); err != nil {
			t.Errorf("CheckPod %s after repair: %v", p.ContainerID, err)
		}
	}

	n.DeleteRule("rule 512: from all to 10.0.1.5 lookup main")
	bad := ports.PodRoute{Addr: addr("fd00::5"), RouteTable: 2, HostVeth: a.HostVeth}
	if err := n.SyncPodRules(ctx, []ports.PodRoute{bad, podRoute(a)}); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("SyncPodRules with an IPv6 entry = %v, want ErrInvalidParameter", err)
	}
	if got := render(t, n); got != goldenPodSyncRepaired {
		t.Errorf("valid entry not repaired next to a bad one:\n%s", got)
	}

	// Injected faults surface unchanged.
	boom := errors.New("boom")
	n.InjectError("HostVeths", boom)
	n.InjectError("SyncPodRules", boom)
	if _, err := n.HostVeths(ctx); !errors.Is(err, boom) {
		t.Errorf("HostVeths with a fault = %v", err)
	}
	if err := n.SyncPodRules(ctx, listed); !errors.Is(err, boom) {
		t.Errorf("SyncPodRules with a fault = %v", err)
	}
}

// HostVeths lists the pods' veths whatever their prefix (the setting may
// have changed since they were wired) and no other link, even one named
// like a pod's veth; as adapters/netlink's TestHostVethsAnyPrefix.
func TestHostVethsAnyPrefix(t *testing.T) {
	n, err := New(Config{VethPrefix: "eni", Links: []Link{
		{Name: "eth0", MAC: mac0, Up: true},
		{Name: "eni0123456789a", MAC: mac1}, // not a veth
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := podSpec("ctr-a", "/run/netns/a", "eni5e1c4d6c68c", "10.0.1.5", 254)
	c := podSpec("ctr-c", "/run/netns/c", "cali2f5353dd8c5", "10.0.1.9", 254)
	for _, p := range []ports.PodSpec{a, c} {
		if _, err := n.SetupPod(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	veths, err := n.HostVeths(ctx)
	if err != nil {
		t.Fatalf("HostVeths: %v", err)
	}
	if want := []string{c.HostVeth, a.HostVeth}; !slices.Equal(slices.Sorted(maps.Keys(veths)), want) {
		t.Errorf("HostVeths = %v, want exactly %v", slices.Sorted(maps.Keys(veths)), want)
	}
}
