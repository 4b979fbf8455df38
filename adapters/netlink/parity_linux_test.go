package netlink

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	"github.com/vpc-cni/vpc-cni/ports"
)

// TestMemoryParity runs one sequence of calls against the kernel (in
// scratch namespaces) and against the in-memory adapter, and requires the
// same rendered text from both after every step, on the node and in each
// pod (with the random host MACs masked).
func TestMemoryParity(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := nodeWithNICs(t)
	node.writeSysctl(t, "/proc/sys/net/ipv4/ip_forward", "1")
	podA, podB, podC, podD := newTestNS(t, "poda"), newTestNS(t, "podb"), newTestNS(t, "podc"), newTestNS(t, "podd")
	kernel := newDatapath(t, Config{Netns: node.path, LinkWaitAttempts: 1})
	mem, err := datapathmem.New(datapathmem.Config{Links: []datapathmem.Link{
		{Name: "eth0", MAC: mac0, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.10/24")}},
		{Name: "eth1", MAC: mac1},
		{Name: "eth2", MAC: mac2, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.3.99/24")}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	a := podSpec("ctr-a", podA, "pod-a", "10.0.1.5", 254)
	b := podSpec("ctr-b", podB, "pod-b", "10.0.2.7", eni1.RouteTable)
	c := podSpec("ctr-c", podC, "pod-c", "10.0.3.30", eni2.RouteTable)
	c.MTU = 1500
	// D is wired in two steps, as the plugin does: its pair before ipamd
	// answers, the address after.
	dd := podSpec("ctr-d", podD, "pod-d", "10.0.2.8", eni1.RouteTable)
	changed := hostCfg
	changed.ConnmarkRule = false
	changed.ExternalServiceCIDRs = nil
	changed.MTU = 1500

	type adapter interface {
		ports.HostNetwork
		ports.PodNetwork
		RenderPod(context.Context, ports.PodSpec) (string, error)
	}
	macs := map[adapter]map[string]string{kernel: {}, mem: {}} // container ID → host MAC
	steps := []struct {
		name string
		do   func(d adapter) error
	}{
		{"SetupHost", func(d adapter) error { return d.SetupHost(ctx, hostCfg) }},
		{"SetupENI eth1", func(d adapter) error { return d.SetupENI(ctx, eni1) }},
		{"SetupENI eth2", func(d adapter) error { return d.SetupENI(ctx, eni2) }},
		{"SetupPod A, B, C", func(d adapter) error {
			for _, p := range []ports.PodSpec{a, b, c} {
				res, err := d.SetupPod(ctx, p)
				if err != nil {
					return err
				}
				macs[d][p.ContainerID] = res.HostMAC
			}
			return nil
		}},
		{"SetupPod B again", func(d adapter) error { _, err := d.SetupPod(ctx, b); return err }},
		{"PreparePod D", func(d adapter) error {
			res, err := d.PreparePod(ctx, unaddressed(dd))
			macs[d][dd.ContainerID] = res.HostMAC
			return err
		}},
		{"PreparePod D again", func(d adapter) error { _, err := d.PreparePod(ctx, unaddressed(dd)); return err }},
		{"TeardownPod D without address", func(d adapter) error { return d.TeardownPod(ctx, unaddressed(dd)) }},
		{"PreparePod D, SetupPod D", func(d adapter) error {
			if _, err := d.PreparePod(ctx, unaddressed(dd)); err != nil {
				return err
			}
			res, err := d.SetupPod(ctx, dd)
			macs[d][dd.ContainerID] = res.HostMAC
			return err
		}},
		{"pod rules flushed, SyncPodRules", func(d adapter) error {
			if d == kernel {
				node.ip(t, "rule", "del", "pref", "512", "to", "10.0.2.7", "lookup", "main")
				node.ip(t, "rule", "del", "pref", "1536", "from", "10.0.3.30", "lookup", "10100")
				node.ip(t, "route", "del", "10.0.1.5", "dev", a.HostVeth)
			} else if !mem.DeleteRule("512: from all to 10.0.2.7 lookup main") ||
				!mem.DeleteRule("1536: from 10.0.3.30 lookup 10100") ||
				!mem.DeleteRoute("10.0.1.5 dev "+a.HostVeth+" scope link") {
				t.Fatal("memory datapath: object to delete not found")
			}
			return d.SyncPodRules(ctx, []ports.PodRoute{podRoute(a), podRoute(b), podRoute(c)})
		}},
		{"CheckPod C", func(d adapter) error { return d.CheckPod(ctx, c) }},
		{"TeardownENI eth2", func(d adapter) error { return d.TeardownENI(ctx, eni2) }},
		{"TeardownPod A", func(d adapter) error { return d.TeardownPod(ctx, a) }},
		{"SetupHost changed", func(d adapter) error { return d.SetupHost(ctx, changed) }},
		{"SetupENI eth1 again", func(d adapter) error { return d.SetupENI(ctx, eni1) }},
		{"TeardownPod B, C, D", func(d adapter) error {
			for _, p := range []ports.PodSpec{b, c, dd} {
				if err := d.TeardownPod(ctx, p); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, step := range steps {
		texts := map[adapter]string{}
		for _, d := range []adapter{kernel, mem} {
			if err := step.do(d); err != nil {
				t.Fatalf("%s on %T: %v", step.name, d, err)
			}
			s, err := d.Render(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []ports.PodSpec{a, b, c, dd} {
				ps, err := d.RenderPod(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				if m := macs[d][p.ContainerID]; m != "" {
					ps = strings.ReplaceAll(ps, m, "HOSTMAC")
				}
				s += "--- pod " + p.ContainerID + "\n" + ps
			}
			texts[d] = s
		}
		if texts[kernel] != texts[mem] {
			t.Fatalf("after %s the adapters differ (+kernel -memory):\n%s\nkernel:\n%s", step.name, diff(texts[kernel], texts[mem]), texts[kernel])
		}
		if testing.Verbose() {
			t.Logf("after %s:\n%s", step.name, texts[kernel])
		}
	}
}
