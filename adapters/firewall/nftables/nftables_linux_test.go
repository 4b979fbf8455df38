//go:build linux

package nftables

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/adapters/firewall/internal/fwtest"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func newInNS(t *testing.T) (*Firewall, fwtest.NetNS) {
	t.Helper()
	ns := fwtest.NewNetNS(t)
	fwtest.RequireBinary(t, "nft")
	fw, err := New(Config{NetNS: ns.Path})
	if err != nil {
		t.Fatal(err)
	}
	return fw, ns
}

func render(t *testing.T, fw *Firewall) string {
	t.Helper()
	got, err := fw.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func apply(t *testing.T, fw *Firewall, cfg ports.FirewallConfig) {
	t.Helper()
	if err := fw.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
}

var counterValues = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// nftList is "nft list table ip aws-cni" as printed by the nft binary,
// with counter values dropped like Render does ("" when there is no
// table).
func nftList(t *testing.T, ns fwtest.NetNS) string {
	t.Helper()
	out, err := ns.Try("nft", "list", "table", "ip", TableName)
	if err != nil {
		if strings.Contains(out, "No such file or directory") {
			return ""
		}
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	return counterValues.ReplaceAllString(out, "counter")
}

// wantGolden checks the kernel table three ways: our Render, the nft
// binary's own listing, and the golden file of the pure tests.
func wantGolden(t *testing.T, fw *Firewall, ns fwtest.NetNS, name string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", "desired-"+name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := render(t, fw); got != string(want) {
		t.Fatalf("Render differs from desired-%s\n--- got\n%s--- want\n%s", name, got, want)
	}
	if got := nftList(t, ns); got != string(want) {
		t.Fatalf("nft list table differs from desired-%s\n--- nft\n%s--- want\n%s", name, got, want)
	}
}

func TestRootApplyEachConfig(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			fw, ns := newInNS(t)
			apply(t, fw, configNamed(t, c.name))
			wantGolden(t, fw, ns, c.name)
		})
	}
}

func TestRootApplyLifecycle(t *testing.T) {
	fw, ns := newInNS(t)
	if fw.Name() != "nftables" {
		t.Errorf("Name() = %q", fw.Name())
	}
	// Somebody else's table, which we must never touch.
	ns.Run(t, "nft", "add table ip kube-proxy")
	ns.Run(t, "nft", "add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority dstnat; }")
	ns.Run(t, "nft", "add rule ip kube-proxy nat-prerouting counter")
	foreign := ns.Stdout(t, "nft", "list", "table", "ip", "kube-proxy")

	apply(t, fw, baseConfig())
	wantGolden(t, fw, ns, "default")

	// Idempotent: the second Apply does not even replace the table (the
	// handles nft assigns would change).
	handles := ns.Stdout(t, "nft", "-a", "list", "table", "ip", TableName)
	apply(t, fw, baseConfig())
	if again := ns.Stdout(t, "nft", "-a", "list", "table", "ip", TableName); again != handles {
		t.Fatalf("second Apply rewrote the table\n--- before\n%s--- after\n%s", handles, again)
	}

	// Out-of-band changes are repaired: a flushed chain, a foreign rule
	// in our chain, a deleted chain.
	ns.Run(t, "nft", "flush chain ip aws-cni snat-mark")
	ns.Run(t, "nft", "add rule ip aws-cni prerouting counter accept")
	ns.Run(t, "nft", "delete chain ip aws-cni mangle-prerouting")
	if got := render(t, fw); strings.Contains(got, "chain mangle-prerouting") || !strings.Contains(got, "counter accept") {
		t.Fatalf("out-of-band changes not visible in Render:\n%s", got)
	}
	apply(t, fw, baseConfig())
	wantGolden(t, fw, ns, "default")

	// A set somebody added to our table makes it differ too.
	ns.Run(t, "nft", "add set ip aws-cni stray { type ipv4_addr; }")
	if got := render(t, fw); !strings.Contains(got, "set stray") {
		t.Fatalf("stray set not rendered:\n%s", got)
	}
	apply(t, fw, baseConfig())
	wantGolden(t, fw, ns, "default")

	// Config changes.
	apply(t, fw, configNamed(t, "many-cidrs"))
	wantGolden(t, fw, ns, "many-cidrs")
	apply(t, fw, configNamed(t, "external-snat-nodeport"))
	wantGolden(t, fw, ns, "external-snat-nodeport")
	apply(t, fw, configNamed(t, "external-snat-no-nodeport"))
	wantGolden(t, fw, ns, "external-snat-no-nodeport")
	if rs := ns.Stdout(t, "nft", "list", "ruleset"); strings.Contains(rs, TableName) {
		t.Fatalf("table still present with nothing to own:\n%s", rs)
	}

	// Teardown removes the table and nothing else; twice is fine.
	apply(t, fw, baseConfig())
	for range 2 {
		if err := fw.Teardown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := render(t, fw); got != "" {
		t.Fatalf("Render after Teardown = %q", got)
	}
	rs := ns.Stdout(t, "nft", "list", "ruleset")
	if strings.Contains(rs, TableName) || strings.Contains(rs, "AWS") {
		t.Errorf("nft list ruleset still shows our table:\n%s", rs)
	}
	if after := ns.Stdout(t, "nft", "list", "table", "ip", "kube-proxy"); after != foreign {
		t.Errorf("foreign table changed\n--- before\n%s--- after\n%s", foreign, after)
	}
}

// The hook priorities are the reason this backend exists; check them in
// the kernel's own terms rather than through our printer.
func TestRootPriorities(t *testing.T) {
	fw, ns := newInNS(t)
	apply(t, fw, baseConfig())
	out := ns.Stdout(t, "nft", "list", "chains", "ip")
	for _, want := range []string{
		"chain mangle-prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;",
		"chain prerouting {\n\t\ttype filter hook prerouting priority dstnat + 10; policy accept;",
		"chain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nft list chains lacks %q:\n%s", want, out)
		}
	}
}

func TestHasTable(t *testing.T) {
	_, ns := newInNS(t)
	has, err := HasTable(ns.Path, "ip", "kube-proxy")
	if err != nil || has {
		t.Fatalf("HasTable on empty namespace = %v, %v", has, err)
	}
	ns.Run(t, "nft", "add table ip kube-proxy")
	if has, err = HasTable(ns.Path, "ip", "kube-proxy"); err != nil || !has {
		t.Fatalf("HasTable after add = %v, %v", has, err)
	}
	if has, err = HasTable(ns.Path, "ip6", "kube-proxy"); err != nil || has {
		t.Fatalf("HasTable(ip6) = %v, %v", has, err)
	}
	if _, err := HasTable(ns.Path, "bridge-ish", "x"); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("unknown family: %v", err)
	}
}

func TestApplyRejectsBadConfig(t *testing.T) {
	fw, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.VethPrefix = "eni*"
	// Validation happens before any netlink call.
	if err := fw.Apply(context.Background(), cfg); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("Apply: got %v, want ErrInvalidParameter", err)
	}
}

var observed = regexp.MustCompile(`counter packets (\d+) bytes \d+ comment "([a-z0-9-]+)"`)

// counters reads the packet counters of the observer table, by comment.
func counters(t *testing.T, ns fwtest.NetNS) map[string]string {
	t.Helper()
	out := ns.Stdout(t, "nft", "list", "table", "ip", "observe")
	got := map[string]string{}
	for _, m := range observed.FindAllStringSubmatch(out, -1) {
		got[m[2]] = m[1]
	}
	return got
}

// Upstream issue #3563: the connmark decision must see the destination
// after kube-proxy's DNAT. A pod sends one UDP packet to each of: a
// service IP that a kube-proxy-like nat chain (priority dstnat, in its own
// table) DNATs to a VPC pod, a service IP DNATed to an address outside the
// VPC, a VPC address and an internet address. An observer chain at
// priority filter counts the packets by destination and packet mark:
// only connections that really leave the VPC carry the mark.
func TestRootMarkingSeesKubeProxyDNAT(t *testing.T) {
	fw, node := newInNS(t)
	pod := fwtest.NewNetNS(t)
	node.Run(t, "ip", "link", "add", "enitest0", "type", "veth", "peer", "name", "eth0", "netns", pod.Name)
	node.Run(t, "ip", "link", "set", "enitest0", "up")
	mac := strings.TrimSpace(node.Run(t, "cat", "/sys/class/net/enitest0/address"))
	pod.Run(t, "ip", "link", "set", "eth0", "up")
	pod.Run(t, "ip", "addr", "add", "10.0.1.5/32", "dev", "eth0")
	pod.Run(t, "ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
	pod.Run(t, "ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
	pod.Run(t, "ip", "neigh", "add", "169.254.1.1", "lladdr", mac, "dev", "eth0", "nud", "permanent")

	apply(t, fw, baseConfig()) // VPC 10.0.0.0/16, mark 0x80, veths "eni*"

	node.Run(t, "nft", `add table ip kp
add chain ip kp nat-prerouting { type nat hook prerouting priority dstnat; }
add rule ip kp nat-prerouting ip daddr 10.96.0.10 dnat to 10.0.5.5
add rule ip kp nat-prerouting ip daddr 10.96.0.11 dnat to 203.0.113.5
add table ip observe
add chain ip observe pre { type filter hook prerouting priority filter; }`)
	for _, dst := range []string{"10.0.5.5", "203.0.113.5", "10.0.7.7", "198.51.100.7"} {
		node.Run(t, "nft", "add rule ip observe pre ip daddr "+dst+" meta mark & 0x80 == 0x80 counter comment \"marked-"+strings.ReplaceAll(dst, ".", "-")+"\"")
		node.Run(t, "nft", "add rule ip observe pre ip daddr "+dst+" meta mark & 0x80 == 0 counter comment \"plain-"+strings.ReplaceAll(dst, ".", "-")+"\"")
	}
	fwtest.RequireBinary(t, "bash")
	for _, dst := range []string{"10.96.0.10", "10.96.0.11", "10.0.7.7", "198.51.100.7"} {
		pod.Run(t, "bash", "-c", "echo probe > /dev/udp/"+dst+"/5353")
	}
	want := map[string]string{
		"plain-10-0-5-5":      "1", // service -> VPC pod: routed by the pod's ENI table
		"marked-10-0-5-5":     "0",
		"marked-203-0-113-5":  "1", // service -> outside the VPC: main table, SNAT
		"plain-203-0-113-5":   "0",
		"plain-10-0-7-7":      "1",
		"marked-10-0-7-7":     "0",
		"marked-198-51-100-7": "1",
		"plain-198-51-100-7":  "0",
	}
	got := counters(t, node)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("observer counter %s = %q, want %s (all: %v)", k, got[k], v, got)
		}
	}
}
