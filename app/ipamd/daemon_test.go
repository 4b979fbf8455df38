package ipamd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	fwmemory "github.com/vpc-cni/vpc-cni/adapters/firewall/memory"
	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func goVersion() string { return runtime.Version() }

func portsCreate(inst core.Instance) ports.CreateENIRequest {
	return ports.CreateENIRequest{SubnetID: inst.SubnetID, SecurityGroups: inst.SecurityGroups}
}

// node is what survives a daemon restart: the simulated EC2 region, the
// instance, the checkpoint and log files, the datapath and firewall state.
type node struct {
	dir      string
	region   *memory.Cloud
	instance core.Instance
	host     *datapathmem.Network
	fw       *fwmemory.Firewall
	env      map[string]string
}

func newNode(t testing.TB, instanceType string) *node {
	t.Helper()
	o := DefaultOptions()
	o.InstanceType = instanceType
	region, inst, err := NewMemoryRegion(o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	host, err := datapathmem.New(datapathmem.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fw, err := fwmemory.New(fwmemory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &node{
		dir: dir, region: region, instance: inst, host: host, fw: fw,
		env: map[string]string{
			"AWS_VPC_K8S_CNI_BACKING_STORE": filepath.Join(dir, "ipam.json"),
			"INTROSPECTION_BIND_ADDRESS":    "unix:" + filepath.Join(dir, "introspection.sock"),
			"AWS_VPC_K8S_CNI_LOG_FILE":      filepath.Join(dir, "ipamd.log"),
			"AWS_VPC_K8S_CNI_LOGLEVEL":      "DEBUG",
		},
	}
}

func (n *node) options() Options {
	o := DefaultOptions()
	o.Cloud, o.Datapath, o.Firewall = CloudMemory, DatapathMemory, FirewallMemory
	o.MemoryCloud, o.MemoryInstance = n.region, n.instance.ID
	o.HostNetwork, o.FirewallBackend = n.host, n.fw
	o.Socket = filepath.Join(n.dir, "ipamd.sock")
	o.MetricsAddress = "127.0.0.1:0"
	o.Lookup = func(k string) (string, bool) { v, ok := n.env[k]; return v, ok }
	return o
}

// start builds and starts a daemon; the log is printed if the test fails.
func (n *node) start(t testing.TB, mutate func(*Options)) *Daemon {
	t.Helper()
	o := n.options()
	if mutate != nil {
		mutate(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = d.Stop(context.Background())
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(n.dir, "ipamd.log")); err == nil {
				t.Logf("ipamd log:\n%s", b)
			}
		}
	})
	return d
}

type client struct {
	conn *grpc.ClientConn
	cni  rpcgrpc.CNIBackendClient
	adm  rpcgrpc.IPAMAdminClient
	hc   healthpb.HealthClient
}

func dial(t testing.TB, socket string) *client {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{conn: conn, cni: rpcgrpc.NewCNIBackendClient(conn), adm: rpcgrpc.NewIPAMAdminClient(conn), hc: healthpb.NewHealthClient(conn)}
}

func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func (c *client) health(t testing.TB, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	r, err := c.hc.Check(tctx(t), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health %q: %v", service, err)
	}
	return r.GetStatus()
}

func addReq(i int) *pb.AddNetworkRequest {
	return &pb.AddNetworkRequest{ClientVersion: version.Get(), K8S_POD_NAME: fmt.Sprintf("pod-%d", i), K8S_POD_NAMESPACE: "default",
		ContainerID: fmt.Sprintf("container-%d", i), IfName: "eth0", NetworkName: "aws-cni", Netns: "/var/run/netns/x"}
}

func delReq(i int) *pb.DelNetworkRequest {
	return &pb.DelNetworkRequest{ClientVersion: version.Get(), K8S_POD_NAME: fmt.Sprintf("pod-%d", i), K8S_POD_NAMESPACE: "default",
		ContainerID: fmt.Sprintf("container-%d", i), IfName: "eth0", NetworkName: "aws-cni", Reason: "PodDeleted"}
}

type checkpointFile struct {
	Version     string `json:"version"`
	Allocations []struct {
		ContainerID string `json:"containerID"`
		IPv4        string `json:"ipv4"`
		Metadata    struct {
			Name string `json:"k8sPodName"`
		} `json:"metadata"`
	} `json:"allocations"`
	Cooldowns []struct {
		IPv4 string `json:"ipv4"`
	} `json:"cooldowns"`
}

func (n *node) checkpoint(t testing.TB) checkpointFile {
	t.Helper()
	b, err := os.ReadFile(n.env["AWS_VPC_K8S_CNI_BACKING_STORE"])
	if err != nil {
		t.Fatal(err)
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("checkpoint: %v: %s", err, b)
	}
	return f
}

func introspect(t testing.TB, n *node, path string) []byte {
	t.Helper()
	sock := strings.TrimPrefix(n.env["INTROSPECTION_BIND_ADDRESS"], "unix:")
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := hc.Get("http://ipamd" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

// scrape returns the awscni_* samples of the daemon's /metrics by name
// (with labels).
func scrape(t testing.TB, d *Daemon) map[string]string {
	t.Helper()
	resp, err := http.Get("http://" + d.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, "awscni_") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		out[l[:i]] = l[i+1:]
	}
	return out
}

// The node state of newNode("m5.large") with one secondary ENI attached at
// device 1 (attachSecondary), as an operator would list it: rules, routes,
// links and rp_filter, then iptables-save lines. The memory cloud is
// seeded, so addresses are stable.
const (
	wantHost = `rule 1024: from all fwmark 0x80/0x80 lookup main
rule 32765: from 10.0.0.5 lookup 2
route default via 10.0.0.1 dev eth1 table 2
route 10.0.0.1 dev eth1 table 2 scope link
link eth0 mtu 9001 up inet 10.0.0.4/19
link eth1 mtu 9001 up inet 10.0.0.5/19
sysctl net.ipv4.conf.eth0.rp_filter = 2
`
	wantFirewall = `*mangle
-A PREROUTING -i eth0 -m comment --comment "AWS, primary ENI" -m addrtype --dst-type LOCAL --limit-iface-in -j CONNMARK --set-xmark 0x80/0x80
-A PREROUTING -i eni+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
-A PREROUTING -i vlan+ -m comment --comment "AWS, primary ENI" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
*nat
-N AWS-CONNMARK-CHAIN-0
-N AWS-SNAT-CHAIN-0
-A AWS-CONNMARK-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS CONNMARK CHAIN" -j RETURN
-A AWS-CONNMARK-CHAIN-0 -m comment --comment "AWS, CONNMARK" -j CONNMARK --set-xmark 0x80/0x80
-A AWS-SNAT-CHAIN-0 -d 10.0.0.0/16 -m comment --comment "AWS SNAT CHAIN" -j RETURN
-A AWS-SNAT-CHAIN-0 ! -o vlan+ -m comment --comment "AWS, SNAT" -m addrtype ! --dst-type LOCAL -j SNAT --to-source 10.0.0.4 --random-fully
-A POSTROUTING -m comment --comment "AWS SNAT CHAIN" -j AWS-SNAT-CHAIN-0
-A PREROUTING -i eni+ -m comment --comment "AWS, outbound connections" -j AWS-CONNMARK-CHAIN-0
-A PREROUTING -m comment --comment "AWS, CONNMARK" -j CONNMARK --restore-mark --nfmask 0x80 --ctmask 0x80
`
)

// attachSecondary attaches an ENI at device 1 before the daemon starts and
// keeps the pool from creating more (so the rendered state is fixed).
func (n *node) attachSecondary(t testing.TB) core.ENI {
	t.Helper()
	e, err := n.region.AddENI(memory.ENISpec{Instance: n.instance.ID, Device: 1, CreateENIRequest: portsCreate(n.instance)})
	if err != nil {
		t.Fatal(err)
	}
	n.env["WARM_ENI_TARGET"] = "0"
	n.env["WARM_IP_TARGET"] = "2"
	return e
}

func render(t testing.TB, r interface {
	Render(context.Context) (string, error)
}) string {
	t.Helper()
	s, err := r.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkDatapath compares the whole rendered node state with the goldens.
func checkDatapath(t *testing.T, n *node) {
	t.Helper()
	if got := render(t, n.host); got != wantHost {
		t.Errorf("host datapath\n got:\n%s\nwant:\n%s", got, wantHost)
	}
	if got := render(t, n.fw); got != wantFirewall {
		t.Errorf("firewall\n got:\n%s\nwant:\n%s", got, wantFirewall)
	}
}

func TestDaemonEndToEnd(t *testing.T) {
	n := newNode(t, "m5.large")
	n.attachSecondary(t)
	d := n.start(t, nil)
	checkDatapath(t, n)
	c := dial(t, d.Socket())

	if got := c.health(t, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf(`health "" after Start = %v, want SERVING`, got)
	}
	if got := c.health(t, "grpc.health.v1.aws-node"); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health aws-node after Start = %v, want SERVING", got)
	}

	r, err := c.cni.AddNetwork(tctx(t), addReq(1))
	if err != nil || !r.GetSuccess() {
		t.Fatalf("AddNetwork = %v, %v", r, err)
	}
	ip := r.GetIPAllocationMetadata()[0].GetIPv4Addr()
	// Durable before the reply: the file already holds it.
	cp := n.checkpoint(t)
	if len(cp.Allocations) != 1 || cp.Allocations[0].ContainerID != "container-1" || cp.Allocations[0].IPv4 != ip || cp.Allocations[0].Metadata.Name != "pod-1" {
		t.Fatalf("checkpoint right after AddNetwork = %+v, want container-1 with %s", cp, ip)
	}
	if cp.Version != "vpc-cni-ipam/1" {
		t.Errorf("checkpoint version %q", cp.Version)
	}
	if !r.GetSuccess() || len(r.GetVPCv4CIDRs()) != 1 || r.GetVPCv4CIDRs()[0] != "10.0.0.0/16" || r.GetUseExternalSNAT() {
		t.Errorf("AddNetwork reply = %v, want the VPC CIDR and on-node SNAT", r)
	}
	if got := c.health(t, "vpc-cni.addresses"); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health vpc-cni.addresses = %v, want SERVING (the pool can grow)", got)
	}

	// Introspection shows the address as assigned, without container IDs.
	var enis map[string]struct {
		AssignedIPs int
		ENIs        map[string]struct {
			AvailableIPv4Cidrs map[string]struct {
				IPAddresses map[string]json.RawMessage
			}
		}
	}
	body := introspect(t, n, "/v1/enis")
	if err := json.Unmarshal(body, &enis); err != nil {
		t.Fatalf("/v1/enis: %v: %s", err, body)
	}
	if enis["0"].AssignedIPs != 1 || !strings.Contains(string(body), `"`+ip+`"`) || strings.Contains(string(body), "container-1") {
		t.Errorf("/v1/enis = %s, want one assigned address %s and no container ID", body, ip)
	}
	if b := introspect(t, n, "/v1/networkutils-env-settings"); !strings.Contains(string(b), `"AWS_VPC_ENI_MTU":9001`) {
		t.Errorf("/v1/networkutils-env-settings = %s", b)
	}

	// Metrics are published on every ADD.
	m := scrape(t, d)
	for name, want := range map[string]string{
		"awscni_add_ip_req_count":      "1",
		"awscni_assigned_ip_addresses": "1",
		"awscni_eni_max":               "3",
		"awscni_ip_max":                "27",
		fmt.Sprintf(`awscni_build_info{goversion=%q,version=%q}`, goVersion(), version.Get()): "1",
	} {
		if m[name] != want {
			t.Errorf("metric %s = %q, want %q", name, m[name], want)
		}
	}

	// The version handshake is real.
	other := addReq(2)
	other.ClientVersion = "v0.0.0-other"
	if _, err := c.cni.AddNetwork(tctx(t), other); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("AddNetwork from another version: %v, want FailedPrecondition", err)
	}
	checkDatapath(t, n)

	// Restart on the same checkpoint and cloud.
	if err := d.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := os.Stat(d.Socket()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Stop: %v", err)
	}
	d2 := n.start(t, nil)
	c2 := dial(t, d2.Socket())
	if got := c2.health(t, ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf(`health "" after restart = %v`, got)
	}
	al, err := c2.adm.ListAllocations(tctx(t), &pb.ListAllocationsRequest{ClientVersion: version.Get(), NetworkName: "aws-cni"})
	if err != nil || len(al.GetAllocations()) != 1 || al.GetAllocations()[0].GetIPv4Addr() != ip || al.GetAllocations()[0].GetContainerID() != "container-1" {
		t.Fatalf("allocations after restart = %v, %v; want container-1 with %s", al, err, ip)
	}
	// A retried ADD after the restart gets the restored address.
	r, err = c2.cni.AddNetwork(tctx(t), addReq(1))
	if err != nil || r.GetIPAllocationMetadata()[0].GetIPv4Addr() != ip {
		t.Errorf("AddNetwork after restart = %v, %v; want %s", r, err, ip)
	}
	checkDatapath(t, n)

	dr, err := c2.cni.DelNetwork(tctx(t), delReq(1))
	if err != nil || !dr.GetSuccess() || dr.GetIPAllocationMetadata()[0].GetIPv4Addr() != ip {
		t.Fatalf("DelNetwork = %v, %v", dr, err)
	}
	cp = n.checkpoint(t)
	if len(cp.Allocations) != 0 || len(cp.Cooldowns) != 1 || cp.Cooldowns[0].IPv4 != ip {
		t.Errorf("checkpoint after DelNetwork = %+v, want no allocation and %s cooling", cp, ip)
	}
	dr, err = c2.cni.DelNetwork(tctx(t), delReq(1))
	if err != nil || !dr.GetSuccess() || len(dr.GetIPAllocationMetadata()) != 0 {
		t.Errorf("second DelNetwork = %v, %v; want success without address", dr, err)
	}
	if m := scrape(t, d2); m["awscni_cooldown_ip_addresses"] != "1" || m["awscni_assigned_ip_addresses"] != "0" {
		t.Errorf("metrics after DEL: cooldown=%q assigned=%q, want 1 and 0", m["awscni_cooldown_ip_addresses"], m["awscni_assigned_ip_addresses"])
	}
}

func TestDatapathRepair(t *testing.T) {
	n := newNode(t, "m5.large")
	n.attachSecondary(t)
	n.start(t, func(o *Options) { o.DatapathInterval = 20 * time.Millisecond })
	checkDatapath(t, n)
	// Someone flushes the policy rules, deletes the ENI's table and a SNAT
	// rule: a later repair pass puts everything back.
	n.host.FlushRules()
	if !n.host.DeleteRoute("route default via 10.0.0.1 dev eth1 table 2") {
		t.Fatal("route to delete not found")
	}
	n.fw.Tamper(strings.Replace(wantFirewall, "-A POSTROUTING -m comment --comment \"AWS SNAT CHAIN\" -j AWS-SNAT-CHAIN-0\n", "", 1))
	if render(t, n.host) == wantHost || render(t, n.fw) == wantFirewall {
		t.Fatal("tampering changed nothing")
	}
	waitFor(t, "the datapath to be repaired", func() bool {
		return render(t, n.host) == wantHost && render(t, n.fw) == wantFirewall
	})
	checkDatapath(t, n)
}

// waitFor polls cond until it holds; the test's deadline bounds it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx := tctx(t)
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestNewENIWiredBeforeUse(t *testing.T) {
	n := newNode(t, "m5.large")
	// More warm addresses than the primary ENI holds: the first pool pass
	// attaches a second ENI.
	n.env["WARM_ENI_TARGET"] = "0"
	n.env["WARM_IP_TARGET"] = "12"
	var hooked []core.ENIID
	d := n.start(t, func(o *Options) {
		o.BeforeENISetup = func(e core.ENI) error { hooked = append(hooked, e.ID); return nil }
	})
	waitFor(t, "a second ENI in the pool", func() bool { return len(d.Service().ENIs()) == 2 })
	// The service adopts an ENI only after OnENIReady returned, so once it
	// is in the pool it must be wired already.
	var eni core.ENI
	for _, e := range n.region.ENIsOf(n.instance.ID) {
		if e.DeviceNumber == 1 {
			eni = e
		}
	}
	got := render(t, n.host)
	for _, want := range []string{
		fmt.Sprintf("rule 32765: from %s lookup 2", eni.PrimaryIP),
		"route default via 10.0.0.1 dev eth1 table 2",
		fmt.Sprintf("link eth1 mtu 9001 up inet %s/19", eni.PrimaryIP),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("host datapath lacks %q:\n%s", want, got)
		}
	}
	d.Stop(context.Background())
	if len(hooked) == 0 || hooked[0] != eni.ID {
		t.Errorf("BeforeENISetup saw %v, want %s first", hooked, eni.ID)
	}
}

func TestStartupErrors(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		mutate func(*Options)
		want   []string
	}{
		{"invalid env", map[string]string{"WARM_ENI_TARGET": "lots"}, nil, []string{"WARM_ENI_TARGET", `"lots"`}},
		{"two invalid variables", map[string]string{"AWS_VPC_ENI_MTU": "20", "AWS_VPC_K8S_CNI_RANDOMIZESNAT": "sometimes"}, nil,
			[]string{"AWS_VPC_ENI_MTU", "AWS_VPC_K8S_CNI_RANDOMIZESNAT", "sometimes"}},
		{"bad flag value", nil, func(o *Options) { o.Cloud = "gcp" }, []string{"--cloud", "gcp"}},
		{"checkpoint path is a directory", map[string]string{"AWS_VPC_K8S_CNI_BACKING_STORE": "/tmp/"}, nil, []string{"checkpoint path"}},
		{"custom networking is not built", map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"}, nil,
			[]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", `"true"`, "node's own subnet"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "m5.large")
			for k, v := range tc.env {
				n.env[k] = v
			}
			o := n.options()
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			d, err := New(o)
			if err == nil {
				err = d.Start(context.Background())
				_ = d.Stop(context.Background())
			}
			if err == nil {
				t.Fatal("start-up succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestStartupFailsOnDatapathError(t *testing.T) {
	n := newNode(t, "m5.large")
	// Node-wide host setup fails (a secondary ENI that fails does not stop
	// start-up: TestStartupCarriesOnPastAFailedENI).
	if _, err := n.region.AddENI(memory.ENISpec{Instance: n.instance.ID, Device: 1,
		CreateENIRequest: portsCreate(n.instance)}); err != nil {
		t.Fatal(err)
	}
	n.host.InjectError("SetupHost", errors.New("link not found"))
	d, err := New(n.options())
	if err != nil {
		t.Fatal(err)
	}
	err = d.Start(context.Background())
	if err == nil {
		_ = d.Stop(context.Background())
		t.Fatal("Start succeeded although the host network could not be set up")
	}
	for _, w := range []string{"set up node datapath", "set up host network", "link not found"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	// Nothing keeps serving after a failed start.
	if _, serr := os.Stat(n.options().Socket); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("socket left after failed start: %v", serr)
	}
}

func TestParseFlags(t *testing.T) {
	env := func(m map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"defaults", nil, nil, "aws netlink auto", ""},
		{"env", map[string]string{EnvCloud: "memory", EnvDatapath: "memory", EnvFirewall: "nftables"}, nil, "memory memory nftables", ""},
		{"flag beats env", map[string]string{EnvCloud: "memory"}, []string{"--cloud=emulator"}, "emulator netlink auto", ""},
		{"bad env", map[string]string{EnvFirewall: "pf"}, nil, "", `--firewall "pf"`},
		{"bad flag", nil, []string{"--datapath", "ebpf"}, "", `--datapath "ebpf"`},
		{"bad cidr", nil, []string{"--subnet-cidr=10.0.0.0"}, "", "subnet-cidr"},
		{"stray argument", nil, []string{"run"}, "", "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := DefaultOptions()
			base.Lookup = env(tc.env)
			o, err := ParseFlags(base, tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want it to mention %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Cloud + " " + o.Datapath + " " + o.Firewall; got != tc.want {
				t.Errorf("choices = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunFromFlagsStopsCleanly(t *testing.T) {
	// Flags alone, as on a laptop: memory cloud, datapath and firewall.
	n := newNode(t, "m5.large")
	base := DefaultOptions()
	base.Lookup = n.options().Lookup
	socket := filepath.Join(n.dir, "flags.sock")
	o, err := ParseFlags(base, []string{"--cloud=memory", "--datapath=memory", "--firewall=memory",
		"--instance-type=t3.medium", "--socket=" + socket, "--metrics-address=127.0.0.1:0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	// Wait for the node to be ready, then stop it as SIGTERM would.
	c := dial(t, socket)
	w, err := c.hc.Watch(tctx(t), &healthpb.HealthCheckRequest{Service: ""}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watch health: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
	}
	r, err := c.cni.AddNetwork(tctx(t), addReq(1))
	if err != nil || !r.GetSuccess() {
		t.Fatalf("AddNetwork = %v, %v", r, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil (clean stop)", err)
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after stop: %v", err)
	}
}

func TestEmulatorCloud(t *testing.T) {
	// The real EC2 and metadata clients, over HTTP, against the emulator.
	n := newNode(t, "m5.large")
	d := n.start(t, func(o *Options) {
		o.Cloud, o.MemoryCloud = CloudEmulator, nil
	})
	c := dial(t, d.Socket())
	r, err := c.cni.AddNetwork(tctx(t), addReq(1))
	if err != nil || !r.GetSuccess() {
		t.Fatalf("AddNetwork through the emulated EC2 = %v, %v", r, err)
	}
	if got := r.GetVPCv4CIDRs(); len(got) != 1 || got[0] != "10.0.0.0/16" {
		t.Errorf("VPC CIDRs from the emulated EC2 = %v", got)
	}
	m := scrape(t, d)
	if m[`awscni_ec2api_req_count{fn="DescribeInstances"}`] == "" {
		t.Errorf("no EC2 API metrics after start-up: %v", m)
	}
	if got := render(t, n.host); !strings.Contains(got, "link eth0 mtu 9001 up") {
		t.Errorf("host datapath not set up:\n%s", got)
	}
}

func TestAWSCloudWithoutMetadata(t *testing.T) {
	// No metadata service: start-up fails, naming the step.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	n := newNode(t, "m5.large")
	n.env["AWS_REGION"] = "us-west-2"
	n.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = refused
	o := n.options()
	o.Cloud, o.MemoryCloud = CloudAWS, nil
	d, err := New(o)
	if err != nil {
		t.Fatalf("New with AWS_REGION set should not need the network: %v", err)
	}
	err = d.Start(context.Background())
	if err == nil {
		_ = d.Stop(context.Background())
		t.Fatal("Start succeeded without a metadata service")
	}
	if !strings.Contains(err.Error(), "initialise node IPAM") || !strings.Contains(err.Error(), "instance identity") {
		t.Errorf("error %q does not name the failed step", err)
	}
}

func TestDisabledEndpoints(t *testing.T) {
	n := newNode(t, "m5.large")
	n.env["DISABLE_INTROSPECTION"] = "true"
	n.env["DISABLE_METRICS"] = "true"
	d := n.start(t, nil)
	if a := d.IntrospectionAddr(); a != nil {
		t.Errorf("introspection served on %v although disabled", a)
	}
	if a := d.MetricsAddr(); a != nil {
		t.Errorf("metrics served on %v although disabled", a)
	}
	if _, err := os.Stat(strings.TrimPrefix(n.env["INTROSPECTION_BIND_ADDRESS"], "unix:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("introspection socket exists although disabled: %v", err)
	}
	// The CNI endpoint is not optional.
	c := dial(t, d.Socket())
	if r, err := c.cni.AddNetwork(tctx(t), addReq(1)); err != nil || !r.GetSuccess() {
		t.Errorf("AddNetwork = %v, %v", r, err)
	}
}
