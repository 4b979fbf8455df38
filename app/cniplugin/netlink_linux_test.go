package cniplugin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
	"github.com/vpc-cni/vpc-cni/ports"
)

// scratchNS creates a network namespace deleted when the test ends.
func scratchNS(t *testing.T, role string) (name, path string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "vpccni-plug-" + role + "-" + hex.EncodeToString(b)
	path, err := netns.Create(name)
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = netns.Delete(name) })
	return name, path
}

// ipOut runs `ip -n <ns> args...` and returns its output.
func ipOut(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPluginWithNetlinkDatapath drives ADD, CHECK and DEL through the real
// netlink adapter, with a scratch namespace standing in for the node and
// another for the pod, and checks the result the way an operator would,
// with the ip command.
func TestPluginWithNetlinkDatapath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths, rules and routes (CI runs this as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to inspect the namespaces")
	}
	hostName, hostPath := scratchNS(t, "host")
	podName, podPath := scratchNS(t, "pod")

	dir := shortDir(t)
	sock := filepath.Join(dir, "ipamd.sock")
	ipamd, err := fakeipamd.New(fakeipamd.Config{SocketPath: sock, Addresses: []fakeipamd.Address{
		{Addr: netip.MustParseAddr("10.0.2.20"), DeviceNumber: 1, RouteTable: 2},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ipamd.Close)

	var stdout, stderr bytes.Buffer
	open := func(log *slog.Logger) (ports.PodNetwork, func(), error) {
		d, err := netlink.New(netlink.Config{Netns: hostPath, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return d, func() { _ = d.Close() }, nil
	}
	p, err := NewWithOpener(Config{Stdout: &stdout, Stderr: &stderr}, open)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ipamd: ipamd, plugin: p, stdout: &stdout, stderr: &stderr, sock: sock,
		logFile: filepath.Join(t.TempDir(), "plugin.log")}
	conf := e.conf("1.0.0", map[string]any{"mtu": "1500"})
	a := args("c1", conf)
	a.Netns = podPath
	veth := wantVeth("eni", "default", "web")

	res := e.addOK(a)
	r := decodeResult(t, res)
	if r.Interfaces[0].Name != veth || r.Interfaces[0].Mac == "" {
		t.Errorf("host interface in result = %+v, want %s with its MAC", r.Interfaces[0], veth)
	}
	hostLink := ipOut(t, hostName, "-o", "link", "show", veth)
	mustContain(t, "host link", hostLink, "state UP", strings.ToLower(r.Interfaces[0].Mac))
	mustContain(t, "pod address", ipOut(t, podName, "-o", "addr", "show", "eth0"), "10.0.2.20/32")
	mustContain(t, "pod link", ipOut(t, podName, "-o", "link", "show", "eth0"), "mtu 1500")
	mustContain(t, "pod routes", ipOut(t, podName, "route"), "default via 169.254.1.1 dev eth0")
	mustContain(t, "host rules", ipOut(t, hostName, "rule"), "to 10.0.2.20 lookup main", "from 10.0.2.20 lookup 2")
	mustContain(t, "host routes", ipOut(t, hostName, "route", "show", "table", "main"), "10.0.2.20 dev "+veth)

	if _, err := e.run(p.Check, args2(a, withPrev(t, conf, res))); err != nil {
		t.Fatalf("CHECK of a freshly wired pod: %v", err)
	}

	// A second pod finds the pool empty: the pair prepared for it while
	// ipamd was asked is gone again, on both sides.
	otherName, otherPath := scratchNS(t, "pod2")
	other := args("c2", conf)
	other.Netns = otherPath
	other.Args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=api;K8S_POD_INFRA_CONTAINER_ID=c2"
	if _, err := e.run(p.Add, other); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Fatalf("ADD with an empty pool = %v, want ipamd's refusal", err)
	}
	if out := ipOut(t, hostName, "-o", "link", "show"); strings.Contains(out, wantVeth("eni", "default", "api")) || !strings.Contains(out, veth) {
		t.Errorf("node links after the refused ADD (want %s only):\n%s", veth, out)
	}
	if out := ipOut(t, otherName, "-o", "link", "show"); strings.Contains(out, "eth0") {
		t.Errorf("refused pod still has eth0:\n%s", out)
	}
	// A retried ADD converges.
	if again := e.addOK(a); decodeResult(t, again).Interfaces[0] != r.Interfaces[0] {
		t.Errorf("retried ADD changed the host interface: %s", again)
	}

	// Someone deletes the host route: CHECK says so.
	ipOut(t, hostName, "route", "del", "10.0.2.20", "dev", veth)
	if _, err := e.run(p.Check, args2(a, withPrev(t, conf, res))); err == nil {
		t.Error("CHECK passed without the host route")
	}

	// DEL with ipamd down tears down from prevResult.
	ipamd.Close()
	if _, err := e.run(p.Del, args2(a, withPrev(t, conf, res))); err != nil {
		t.Fatalf("DEL without ipamd: %v", err)
	}
	if out, _ := exec.Command("ip", "-n", hostName, "link", "show", veth).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Errorf("host veth still there after DEL: %s", out)
	}
	rules := ipOut(t, hostName, "rule")
	if strings.Contains(rules, "10.0.2.20") {
		t.Errorf("pod rules left after DEL:\n%s", rules)
	}
	// A second DEL, with the pod namespace gone as well, succeeds.
	_ = netns.Delete(podName)
	if _, err := e.run(p.Del, args2(a, withPrev(t, conf, res))); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
}

// args2 is a copy of a with another netconf.
func args2(a *skel.CmdArgs, stdin []byte) *skel.CmdArgs {
	c := *a
	c.StdinData = stdin
	return &c
}
