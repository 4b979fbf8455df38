package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// fakeIPAM is a small stateful pool: a fixed list of addresses, handed out
// in order, with a pod limit.
type fakeIPAM struct {
	mu       sync.Mutex
	ready    bool
	canGrow  bool
	free     []netip.Addr
	held     map[core.PodKey]core.Allocation
	vpc      []netip.Prefix
	failNext error
}

func newFakeIPAM(addrs ...string) *fakeIPAM {
	f := &fakeIPAM{ready: true, held: map[core.PodKey]core.Allocation{},
		vpc: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("2600:1f14::/56")}}
	for _, a := range addrs {
		f.free = append(f.free, netip.MustParseAddr(a))
	}
	return f
}

func (f *fakeIPAM) addrOf(a netip.Addr) ports.PodAddress {
	return ports.PodAddress{Addr: a, ENI: "eni-1", DeviceNumber: 1, RouteTable: core.RouteTableFor(0, 1)}
}

func (f *fakeIPAM) AssignPod(_ context.Context, req ports.AssignRequest) (ports.PodAddress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.failNext; err != nil {
		f.failNext = nil
		return ports.PodAddress{}, err
	}
	if a, ok := f.held[req.Key]; ok {
		return f.addrOf(a.Addr), nil
	}
	if len(f.free) == 0 {
		return ports.PodAddress{}, fmt.Errorf("assign address to %s: %w", req.Pod, core.ErrNoAvailableAddress)
	}
	a := f.free[0]
	f.free = f.free[1:]
	f.held[req.Key] = core.Allocation{Key: req.Key, Pod: req.Pod, Addr: a}
	return f.addrOf(a), nil
}

func (f *fakeIPAM) ReleasePod(_ context.Context, key core.PodKey) (ports.PodAddress, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.held[key]
	if !ok {
		return ports.PodAddress{}, fmt.Errorf("release %v: %w", key, core.ErrUnknownPod)
	}
	delete(f.held, key)
	f.free = append(f.free, a.Addr)
	return f.addrOf(a.Addr), nil
}

func (f *fakeIPAM) Allocations(network string) []core.Allocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []core.Allocation
	for k, a := range f.held {
		if network == "" || k.NetworkName == network {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeIPAM) VPCCIDRs() []netip.Prefix { return f.vpc }

func (f *fakeIPAM) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready
}

func (f *fakeIPAM) CanServe() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.free) > 0 || f.canGrow
}

type countingObserver struct {
	mu        sync.Mutex
	adds      int
	noAddress int
	dels      map[string]int
}

func (o *countingObserver) AddRequest() { o.mu.Lock(); o.adds++; o.mu.Unlock() }
func (o *countingObserver) NoAddress()  { o.mu.Lock(); o.noAddress++; o.mu.Unlock() }
func (o *countingObserver) DelRequest(r string) {
	o.mu.Lock()
	if o.dels == nil {
		o.dels = map[string]int{}
	}
	o.dels[r]++
	o.mu.Unlock()
}

type harness struct {
	srv  *Server
	conn *grpc.ClientConn
	cni  rpcgrpc.CNIBackendClient
	adm  rpcgrpc.IPAMAdminClient
	hc   healthpb.HealthClient
	obs  *countingObserver
}

func start(t *testing.T, ipam ports.PodIPAM, mutate func(*Config)) *harness {
	t.Helper()
	obs := &countingObserver{}
	cfg := Config{
		Socket:           filepath.Join(t.TempDir(), "run", "ipamd.sock"),
		Version:          "v1.2.3",
		ExcludeSNATCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
		HealthInterval:   -1,
		Observer:         obs,
		NodeInfo: func() NodeInfo {
			return NodeInfo{InstanceID: "i-1", Region: "us-west-2", IPv4: netip.MustParseAddr("10.0.0.10")}
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg, ipam)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	conn, err := grpc.NewClient("unix://"+cfg.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{srv: srv, conn: conn, cni: rpcgrpc.NewCNIBackendClient(conn), adm: rpcgrpc.NewIPAMAdminClient(conn), hc: healthpb.NewHealthClient(conn), obs: obs}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func addReq(container string) *pb.AddNetworkRequest {
	return &pb.AddNetworkRequest{ClientVersion: "v1.2.3", K8S_POD_NAME: "pod-" + container, K8S_POD_NAMESPACE: "default",
		ContainerID: container, IfName: "eth0", NetworkName: "aws-cni", Netns: "/var/run/netns/" + container}
}

func delReq(container string) *pb.DelNetworkRequest {
	return &pb.DelNetworkRequest{ClientVersion: "v1.2.3", K8S_POD_NAME: "pod-" + container, K8S_POD_NAMESPACE: "default",
		ContainerID: container, IfName: "eth0", NetworkName: "aws-cni", Reason: "PodDeleted"}
}

func healthOf(t *testing.T, h *harness, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	r, err := h.hc.Check(ctx(t), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health check %q: %v", service, err)
	}
	return r.GetStatus()
}

func TestAddDelRoundTrip(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5", "10.0.1.6")
	h := start(t, ipam, nil)

	r, err := h.cni.AddNetwork(ctx(t), addReq("c1"))
	if err != nil {
		t.Fatalf("AddNetwork: %v", err)
	}
	want := "Success:true IP:10.0.1.5 dev:1 table:2 extSNAT:false v4:[10.0.0.0/16 192.168.0.0/16] v6:[2600:1f14::/56]"
	if got := renderAdd(r); got != want {
		t.Errorf("AddNetwork reply\n got: %s\nwant: %s", got, want)
	}
	// A retried ADD gets the same address.
	r, err = h.cni.AddNetwork(ctx(t), addReq("c1"))
	if err != nil || renderAdd(r) != want {
		t.Errorf("retried AddNetwork = %s, %v; want %s", renderAdd(r), err, want)
	}

	al, err := h.adm.ListAllocations(ctx(t), &pb.ListAllocationsRequest{ClientVersion: "v1.2.3", NetworkName: "aws-cni"})
	if err != nil {
		t.Fatalf("ListAllocations: %v", err)
	}
	if got := renderAllocs(al); got != "aws-cni/c1/eth0 default/pod-c1 10.0.1.5" {
		t.Errorf("ListAllocations = %q", got)
	}
	al, err = h.adm.ListAllocations(ctx(t), &pb.ListAllocationsRequest{ClientVersion: "v1.2.3", NetworkName: "other"})
	if err != nil || len(al.GetAllocations()) != 0 {
		t.Errorf("ListAllocations(other) = %v, %v; want none", al, err)
	}

	d, err := h.cni.DelNetwork(ctx(t), delReq("c1"))
	if err != nil {
		t.Fatalf("DelNetwork: %v", err)
	}
	if got := renderDel(d); got != "Success:true IP:10.0.1.5 dev:1 table:2" {
		t.Errorf("DelNetwork reply = %s", got)
	}
	// Deleting again: nothing held, still a success, and no address.
	d, err = h.cni.DelNetwork(ctx(t), delReq("c1"))
	if err != nil {
		t.Fatalf("second DelNetwork: %v", err)
	}
	if got := renderDel(d); got != "Success:true" {
		t.Errorf("second DelNetwork reply = %s, want Success:true with no address", got)
	}
	if len(ipam.Allocations("")) != 0 {
		t.Errorf("allocations left after DEL: %v", ipam.Allocations(""))
	}
	h.obs.mu.Lock()
	defer h.obs.mu.Unlock()
	if h.obs.adds != 2 || h.obs.dels["PodDeleted"] != 2 {
		t.Errorf("observer counted %d adds and %v dels, want 2 and 2", h.obs.adds, h.obs.dels)
	}
}

func TestContainerIDFallsBackToInfraID(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	h := start(t, ipam, nil)
	req := addReq("")
	req.K8S_POD_INFRA_CONTAINER_ID = "infra"
	if _, err := h.cni.AddNetwork(ctx(t), req); err != nil {
		t.Fatalf("AddNetwork: %v", err)
	}
	if got := ipam.Allocations(""); len(got) != 1 || got[0].Key != (core.PodKey{NetworkName: "aws-cni", ContainerID: "infra", IfName: "eth0"}) {
		t.Errorf("allocation not keyed by the infra container ID: %v", got)
	}
	_, err := h.cni.AddNetwork(ctx(t), addReq(""))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("AddNetwork without any container ID: %v, want InvalidArgument", err)
	}
}

func TestExternalSNATOmitsExclusions(t *testing.T) {
	h := start(t, newFakeIPAM("10.0.1.5"), func(c *Config) { c.ExternalSNAT = true; c.NetworkPolicyMode = "standard" })
	r, err := h.cni.AddNetwork(ctx(t), addReq("c1"))
	if err != nil {
		t.Fatalf("AddNetwork: %v", err)
	}
	want := "Success:true IP:10.0.1.5 dev:1 table:2 extSNAT:true v4:[10.0.0.0/16] v6:[2600:1f14::/56]"
	if got := renderAdd(r); got != want {
		t.Errorf("reply\n got: %s\nwant: %s", got, want)
	}
	if r.GetNetworkPolicyMode() != "standard" {
		t.Errorf("NetworkPolicyMode = %q", r.GetNetworkPolicyMode())
	}
}

func TestNoAddressRepliesFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"pool empty", fmt.Errorf("assign: %w", core.ErrNoAvailableAddress)},
		{"max pods", fmt.Errorf("assign: %w", core.ErrMaxPods)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ipam := newFakeIPAM("10.0.1.5")
			ipam.failNext = tc.err
			h := start(t, ipam, nil)
			r, err := h.cni.AddNetwork(ctx(t), addReq("c1"))
			if err != nil {
				t.Fatalf("AddNetwork: %v, want a reply", err)
			}
			if r.GetSuccess() || len(r.GetIPAllocationMetadata()) != 0 {
				t.Errorf("reply = %s, want Success=false without address", renderAdd(r))
			}
			h.obs.mu.Lock()
			defer h.obs.mu.Unlock()
			if h.obs.noAddress != 1 {
				t.Errorf("observer counted %d no-address failures, want 1", h.obs.noAddress)
			}
		})
	}
}

func TestOtherErrorsAreStatusErrors(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	ipam.failNext = errors.New("save checkpoint: disk full")
	h := start(t, ipam, nil)
	_, err := h.cni.AddNetwork(ctx(t), addReq("c1"))
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("AddNetwork error = %v, want Internal naming the cause", err)
	}
}

func TestVersionHandshake(t *testing.T) {
	h := start(t, newFakeIPAM("10.0.1.5", "10.0.1.6"), nil)
	mismatch := addReq("c1")
	mismatch.ClientVersion = "v9.9.9"
	_, err := h.cni.AddNetwork(ctx(t), mismatch)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `"v9.9.9"`) || !strings.Contains(err.Error(), `"v1.2.3"`) {
		t.Errorf("AddNetwork with another version: %v, want FailedPrecondition naming both versions", err)
	}
	del := delReq("c1")
	del.ClientVersion = "v9.9.9"
	if _, err := h.cni.DelNetwork(ctx(t), del); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DelNetwork with another version: %v, want FailedPrecondition", err)
	}
	if _, err := h.adm.ListAllocations(ctx(t), &pb.ListAllocationsRequest{ClientVersion: "v0"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("ListAllocations with another version: %v, want FailedPrecondition", err)
	}
	// An upstream plugin sends no version: accepted.
	legacy := addReq("c2")
	legacy.ClientVersion = ""
	r, err := h.cni.AddNetwork(ctx(t), legacy)
	if err != nil || !r.GetSuccess() {
		t.Errorf("AddNetwork without version = %v, %v; want success", r, err)
	}
}

func TestNotReady(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	ipam.ready = false
	h := start(t, ipam, nil)
	if _, err := h.cni.AddNetwork(ctx(t), addReq("c1")); status.Code(err) != codes.Unavailable {
		t.Errorf("AddNetwork before ready: %v, want Unavailable", err)
	}
	if _, err := h.cni.DelNetwork(ctx(t), delReq("c1")); status.Code(err) != codes.Unavailable {
		t.Errorf("DelNetwork before ready: %v, want Unavailable", err)
	}
}

func TestHealth(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	ipam.ready = false
	h := start(t, ipam, nil)
	type want struct {
		node, aws, addr healthpb.HealthCheckResponse_ServingStatus
	}
	check := func(step string, w want) {
		t.Helper()
		got := want{healthOf(t, h, ""), healthOf(t, h, HealthServiceAWSNode), healthOf(t, h, HealthServiceAddresses)}
		if got != w {
			t.Errorf("%s: health (\"\", aws-node, addresses) = %v, want %v", step, got, w)
		}
	}
	S, N := healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	check("initialising", want{N, N, N})

	ipam.mu.Lock()
	ipam.ready = true
	ipam.mu.Unlock()
	h.srv.Refresh()
	check("ready with a free address", want{S, S, S})

	// The only address goes to a pod: the pool cannot serve another.
	if _, err := h.cni.AddNetwork(ctx(t), addReq("c1")); err != nil {
		t.Fatal(err)
	}
	check("after the last address went", want{S, S, N})

	if _, err := h.cni.DelNetwork(ctx(t), delReq("c1")); err != nil {
		t.Fatal(err)
	}
	check("after the address came back", want{S, S, S})
}

func TestHealthRefreshesPeriodically(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	ipam.ready = false
	h := start(t, ipam, func(c *Config) { c.HealthInterval = 10 * time.Millisecond })
	ipam.mu.Lock()
	ipam.ready = true
	ipam.mu.Unlock()
	// Watch streams every change; the ticker must flip "" to SERVING
	// without any request or Refresh call.
	w, err := h.hc.Watch(ctx(t), &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
	}
}

func TestConfigServer(t *testing.T) {
	h := start(t, newFakeIPAM(), func(c *Config) { c.NetworkPolicyMode = "strict" })
	r, err := rpcgrpc.NewConfigServerBackendClient(h.conn).GetNetworkPolicyConfigs(ctx(t), &pb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %s %s %q", r.GetNetworkPolicyMode(), r.GetInstanceID(), r.GetRegion(), r.GetNodeIPv4(), r.GetNodeIPv6())
	if want := `strict i-1 us-west-2 10.0.0.10 ""`; got != want {
		t.Errorf("GetNetworkPolicyConfigs = %s, want %s", got, want)
	}
}

func TestSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "a", "b", "ipamd.sock")
	// A stale socket (nobody listening) is replaced.
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	srv, err := New(Config{Socket: sock, HealthInterval: -1}, newFakeIPAM())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start over a stale socket: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SocketMode || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode = %v, want socket with %o", fi.Mode(), SocketMode)
	}

	// A second server on the same live socket refuses to start.
	second, err := New(Config{Socket: sock, HealthInterval: -1}, newFakeIPAM())
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err == nil || !errors.Is(err, core.ErrInvalidState) {
		t.Errorf("second Start on a live socket = %v, want ErrInvalidState", err)
	}

	if err := srv.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still present after Stop: %v", err)
	}

	// A regular file in the way is not removed.
	if err := os.WriteFile(sock, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	third, err := New(Config{Socket: sock, HealthInterval: -1}, newFakeIPAM())
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Start(); err == nil {
		t.Error("Start over a regular file succeeded")
	}
	if b, err := os.ReadFile(sock); err != nil || string(b) != "x" {
		t.Errorf("regular file touched: %q, %v", b, err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{Socket: "relative.sock"}, newFakeIPAM()); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("relative socket: %v", err)
	}
	if _, err := New(Config{}, nil); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("nil port: %v", err)
	}
}

func renderAdd(r *pb.AddNetworkReply) string {
	if r == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("Success:%v", r.GetSuccess())
	for _, m := range r.GetIPAllocationMetadata() {
		s += fmt.Sprintf(" IP:%s%s dev:%d table:%d", m.GetIPv4Addr(), m.GetIPv6Addr(), m.GetDeviceNumber(), m.GetRouteTableId())
	}
	if r.GetSuccess() {
		s += fmt.Sprintf(" extSNAT:%v v4:%v v6:%v", r.GetUseExternalSNAT(), r.GetVPCv4CIDRs(), r.GetVPCv6CIDRs())
	}
	return s
}

func renderDel(r *pb.DelNetworkReply) string {
	s := fmt.Sprintf("Success:%v", r.GetSuccess())
	for _, m := range r.GetIPAllocationMetadata() {
		s += fmt.Sprintf(" IP:%s%s dev:%d table:%d", m.GetIPv4Addr(), m.GetIPv6Addr(), m.GetDeviceNumber(), m.GetRouteTableId())
	}
	return s
}

func renderAllocs(r *pb.ListAllocationsReply) string {
	var lines []string
	for _, a := range r.GetAllocations() {
		lines = append(lines, fmt.Sprintf("%s/%s/%s %s/%s %s%s", a.GetNetworkName(), a.GetContainerID(), a.GetIfName(),
			a.GetK8S_POD_NAMESPACE(), a.GetK8S_POD_NAME(), a.GetIPv4Addr(), a.GetIPv6Addr()))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestStopEndsHealthWatches(t *testing.T) {
	ipam := newFakeIPAM("10.0.1.5")
	h := start(t, ipam, nil)
	w, err := h.hc.Watch(ctx(t), &healthpb.HealthCheckRequest{Service: ""})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatalf("first watch update: %v", err)
	}
	// The watch is open; Stop must not wait for the client to end it.
	stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.srv.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	if stopCtx.Err() != nil {
		t.Fatal("Stop only returned when its context ended")
	}
	for {
		_, err := w.Recv()
		if err != nil {
			if c := status.Code(err); c != codes.Unavailable {
				t.Errorf("watch ended with %v, want Unavailable", err)
			}
			break
		}
	}
}
