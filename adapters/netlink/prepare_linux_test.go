package netlink

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// unaddressed is p as the plugin knows it before ipamd answers.
func unaddressed(p ports.PodSpec) ports.PodSpec {
	p.Addr, p.RouteTable = netip.Addr{}, 0
	return p
}

func preparePod(t *testing.T, d ports.PodNetwork, p ports.PodSpec) ports.PodResult {
	t.Helper()
	res, err := d.PreparePod(context.Background(), unaddressed(p))
	if err != nil {
		t.Fatalf("PreparePod %s: %v", p.ContainerID, err)
	}
	return res
}

// goldenPrepared is the pod side of a prepared, not yet addressed pair.
func goldenPrepared(hostMAC string) string {
	return `route default via 169.254.1.1 dev eth0
route 169.254.1.1 dev eth0 scope link
link eth0 mtu 9001 up
neigh 169.254.1.1 dev eth0 lladdr ` + hostMAC + ` PERMANENT
`
}

// However the wiring is split, the node and the pods end up with the same
// golden state as with SetupPod alone, and the pods reach each other.
func TestPreparePodThenSetupPodMatchesSetupPod(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name     string
		prepares int // PreparePod calls before SetupPod
	}{
		{"SetupPod alone", 0},
		{"PreparePod then SetupPod", 1},
		{"PreparePod twice then SetupPod", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			node := newTestNS(t, "node")
			node.writeSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
			podA, podB := newTestNS(t, "poda"), newTestNS(t, "podb")
			d := newDatapath(t, Config{Netns: node.path})
			a := podSpec("ctr-a", podA, "pod-a", "10.0.1.5", 254)
			b := podSpec("ctr-b", podB, "pod-b", "10.0.2.7", 2)
			results := map[string]ports.PodResult{}
			for _, p := range []ports.PodSpec{a, b} {
				var prepared ports.PodResult
				for i := 0; i < tt.prepares; i++ {
					res := preparePod(t, d, p)
					if i > 0 && res != prepared {
						t.Errorf("PreparePod %d = %+v, want the same pair %+v", i+1, res, prepared)
					}
					prepared = res
				}
				res := setupPod(t, d, p)
				if tt.prepares > 0 && res != prepared {
					t.Errorf("SetupPod after PreparePod = %+v, want the prepared pair %+v", res, prepared)
				}
				if d.prepared != nil {
					t.Errorf("SetupPod left the prepared pair of %s behind", d.prepared.hostVeth)
				}
				results[p.ContainerID] = res
			}
			if got := render(t, d); got != goldenPods {
				t.Fatalf("node:\n%s\ndiff (+got -want):\n%s", got, diff(got, goldenPods))
			}
			for _, p := range []ports.PodSpec{a, b} {
				if want, got := goldenPodSide(p.Addr.String(), results[p.ContainerID].HostMAC), renderPod(t, d, p); got != want {
					t.Fatalf("pod %s:\n%s\ndiff (+got -want):\n%s", p.ContainerID, got, diff(got, want))
				}
				if err := d.CheckPod(ctx, p); err != nil {
					t.Errorf("CheckPod %s: %v", p.ContainerID, err)
				}
			}
			tcpEcho(t, podB, podA, b.Addr)
			tcpEcho(t, podA, podB, a.Addr)
		})
	}
}

func TestPreparePodState(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	pod := newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	a := podSpec("ctr-a", pod, "pod-a", "10.0.1.5", 254)
	hostOnly := "link " + a.HostVeth + " mtu 9001 up\n"

	t.Run("prepared pair, twice", func(t *testing.T) {
		first := preparePod(t, d, a)
		if first.HostVeth != a.HostVeth || first.HostMAC == "" || first.ContainerMAC == "" {
			t.Errorf("PreparePod result = %+v", first)
		}
		if again := preparePod(t, d, a); again != first {
			t.Errorf("second PreparePod = %+v, want the same pair %+v", again, first)
		}
		if got := render(t, d); got != hostOnly {
			t.Fatalf("node:\n%s", diff(got, hostOnly))
		}
		if got, want := renderPod(t, d, a), goldenPrepared(first.HostMAC); got != want {
			t.Fatalf("pod:\n%s\ndiff (+got -want):\n%s", got, diff(got, want))
		}
		if err := d.CheckPod(ctx, a); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("CheckPod of an unaddressed pair = %v, want ErrNotFound", err)
		}
	})

	t.Run("teardown without an address leaves nothing", func(t *testing.T) {
		for range 2 {
			if err := d.TeardownPod(ctx, unaddressed(a)); err != nil {
				t.Fatalf("TeardownPod: %v", err)
			}
		}
		if d.prepared != nil {
			t.Error("TeardownPod kept the prepared pair")
		}
		if got := render(t, d); got != "" {
			t.Errorf("node after teardown:\n%s", got)
		}
		if got := renderPod(t, d, a); got != "" {
			t.Errorf("pod after teardown:\n%s", got)
		}
	})

	t.Run("SetupPod starts over when the prepared pair went away", func(t *testing.T) {
		prepared := preparePod(t, d, a)
		node.ip(t, "link", "del", a.HostVeth)
		res := setupPod(t, d, a)
		if res.HostMAC == prepared.HostMAC {
			t.Errorf("SetupPod reports the deleted pair's MAC %s", res.HostMAC)
		}
		want := "rule 512: from all to 10.0.1.5 lookup main\nroute 10.0.1.5 dev " + a.HostVeth + " scope link\n" + hostOnly
		if got := render(t, d); got != want {
			t.Fatalf("node:\n%s", diff(got, want))
		}
		if got, want := renderPod(t, d, a), goldenPodSide("10.0.1.5", res.HostMAC); got != want {
			t.Fatalf("pod:\n%s", diff(got, want))
		}
	})

	t.Run("retried ADD with another address keeps only the new one", func(t *testing.T) {
		moved := a
		moved.Addr = netip.MustParseAddr("10.0.1.6")
		prepared := preparePod(t, d, moved)
		if got, want := renderPod(t, d, a), goldenPodSide("10.0.1.5", prepared.HostMAC); got != want {
			t.Fatalf("PreparePod touched the reused pair's address:\n%s", diff(got, want))
		}
		res := setupPod(t, d, moved)
		if got, want := renderPod(t, d, a), goldenPodSide("10.0.1.6", res.HostMAC); got != want {
			t.Fatalf("pod:\n%s", diff(got, want))
		}
		for _, p := range []ports.PodSpec{a, moved} {
			if err := d.TeardownPod(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if got := render(t, d); got != "" {
			t.Errorf("node after teardown:\n%s", got)
		}
	})

	t.Run("another MTU is a full SetupPod", func(t *testing.T) {
		preparePod(t, d, a)
		small := a
		small.MTU = 1500
		res := setupPod(t, d, small)
		want := strings.ReplaceAll(goldenPodSide("10.0.1.5", res.HostMAC), "mtu 9001", "mtu 1500")
		if got := renderPod(t, d, a); got != want {
			t.Fatalf("pod:\n%s", diff(got, want))
		}
		if err := d.TeardownPod(ctx, a); err != nil {
			t.Fatal(err)
		}
	})
}

// SetupPod replaces every rule at the pod priorities that names the pod's
// address (left over from an earlier holder of the address on another ENI,
// or with more selectors), keeps the wanted ones someone else (ipamd's
// repair) added since PreparePod, once, and leaves other addresses' rules
// alone; TeardownPod removes the pod's rules and nothing else. Neither
// reads the node's rule list (see podRules).
func TestPodRulesReplaceStale(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	pod := newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	b := podSpec("ctr-b", pod, "pod-b", "10.0.2.7", 2)
	node.ip(t, "rule", "add", "pref", "1536", "from", "10.0.2.7", "lookup", "3")
	node.ip(t, "rule", "add", "pref", "1536", "from", "10.0.2.7", "to", "10.9.0.0/16", "lookup", "4")
	node.ip(t, "rule", "add", "pref", "512", "to", "10.0.2.7", "lookup", "3")
	node.ip(t, "rule", "add", "pref", "512", "from", "10.0.3.0/24", "to", "10.0.2.7", "lookup", "3")
	node.ip(t, "rule", "add", "pref", "1536", "from", "10.0.2.8", "lookup", "3")
	node.ip(t, "rule", "add", "pref", "512", "to", "10.0.2.8", "lookup", "main")
	other := "rule 512: from all to 10.0.2.8 lookup main\nrule 1536: from 10.0.2.8 lookup 3\n"
	preparePod(t, d, b)
	node.ip(t, "rule", "add", "pref", "512", "to", "10.0.2.7", "lookup", "main")
	node.ip(t, "rule", "add", "pref", "1536", "from", "10.0.2.7", "lookup", "2")
	res := setupPod(t, d, b)
	want := "rule 512: from all to 10.0.2.7 lookup main\nrule 512: from all to 10.0.2.8 lookup main\n" +
		"rule 1536: from 10.0.2.7 lookup 2\nrule 1536: from 10.0.2.8 lookup 3\n" +
		"route 10.0.2.7 dev " + b.HostVeth + " scope link\nlink " + b.HostVeth + " mtu 9001 up\n"
	checkWired(t, d, b, res, want)
	if err := d.TeardownPod(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := render(t, d); got != other {
		t.Errorf("node after teardown:\n%s\ndiff (+got -want):\n%s", got, diff(got, other))
	}
}

// checkWired compares the node with wantNode and the pod's side with the
// golden pod side of p.
func checkWired(t *testing.T, d *Datapath, p ports.PodSpec, res ports.PodResult, wantNode string) {
	t.Helper()
	if got := render(t, d); got != wantNode {
		t.Fatalf("node:\n%s\ndiff (+got -want):\n%s", got, diff(got, wantNode))
	}
	if got, want := renderPod(t, d, p), goldenPodSide(p.Addr.String(), res.HostMAC); got != want {
		t.Fatalf("pod:\n%s", diff(got, want))
	}
}

// A stale "from <cidr> to <addr> lookup main" is one the kernel counts as
// an existing copy of "to <addr> lookup main" (unset selectors match
// anything there), so adding without deleting it first would report
// success and leave the pod without its rule. More stale copies of a pod
// rule than podRules deletes one by one make SetupPod and TeardownPod plan
// from the rule list instead, with the same outcome.
func TestPodRulesManyStaleCopies(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	pod := newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	b := podSpec("ctr-b", pod, "pod-b", "10.0.2.7", 2)
	stale := func() {
		for table := 3; table < 3+maxRuleDeletes+2; table++ {
			node.ip(t, "rule", "add", "pref", "1536", "from", "10.0.2.7", "lookup", strconv.Itoa(table))
		}
	}
	stale()
	node.ip(t, "rule", "add", "pref", "512", "from", "10.0.3.0/24", "to", "10.0.2.7", "lookup", "main")
	res := setupPod(t, d, b)
	want := "rule 512: from all to 10.0.2.7 lookup main\nrule 1536: from 10.0.2.7 lookup 2\n" +
		"route 10.0.2.7 dev " + b.HostVeth + " scope link\nlink " + b.HostVeth + " mtu 9001 up\n"
	checkWired(t, d, b, res, want)
	stale()
	if err := d.TeardownPod(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := render(t, d); got != "" {
		t.Errorf("node after teardown:\n%s", got)
	}
}

// A DEL for an old sandbox that arrives while the new sandbox's ADD has
// prepared its pair (same veth name) leaves the new pair alone, and the
// ADD completes.
func TestStaleTeardownKeepsPreparedSandbox(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := newTestNS(t, "node")
	oldNS, newNS := newTestNS(t, "podold"), newTestNS(t, "podnew")
	d := newDatapath(t, Config{Netns: node.path})
	old := podSpec("ctr-old", oldNS, "web-0", "10.0.1.20", 254)
	cur := podSpec("ctr-new", newNS, "web-0", "10.0.1.21", 254)
	setupPod(t, d, old)
	prepared := preparePod(t, d, cur)
	if err := d.TeardownPod(ctx, old); err != nil {
		t.Fatalf("stale TeardownPod: %v", err)
	}
	if got, want := renderPod(t, d, cur), goldenPrepared(prepared.HostMAC); got != want {
		t.Fatalf("new sandbox damaged by the stale DEL:\n%s", diff(got, want))
	}
	setupPod(t, d, cur)
	if err := d.CheckPod(ctx, cur); err != nil {
		t.Fatalf("new sandbox: %v", err)
	}
	want := "rule 512: from all to 10.0.1.21 lookup main\nroute 10.0.1.21 dev " + cur.HostVeth +
		" scope link\nlink " + cur.HostVeth + " mtu 9001 up\n"
	if got := render(t, d); got != want {
		t.Fatalf("node:\n%s", diff(got, want))
	}
}

func TestPreparePodRejectsBadSpecs(t *testing.T) {
	needRoot(t)
	node := newTestNS(t, "node")
	pod := newTestNS(t, "pod")
	d := newDatapath(t, Config{Netns: node.path})
	good := unaddressed(podSpec("ctr", pod, "p", "10.0.1.9", 254))
	tests := []struct {
		name string
		edit func(p *ports.PodSpec)
	}{
		{"no netns", func(p *ports.PodSpec) { p.Netns = "" }},
		{"no interface", func(p *ports.PodSpec) { p.IfName = "" }},
		{"long veth name", func(p *ports.PodSpec) { p.HostVeth = "eni0123456789abc" }},
		{"negative MTU", func(p *ports.PodSpec) { p.MTU = -1 }},
	}
	for _, tt := range tests {
		p := good
		tt.edit(&p)
		if _, err := d.PreparePod(context.Background(), p); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("%s: PreparePod = %v, want ErrInvalidParameter", tt.name, err)
		}
	}
	if got := render(t, d); got != "" {
		t.Errorf("rejected specs left state:\n%s", got)
	}
}

// BenchmarkPodPrepareSetupTeardown is BenchmarkPodSetupTeardown with the
// wiring split as the plugin does it. It reports the median of each step:
// setup-us is what is left for after ipamd's answer.
func BenchmarkPodPrepareSetupTeardown(b *testing.B) {
	needRoot(b)
	ctx := context.Background()
	node := newTestNS(b, "node")
	pod := newTestNS(b, "pod")
	d := newDatapath(b, Config{Netns: node.path})
	p := podSpec("ctr-bench", pod, "pod-bench", "10.0.2.9", 2)
	var prep, setup []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := d.PreparePod(ctx, unaddressed(p)); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := d.SetupPod(ctx, p); err != nil {
			b.Fatal(err)
		}
		prep, setup = append(prep, mid.Sub(start)), append(setup, time.Since(mid))
		if err := d.TeardownPod(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	b.ReportMetric(median(prep), "prepare-us")
	b.ReportMetric(median(setup), "setup-us")
}
