package local

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	"github.com/vpc-cni/vpc-cni/core"
)

func TestPercentileAndLatency(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	cases := []struct {
		in            []time.Duration
		p50, p99, max float64
	}{
		{nil, 0, 0, 0},
		{ms(7), 7, 7, 7},
		{ms(5, 1, 3, 2, 4), 3, 5, 5},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5, 10, 10},
	}
	for _, c := range cases {
		l := NewLatency(c.in)
		if l.N != len(c.in) || l.P50 != c.p50 || l.P99 != c.p99 || l.Max != c.max {
			t.Errorf("NewLatency(%v) = %+v, want p50 %v p99 %v max %v", c.in, l, c.p50, c.p99, c.max)
		}
	}
	// 100 values 1..100 ms: nearest rank.
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	if got := Percentile(hundred, 99); got != 99*time.Millisecond {
		t.Errorf("p99 of 1..100 = %v", got)
	}
	if got := Percentile(hundred, 50); got != 50*time.Millisecond {
		t.Errorf("p50 of 1..100 = %v", got)
	}
}

func TestConfigChecks(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"defaults", Config{Mode: ModeMemory}, nil},
		{"too many nodes", Config{Mode: ModeMemory, Nodes: MaxNodes + 1}, core.ErrInvalidParameter},
		{"negative pods", Config{Mode: ModeMemory, Pods: -1}, core.ErrInvalidParameter},
		{"bad firewall", Config{Mode: ModeMemory, Firewall: "pf"}, core.ErrInvalidParameter},
		{"unknown instance type", Config{Mode: ModeMemory, InstanceType: "z9.huge"}, core.ErrUnknownInstanceType},
		{"bad run id", Config{Mode: ModeMemory, RunID: "Has Space"}, core.ErrInvalidParameter},
		{"bad mode", Config{Mode: "vm"}, core.ErrInvalidParameter},
	}
	for _, c := range cases {
		got, err := c.cfg.withDefaults()
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
			continue
		}
		if err == nil && (got.Nodes != DefaultNodes || got.InstanceType != DefaultInstanceType || got.Firewall != "auto" || got.Parallel != 1 || got.RunID == "") {
			t.Errorf("%s: defaults not filled: %+v", c.name, got)
		}
	}
	if !IsRoot() {
		if _, err := (Config{Mode: ModeKernel}).withDefaults(); !errors.Is(err, core.ErrInvalidState) {
			t.Errorf("kernel mode without root: %v", err)
		}
		if got, _ := (Config{}).withDefaults(); got.Mode != ModeMemory {
			t.Errorf("mode without root = %s, want memory", got.Mode)
		}
	}
}

func TestConflist(t *testing.T) {
	b, err := Conflist("/run/x/ipamd.sock", "/run/x/plugin.log")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "cniVersion": "0.4.0",
  "disableCheck": false,
  "name": "aws-cni",
  "plugins": [
    {
      "ipamdSocket": "/run/x/ipamd.sock",
      "mtu": "9001",
      "name": "aws-cni",
      "pluginLogFile": "/run/x/plugin.log",
      "pluginLogLevel": "Debug",
      "podSGEnforcingMode": "strict",
      "type": "aws-cni",
      "vethPrefix": "eni"
    }
  ]
}`
	if string(b) != want {
		t.Errorf("conflist:\n%s\nwant:\n%s", b, want)
	}
	list, err := libcni.NetworkConfFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if list.Name != NetworkName || len(list.Plugins) != 1 || list.Plugins[0].Network.Type != PluginType {
		t.Errorf("libcni reads %+v", list)
	}
}

func TestAddressing(t *testing.T) {
	cases := []struct {
		node         int
		subnet, gate string
	}{{1, "10.0.0.0/20", "10.0.0.1"}, {2, "10.0.16.0/20", "10.0.16.1"}, {MaxNodes, "10.0.112.0/20", "10.0.112.1"}}
	for _, c := range cases {
		s := subnetOf(c.node)
		if s.String() != c.subnet || gatewayOf(s).String() != c.gate {
			t.Errorf("node %d: subnet %s gateway %s, want %s %s", c.node, s, gatewayOf(s), c.subnet, c.gate)
		}
		if !VPCCIDR.Contains(s.Addr()) || s.Contains(EC2Endpoint) {
			t.Errorf("node %d subnet %s: outside the VPC or holding the EC2 endpoint", c.node, s)
		}
	}
	if l := linkName(core.ENI{DeviceNumber: 2}); l != "eth2" {
		t.Errorf("linkName = %s", l)
	}
	if l := linkName(core.ENI{DeviceNumber: 1, NetworkCard: 1}); l != "eth1-1" {
		t.Errorf("linkName on card 1 = %s", l)
	}
}

func memoryConfig(nodes, pods int) Config {
	return Config{Mode: ModeMemory, Nodes: nodes, Pods: pods}
}

// TestRunMemory runs the whole bring-up on the memory datapath: real
// ipamd service and plugin code, through libcni, in this process.
func TestRunMemory(t *testing.T) {
	rep, err := Run(context.Background(), memoryConfig(2, 20))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Mode != ModeMemory || rep.Firewall != "memory" || rep.ConnectivityChecked {
		t.Errorf("mode %s firewall %s connectivity %v", rep.Mode, rep.Firewall, rep.ConnectivityChecked)
	}
	if rep.PodsRequested != 40 || rep.PodsWired != 40 || !rep.OK {
		t.Errorf("wired %d/%d ok %v failures %v residue %v", rep.PodsWired, rep.PodsRequested, rep.OK, rep.Failures, rep.Residue)
	}
	if rep.PingSameNode || rep.PingInternet || rep.NodePort {
		t.Error("memory mode reports packets it never sent")
	}
	if rep.AddLatency.N != 40 || rep.DelLatency.N != 40 || rep.AddLatency.P50 <= 0 {
		t.Errorf("latencies %+v %+v", rep.AddLatency, rep.DelLatency)
	}
	seen := map[string]bool{}
	for i, n := range rep.Nodes {
		subnet := subnetOf(i + 1)
		if len(n.Pods) != 20 || len(n.ENIs) < 2 || n.SecondaryENI < 1 {
			t.Errorf("%s: %d pods, %d ENIs, %d secondary ENIs with pods", n.Name, len(n.Pods), len(n.ENIs), n.SecondaryENI)
		}
		for _, p := range n.Pods {
			a := netip.MustParseAddr(p.IP)
			if !subnet.Contains(a) || seen[p.IP] || !strings.HasPrefix(p.HostVeth, VethPrefix) {
				t.Errorf("%s: pod %s ip %s veth %s (subnet %s, duplicate %v)", n.Name, p.Name, p.IP, p.HostVeth, subnet, seen[p.IP])
			}
			seen[p.IP] = true
		}
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"MEMORY datapath", "pods wired 40/40", "CNI CHECK", "not run"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestMemoryResidueFound plants leftovers in the in-memory node and
// checks teardown reports them, so an empty residue means something.
func TestMemoryResidueFound(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, memoryConfig(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.AddPod(ctx, c.Nodes()[0])
	if err != nil {
		t.Fatal(err)
	}
	net := c.be.(*memoryBackend).nets[1]
	if err := net.AddLink(datapathmem.Link{Name: "enistray00001", MAC: "02:00:00:00:00:01", Up: true}); err != nil {
		t.Fatal(err)
	}
	td := c.Close(ctx)
	if !slices.ContainsFunc(td.Residue, func(s string) bool { return strings.Contains(s, "link enistray00001") }) {
		t.Errorf("residue %v does not report the stray veth", td.Residue)
	}
	if len(td.Failures) != 0 {
		t.Errorf("failures %v", td.Failures)
	}
	if p.DelLatency <= 0 {
		t.Error("pod was not deleted through the CNI")
	}
	// A second Close returns the same result.
	if again := c.Close(ctx); !slices.Equal(again.Residue, td.Residue) {
		t.Errorf("second Close: %v", again.Residue)
	}
}

// TestExecTimer: a libcni call's timer adds up the executions under it
// and starts from zero; a call without one is timed by nobody.
func TestExecTimer(t *testing.T) {
	total := 5 * time.Second
	ctx := withExecTimer(context.Background(), &total)
	if total != 0 {
		t.Fatalf("a new timer starts at %v", total)
	}
	ran := 0
	for range 2 {
		timeExec(ctx, func() { ran++; time.Sleep(time.Millisecond) })
	}
	if ran != 2 || total < 2*time.Millisecond {
		t.Errorf("two executions of 1 ms: ran %d, timed %v", ran, total)
	}
	timeExec(context.Background(), func() { ran++ })
	if ran != 3 {
		t.Error("an execution without a timer did not run")
	}
}

// TestRestartMemory restarts ipamd on its checkpoint: the pod keeps its
// address.
func TestRestartMemory(t *testing.T) {
	ctx := context.Background()
	c, err := Start(ctx, memoryConfig(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	n := c.Nodes()[0]
	p, err := c.AddPod(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if p.AddExec <= 0 || p.AddExec >= p.AddLatency {
		t.Errorf("the plugin's execution took %v of an ADD of %v: want a part of it", p.AddExec, p.AddLatency)
	}
	if d, err := c.RestartIPAMD(ctx, n); err != nil || d <= 0 {
		t.Fatalf("restart: %v, %v", d, err)
	}
	if ch := c.CheckPods(ctx); !ch.OK || ch.Probes != 1 {
		t.Errorf("CNI CHECK after restart: %+v", ch)
	}
	if err := c.DelPod(ctx, p); err != nil {
		t.Fatal(err)
	}
	if td := c.Close(ctx); len(td.Residue)+len(td.Failures) != 0 {
		t.Errorf("teardown %+v", td)
	}
}

func TestWriteTable(t *testing.T) {
	rep := Report{
		Mode: ModeKernel, Firewall: "nftables", InstanceType: "m5.xlarge", PodsRequested: 2, PodsWired: 2,
		Nodes: []NodeReport{{
			Name: "node1", InstanceID: "i-1", PrimaryIP: "10.0.0.4", Subnet: "10.0.0.0/20", Netns: "/run/netns/vpccni-x-node1",
			ENIs: []ENIReport{{ID: "eni-a", Device: 0, MAC: "02:00:00:00:00:0a", PrimaryIP: "10.0.0.4", SecondaryIPs: 14, Pods: 1},
				{ID: "eni-b", Device: 1, MAC: "02:00:00:00:00:0b", PrimaryIP: "10.0.0.19", SecondaryIPs: 14, Pods: 1}},
			Pods: []PodReport{{Name: "default/pod-1-001", IP: "10.0.0.5", Device: 0, HostVeth: "eni1", AddMS: 7.25},
				{Name: "default/pod-1-002", IP: "10.0.0.20", Device: 1, HostVeth: "eni2", AddMS: 9}},
		}},
		Checks: []Check{
			{Name: CheckSameNode, Ran: true, OK: true, Probes: 2, Passed: 2, Detail: "2/2 connections"},
			{Name: CheckCrossNode, Detail: "needs two nodes"},
			{Name: CheckInternet, Ran: true, Probes: 2, Passed: 1, Detail: "1/2 connections", Failure: "pod-1-002: timeout"},
		},
		AddLatency: Latency{N: 2, P50: 7.25, P99: 9},
		Residue:    []string{"node1: link eni2"},
	}
	rep.finish()
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `vpc-cni local: kernel datapath (aws-k8s-agent and aws-cni in network namespaces), firewall nftables

NODE   INSTANCE  TYPE       PRIMARY IP  SUBNET       ENIS  PODS  NETNS
node1  i-1       m5.xlarge  10.0.0.4    10.0.0.0/20  2     2     /run/netns/vpccni-x-node1

NODE   ENI    DEVICE  MAC                PRIMARY IP  SECONDARY IPS  PODS
node1  eni-a  0       02:00:00:00:00:0a  10.0.0.4    14             1
node1  eni-b  1       02:00:00:00:00:0b  10.0.0.19   14             1

NODE   POD                IP         ENI DEVICE  HOST VETH  ADD ms
node1  default/pod-1-001  10.0.0.5   0           eni1       7.2
node1  default/pod-1-002  10.0.0.20  1           eni2       9.0

CHECK                 RESULT   DETAIL
pod→pod same node     ok       2/2 connections
pod→pod across nodes  not run  needs two nodes
pod→internet          FAILED   1/2 connections; first failure: pod-1-002: timeout

pods wired 2/2; CNI ADD p50 7.2 ms, p99 9.0 ms
residue: node1: link eni2
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if rep.OK || !rep.PingSameNode || rep.PingCrossNode || rep.PingInternet {
		t.Errorf("summary: ok %v same %v cross %v internet %v", rep.OK, rep.PingSameNode, rep.PingCrossNode, rep.PingInternet)
	}
}
