package netlink

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	nl "github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netns"
)

// needRoot skips tests that create network namespaces and links.
func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: creates network namespaces, veth links, rules and routes (CI runs this as root)")
	}
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testNS is a scratch network namespace, deleted when the test ends.
type testNS struct {
	name, path string
	h          *nl.Handle
}

func newTestNS(tb testing.TB, role string) *testNS {
	tb.Helper()
	name := "vpccni-" + role + "-" + randSuffix()
	path, err := netns.Create(name)
	if err != nil {
		tb.Fatalf("create namespace: %v", err)
	}
	tb.Cleanup(func() {
		if err := netns.Delete(name); err != nil {
			tb.Errorf("delete namespace %s: %v", name, err)
		}
	})
	n := &testNS{name: name, path: path}
	if err := netns.Do(path, func() (err error) { n.h, err = nl.NewHandle(unix.NETLINK_ROUTE); return err }); err != nil {
		tb.Fatalf("open netlink in %s: %v", name, err)
	}
	tb.Cleanup(n.h.Close)
	lo, err := n.h.LinkByName("lo")
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.h.LinkSetUp(lo); err != nil {
		tb.Fatal(err)
	}
	return n
}

// ip runs `ip -n <ns> args...`, as an operator (or another agent) would.
func (n *testNS) ip(tb testing.TB, args ...string) {
	tb.Helper()
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		tb.Skip("needs the ip command (iproute2) to change state out of band")
	}
	out, err := exec.Command(ipBin, append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
}

// writeSysctl writes a sysctl inside the namespace.
func (n *testNS) writeSysctl(tb testing.TB, path, value string) {
	tb.Helper()
	if err := netns.Do(n.path, func() error { return os.WriteFile(path, []byte(value), 0o644) }); err != nil {
		tb.Fatalf("write %s in %s: %v", path, n.name, err)
	}
}

// addNIC adds a veth named name with the given MAC to n, its peer in peer
// (standing in for the VPC), optionally up and with addresses.
func (n *testNS) addNIC(tb testing.TB, peer *testNS, name, mac string, up bool, addrs ...string) {
	tb.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := vnetns.GetFromPath(peer.path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fd.Close()
	attrs := nl.NewLinkAttrs()
	attrs.Name = name
	attrs.HardwareAddr = hw
	if err := n.h.LinkAdd(&nl.Veth{LinkAttrs: attrs, PeerName: "v" + name, PeerNamespace: nl.NsFd(int(fd))}); err != nil {
		tb.Fatalf("add %s: %v", name, err)
	}
	l, err := n.h.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	if up {
		if err := n.h.LinkSetUp(l); err != nil {
			tb.Fatal(err)
		}
	}
	for _, a := range addrs {
		p := netip.MustParsePrefix(a)
		if err := n.h.AddrAdd(l, &nl.Addr{IPNet: ipNet(p)}); err != nil {
			tb.Fatalf("add %s to %s: %v", a, name, err)
		}
	}
}

// newDatapath returns a Datapath for the node namespace, closed at the end.
func newDatapath(tb testing.TB, cfg Config) *Datapath {
	tb.Helper()
	if cfg.Logger == nil && !testing.Verbose() {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// diff is a small line diff for golden failures.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	seen := map[string]int{}
	for _, l := range w {
		seen[l]++
	}
	for _, l := range g {
		if seen[l] > 0 {
			seen[l]--
			continue
		}
		b.WriteString("+ " + l + "\n")
	}
	seen = map[string]int{}
	for _, l := range g {
		seen[l]++
	}
	for _, l := range w {
		if seen[l] > 0 {
			seen[l]--
			continue
		}
		b.WriteString("- " + l + "\n")
	}
	return b.String()
}
