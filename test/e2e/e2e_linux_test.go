package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/firewall"
	"github.com/vpc-cni/vpc-cni/adapters/firewall/iptables"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/app/local"
)

// tlog sends the harness's progress to the test log.
type tlog struct{ tb testing.TB }

func (w tlog) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func config(tb testing.TB, nodes, pods int, fw string) local.Config {
	tb.Helper()
	needRoot(tb)
	if fw == firewall.BackendIptablesLegacy || fw == firewall.BackendIptablesNFT {
		if _, err := iptables.LookBinary(fw); err != nil {
			tb.Skipf("firewall backend %s needs the %s binary (apt-get install iptables): %v", fw, fw, err)
		}
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return local.Config{
		Nodes: nodes, Pods: pods, Firewall: fw, Mode: local.ModeKernel, BinDir: binDir,
		Log: slog.New(slog.NewTextHandler(tlog{tb}, &slog.HandlerOptions{Level: level})),
	}
}

func run(tb testing.TB, cfg local.Config) local.Report {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := local.Run(ctx, cfg)
	if err != nil {
		tb.Fatalf("bring-up failed: %v", err)
	}
	if testing.Verbose() || !rep.OK {
		var b bytes.Buffer
		_ = rep.WriteTable(&b)
		tb.Log("\n" + b.String())
	}
	return rep
}

// TestTwoNodes is the main end-to-end check, once per firewall backend:
// two nodes with 50 pods each (so both use secondary ENIs), every
// connectivity check, and a clean teardown.
func TestTwoNodes(t *testing.T) {
	for _, fw := range firewall.Backends {
		t.Run(fw, func(t *testing.T) {
			rep := run(t, config(t, 2, 50, fw))
			if rep.Mode != local.ModeKernel || rep.Firewall != fw {
				t.Errorf("mode %s firewall %s, want kernel %s", rep.Mode, rep.Firewall, fw)
			}
			if rep.PodsRequested != 100 || rep.PodsWired != 100 {
				t.Errorf("pods wired %d of %d, want 100 of 100", rep.PodsWired, rep.PodsRequested)
			}
			for name, ok := range map[string]bool{
				"ping_same_node": rep.PingSameNode, "ping_cross_node": rep.PingCrossNode,
				"ping_internet": rep.PingInternet, "nodeport": rep.NodePort,
				"nodeport_secondary_eni": rep.NodePortSecondaryENI, "connectivity_checked": rep.ConnectivityChecked,
			} {
				if !ok {
					t.Errorf("%s = false", name)
				}
			}
			for _, c := range rep.Checks {
				if !c.Ran || !c.OK || c.Probes == 0 {
					t.Errorf("check %s: ran %v ok %v, %d/%d: %s", c.Name, c.Ran, c.OK, c.Passed, c.Probes, c.Failure)
				}
			}
			if len(rep.Nodes) != 2 {
				t.Fatalf("%d nodes in the report", len(rep.Nodes))
			}
			if want := rep.Nodes[0].PrimaryIP; rep.SNATSource != want || rep.SNATExpected != want {
				t.Errorf("snat_source %q (expected %q), want node 1's primary IP %s", rep.SNATSource, rep.SNATExpected, want)
			}
			for _, n := range rep.Nodes {
				if len(n.ENIs) < 2 || n.SecondaryENI < 1 {
					t.Errorf("%s: %d ENIs, %d secondary ENIs with pods; 50 pods on a %s need secondary ENIs", n.Name, len(n.ENIs), n.SecondaryENI, rep.InstanceType)
				}
				onSecondary := 0
				for _, p := range n.Pods {
					if p.Device > 0 {
						onSecondary++
					}
				}
				if onSecondary == 0 {
					t.Errorf("%s: no pod on a secondary ENI", n.Name)
				}
			}
			if len(rep.Residue) != 0 {
				t.Errorf("teardown left %d things:\n%s", len(rep.Residue), strings.Join(rep.Residue, "\n"))
			}
			if len(rep.Failures) != 0 {
				t.Errorf("failures:\n%s", strings.Join(rep.Failures, "\n"))
			}
			if !rep.OK {
				t.Error("report not OK")
			}
			t.Logf("%s: ADD p50 %.1f ms p99 %.1f ms, DEL p50 %.1f ms p99 %.1f ms", fw, rep.AddLatency.P50, rep.AddLatency.P99, rep.DelLatency.P50, rep.DelLatency.P99)
		})
	}
}

// TestConcurrentAdds adds the pods of two nodes eight at a time per node,
// as a runtime starting many sandboxes at once does, while ipamd grows
// the pool under it.
func TestConcurrentAdds(t *testing.T) {
	cfg := config(t, 2, 50, firewall.BackendAuto)
	cfg.Parallel = 8
	rep := run(t, cfg)
	if !rep.OK || rep.PodsWired != 100 || !rep.PingSameNode || !rep.PingCrossNode || !rep.PingInternet || !rep.NodePort {
		t.Errorf("ok %v, pods wired %d, same %v cross %v internet %v nodeport %v; failures %v",
			rep.OK, rep.PodsWired, rep.PingSameNode, rep.PingCrossNode, rep.PingInternet, rep.NodePort, rep.Failures)
	}
	seen := map[string]string{}
	for _, n := range rep.Nodes {
		for _, p := range n.Pods {
			if other, dup := seen[p.IP]; dup {
				t.Errorf("%s and %s both got %s", other, p.Name, p.IP)
			}
			seen[p.IP] = p.Name
		}
	}
	if len(rep.Residue) != 0 {
		t.Errorf("residue: %v", rep.Residue)
	}
}

// TestExternalSNAT: with AWS_VPC_K8S_CNI_EXTERNALSNAT the node does not
// translate, so the internet sees the pod's own address.
func TestExternalSNAT(t *testing.T) {
	cfg := config(t, 1, 20, firewall.BackendAuto)
	cfg.ExternalSNAT = true
	rep := run(t, cfg)
	if !rep.OK || !rep.PingInternet || !rep.NodePort {
		t.Errorf("ok %v internet %v nodeport %v; failures %v", rep.OK, rep.PingInternet, rep.NodePort, rep.Failures)
	}
	if rep.SNATSource == "" || rep.SNATSource != rep.SNATExpected || rep.SNATSource == rep.Nodes[0].PrimaryIP {
		t.Errorf("snat_source %q, expected %q (a pod address, not the primary IP %s)", rep.SNATSource, rep.SNATExpected, rep.Nodes[0].PrimaryIP)
	}
	if !slices.ContainsFunc(rep.Nodes[0].Pods, func(p local.PodReport) bool { return p.IP == rep.SNATSource && p.Device > 0 }) {
		t.Errorf("snat_source %s is not a pod on a secondary ENI", rep.SNATSource)
	}
	if len(rep.Residue) != 0 {
		t.Errorf("residue: %v", rep.Residue)
	}
}

// TestNodePortNeedsIpamd shows the NodePort and internet checks can fail:
// with AWS_VPC_CNI_NODE_PORT_SUPPORT=false ipamd neither loosens rp_filter
// on eth0 nor marks connections arriving there, so the node (strict
// rp_filter, as on the AMI) drops traffic for pods on secondary ENIs that
// comes back through eth0.
func TestNodePortNeedsIpamd(t *testing.T) {
	cfg := config(t, 1, 20, firewall.BackendAuto)
	cfg.Env = map[string]string{"AWS_VPC_CNI_NODE_PORT_SUPPORT": "false"}
	cfg.ProbeTimeout = time.Second
	rep := run(t, cfg)
	if rep.PodsWired != 20 || !rep.PingSameNode {
		t.Errorf("pods wired %d, same node %v: the rest of the node should work", rep.PodsWired, rep.PingSameNode)
	}
	if rep.NodePort || !rep.NodePortSecondaryENI {
		t.Errorf("NodePort to a pod on a secondary ENI passed (%v, secondary %v) without ipamd's NodePort support", rep.NodePort, rep.NodePortSecondaryENI)
	}
	if rep.PingInternet {
		t.Error("internet passed for pods on secondary ENIs without loose rp_filter on eth0")
	}
	if len(rep.Residue) != 0 {
		t.Errorf("residue: %v", rep.Residue)
	}
}

// TestResidueIsFound plants leftovers of each kind the teardown looks
// for and checks that every one is reported.
func TestResidueIsFound(t *testing.T) {
	cfg := config(t, 1, 0, firewall.BackendIptablesNFT)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := local.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			c.Close(context.Background())
		}
	})
	n := c.Nodes()[0]
	pod, err := c.AddPod(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	// A stray pod veth, a rule and a route for the pod's address, a
	// neighbour entry, and a firewall rule outside ipamd's chains.
	var h *nl.Handle
	if err := netns.Do(n.Netns, func() (err error) { h, err = nl.NewHandle(unix.NETLINK_ROUTE); return err }); err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	attrs := nl.NewLinkAttrs()
	attrs.Name = "enistray000001"
	if err := h.LinkAdd(&nl.Veth{LinkAttrs: attrs, PeerName: "stray-peer"}); err != nil {
		t.Fatal(err)
	}
	stray, err := h.LinkByName(attrs.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(stray); err != nil {
		t.Fatal(err)
	}
	dst := &net.IPNet{IP: net.IP(pod.IP.AsSlice()), Mask: net.CIDRMask(32, 32)}
	// DEL removes every rule for the pod's address, so the stray rule is
	// for an address no pod has: any rule left at 512 or 1536 counts.
	rule := nl.NewRule()
	rule.Dst, rule.Table, rule.Priority = &net.IPNet{IP: net.IPv4(10, 0, 15, 250), Mask: net.CIDRMask(32, 32)}, unix.RT_TABLE_MAIN, 512
	if err := h.RuleAdd(rule); err != nil {
		t.Fatal(err)
	}
	if err := h.RouteAdd(&nl.Route{LinkIndex: stray.Attrs().Index, Dst: dst, Table: 7, Scope: nl.SCOPE_LINK}); err != nil {
		t.Fatal(err)
	}
	if err := h.NeighAdd(&nl.Neigh{LinkIndex: stray.Attrs().Index, IP: net.IP(netip.MustParseAddr("169.254.1.1").AsSlice()),
		HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}, State: nl.NUD_PERMANENT, Family: nl.FAMILY_V4}); err != nil {
		t.Fatal(err)
	}
	bin, err := iptables.LookBinary("iptables-nft")
	if err != nil {
		t.Skip(err)
	}
	if err := netns.Do(n.Netns, func() error {
		out, err := exec.Command(bin, "-w", "10", "-t", "filter", "-A", "FORWARD", "-s", pod.IP.String(), "-j", "ACCEPT").CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A tmpfs named like the run's node /var/run mounts that teardown did
	// not make, so it stays.
	strayMount := filepath.Join(n.Dir, "stray-run")
	if err := os.Mkdir(strayMount, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("vpccni-"+c.Config().RunID+"-run", strayMount, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(strayMount, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the planted tmpfs: %v", err)
		}
		_ = os.RemoveAll(c.WorkDir())
	})

	td := c.Close(ctx)
	closed = true
	all := strings.Join(td.Residue, "\n")
	for _, want := range []string{
		"link enistray000001",
		"rule 512: from <nil> to 10.0.15.250/32 lookup 254",
		"route " + pod.IP.String() + "/32 dev enistray000001 table 7",
		"neighbour 169.254.1.1 dev enistray000001",
		"nftables table filter chain FORWARD: 1 rules",
		"mount " + strayMount,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("residue does not report %q; it is:\n%s", want, all)
		}
	}
	if len(td.Failures) != 0 {
		t.Errorf("failures: %v", td.Failures)
	}
}

// TestLocalCommand runs the README's non-interactive command and reads
// its JSON.
func TestLocalCommand(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "vpc-cni"), "local", "--nodes", "2", "--pods", "20", "--firewall", "auto", "--check", "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var rep struct {
		PodsRequested int            `json:"pods_requested"`
		PodsWired     int            `json:"pods_wired"`
		PingSameNode  bool           `json:"ping_same_node"`
		PingCrossNode bool           `json:"ping_cross_node"`
		PingInternet  bool           `json:"ping_internet"`
		SNATSource    string         `json:"snat_source"`
		Residue       []string       `json:"residue"`
		AddLatency    map[string]any `json:"add_latency_ms"`
		Nodes         []struct {
			PrimaryIP string `json:"primary_ip"`
		} `json:"nodes"`
	}
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("vpc-cni local: %v; output is not one JSON object: %v\nstdout: %s\nstderr: %s", err, jerr, stdout.String(), stderr.String())
	}
	if err != nil {
		t.Errorf("vpc-cni local exited with %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if rep.PodsRequested != 40 || rep.PodsWired != 40 || !rep.PingSameNode || !rep.PingCrossNode || !rep.PingInternet {
		t.Errorf("report %+v", rep)
	}
	if rep.Residue == nil || len(rep.Residue) != 0 {
		t.Errorf("residue %v, want an empty list", rep.Residue)
	}
	if len(rep.Nodes) != 2 || rep.SNATSource != rep.Nodes[0].PrimaryIP {
		t.Errorf("snat_source %q, nodes %+v", rep.SNATSource, rep.Nodes)
	}
	for _, k := range []string{"p50", "p99"} {
		if v, ok := rep.AddLatency[k].(float64); !ok || v <= 0 {
			t.Errorf("add_latency_ms.%s = %v", k, rep.AddLatency[k])
		}
	}
}

// TestInteractiveCtrlC runs the interactive `vpc-cni local` (what `make run`
// starts) and interrupts it the way a terminal's Ctrl-C does: SIGINT to the
// whole foreground process group. ipamd must survive that signal until
// teardown has deleted every pod through it, and the run must end clean.
func TestInteractiveCtrlC(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "vpc-cni"), "local", "--nodes", "1", "--pods", "3")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Interrupt (Ctrl-C) to tear down") {
			break
		}
	}
	if !strings.Contains(out.String(), "Interrupt (Ctrl-C)") {
		_ = cmd.Wait()
		if strings.Contains(stderr.String(), "another run owns") {
			t.Skipf("an interactive run is already active on this machine: %s", stderr.String())
		}
		t.Fatalf("the interactive run never got ready:\n%s\n%s", out.String(), stderr.String())
	}
	// A terminal signals the process group, not just the leader.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("vpc-cni local after Ctrl-C: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "nothing left behind") {
		t.Errorf("teardown after Ctrl-C was not clean:\n%s\n%s", out.String(), stderr.String())
	}
}
