package rpcclient_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/vpc-cni/vpc-cni/adapters/lazyctx"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/fakeipamd"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient/grpcconn"
	"github.com/vpc-cni/vpc-cni/core"
)

// socketPath returns a short socket path (unix sockets are limited to 107
// bytes, and t.TempDir paths of long test names exceed that).
func socketPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rpcc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "ipamd.sock")
}

func startFake(t *testing.T, cfg fakeipamd.Config) *fakeipamd.Server {
	t.Helper()
	if cfg.SocketPath == "" {
		cfg.SocketPath = socketPath(t)
	}
	s, err := fakeipamd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func dial(t *testing.T, tr rpcclient.Dialer, path, version string) *rpcclient.Client {
	t.Helper()
	c, err := rpcclient.New(rpcclient.Config{SocketPath: path, ClientVersion: version, Dialer: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var pool = []fakeipamd.Address{
	{Addr: netip.MustParseAddr("10.0.1.10"), DeviceNumber: 0, RouteTable: 254},
	{Addr: netip.MustParseAddr("10.0.2.20"), DeviceNumber: 1, RouteTable: 2},
}

// bothTransports runs a test against each client transport: the suite is
// the contract both must meet against the same server.
func bothTransports(t *testing.T, test func(*testing.T, rpcclient.Dialer)) {
	t.Run("direct", func(t *testing.T) { test(t, nil) })
	t.Run("grpc", func(t *testing.T) { test(t, grpcconn.Dial) })
}

func key(id string) rpcclient.PodKey {
	return rpcclient.PodKey{NetworkName: "aws-cni", ContainerID: id, IfName: "eth0"}
}

func TestDialWithoutServerIsUnavailable(t *testing.T) {
	bothTransports(t, testDialWithoutServerIsUnavailable)
}

func testDialWithoutServerIsUnavailable(t *testing.T, tr rpcclient.Dialer) {
	_, err := rpcclient.DialConfig(context.Background(), rpcclient.Config{SocketPath: socketPath(t), DialTimeout: 5 * time.Second, Dialer: tr})
	if !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Fatalf("Dial error = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "ipamd.sock") {
		t.Errorf("error %q does not name the socket", err)
	}
}

func TestAddDelRoundTrip(t *testing.T) { bothTransports(t, testAddDelRoundTrip) }

func testAddDelRoundTrip(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{Addresses: pool, ServerVersion: "v9"})
	c := dial(t, tr, s.SocketPath(), "v9")
	ctx := context.Background()
	pod := rpcclient.Pod{Name: "web", Namespace: "default", InfraContainerID: "c1"}

	var got []rpcclient.IPAllocation
	for _, id := range []string{"c1", "c2", "c1"} {
		r, err := c.AddNetwork(ctx, rpcclient.AddRequest{Key: key(id), Pod: pod, Netns: "/var/run/netns/x"})
		if err != nil {
			t.Fatalf("AddNetwork(%s): %v", id, err)
		}
		if !r.Success || len(r.Allocations) != 1 {
			t.Fatalf("AddNetwork(%s) = %+v, want one allocation", id, r)
		}
		if len(r.VPCCIDRs) != 1 || r.VPCCIDRs[0] != netip.MustParsePrefix("10.0.0.0/16") {
			t.Errorf("VPC CIDRs = %v", r.VPCCIDRs)
		}
		got = append(got, r.Allocations[0])
	}
	want := []rpcclient.IPAllocation{
		{Addr: netip.MustParseAddr("10.0.1.10"), DeviceNumber: 0, RouteTable: 254},
		{Addr: netip.MustParseAddr("10.0.2.20"), DeviceNumber: 1, RouteTable: 2},
		{Addr: netip.MustParseAddr("10.0.1.10"), DeviceNumber: 0, RouteTable: 254}, // same key, same address
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("allocation %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	d, err := c.DelNetwork(ctx, rpcclient.DelRequest{Key: key("c2"), Pod: pod, Reason: "PodDeleted"})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Success || len(d.Allocations) != 1 || d.Allocations[0] != want[1] {
		t.Errorf("DelNetwork = %+v, want the released %+v", d, want[1])
	}
	for _, r := range s.Requests() {
		if r.ClientVersion != "v9" {
			t.Errorf("%s sent client version %q, want v9", r.Method, r.ClientVersion)
		}
	}
	if reqs := s.Requests(); reqs[len(reqs)-1].Reason != "PodDeleted" {
		t.Errorf("reason not sent: %+v", reqs[len(reqs)-1])
	}
	if a := s.Assigned(); len(a) != 1 || a[key("c1")] != want[0].Addr {
		t.Errorf("server state after DEL = %v", a)
	}

	// Our ipamd answers a DEL of an unknown key with an empty success.
	d, err = c.DelNetwork(ctx, rpcclient.DelRequest{Key: key("c2")})
	if err != nil || !d.Success || len(d.Allocations) != 0 {
		t.Errorf("second DelNetwork = %+v, %v; want an empty success", d, err)
	}
}

func TestErrorMapping(t *testing.T) { bothTransports(t, testErrorMapping) }

func testErrorMapping(t *testing.T, tr rpcclient.Dialer) {
	tests := []struct {
		name    string
		cfg     fakeipamd.Config
		version string
		addFail fakeipamd.Failure
		call    string // "add", "del", "list"
		want    error
		wantMsg string
	}{
		{name: "unknown pod", cfg: fakeipamd.Config{UnknownPod: fakeipamd.UnknownPodNotFound}, call: "del", want: core.ErrUnknownPod, wantMsg: "unknown pod"},
		{name: "upstream unknown pod", cfg: fakeipamd.Config{UnknownPod: fakeipamd.UnknownPodUpstream}, call: "del", want: core.ErrUnknownPod, wantMsg: "datastore: unknown pod"},
		{name: "version mismatch", cfg: fakeipamd.Config{ServerVersion: "v2"}, version: "v1", call: "add", want: rpcclient.ErrVersionMismatch, wantMsg: `"v1"`},
		{name: "no address", addFail: fakeipamd.Failure{Code: codes.ResourceExhausted, Message: "no free IP on 3 ENIs"}, call: "add", want: core.ErrNoAvailableAddress, wantMsg: "no free IP on 3 ENIs"},
		{name: "unavailable", addFail: fakeipamd.Failure{Code: codes.Unavailable, Message: "shutting down"}, call: "add", want: rpcclient.ErrUnavailable, wantMsg: "shutting down"},
		{name: "list on upstream", cfg: fakeipamd.Config{WithoutAdmin: true}, call: "list", want: rpcclient.ErrUnimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addresses = pool
			s := startFake(t, tt.cfg)
			s.FailAdd(tt.addFail)
			c := dial(t, tr, s.SocketPath(), tt.version)
			var err error
			switch tt.call {
			case "add":
				_, err = c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
			case "del":
				_, err = c.DelNetwork(context.Background(), rpcclient.DelRequest{Key: key("c1")})
			case "list":
				_, err = c.ListAllocations(context.Background(), "aws-cni")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks ipamd's message %q", err, tt.wantMsg)
			}
		})
	}
}

func TestAddNoSuccess(t *testing.T) { bothTransports(t, testAddNoSuccess) }

func testAddNoSuccess(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{}) // empty pool
	c := dial(t, tr, s.SocketPath(), "")
	r, err := c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Success || len(r.Allocations) != 0 {
		t.Errorf("reply = %+v, want Success=false without allocations", r)
	}
}

func TestCallsAfterServerStopsAreUnavailable(t *testing.T) {
	bothTransports(t, testCallsAfterServerStopsAreUnavailable)
}

func testCallsAfterServerStopsAreUnavailable(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	c := dial(t, tr, s.SocketPath(), "")
	s.Close()
	_, err := c.DelNetwork(context.Background(), rpcclient.DelRequest{Key: key("c1")})
	if !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
}

func TestListAllocations(t *testing.T) { bothTransports(t, testListAllocations) }

func testListAllocations(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{Addresses: append(pool, fakeipamd.Address{Addr: netip.MustParseAddr("2600::5")})})
	ctx := context.Background()
	for _, k := range []rpcclient.PodKey{key("b"), {NetworkName: "other", ContainerID: "x", IfName: "eth0"}, key("a")} {
		if _, err := s.Preassign(k, rpcclient.Pod{Name: "p-" + k.ContainerID, Namespace: "ns"}); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, tr, s.SocketPath(), "")
	got, err := c.ListAllocations(ctx, "aws-cni")
	if err != nil {
		t.Fatal(err)
	}
	want := []rpcclient.Allocation{
		{Key: key("a"), Pod: rpcclient.Pod{Name: "p-a", Namespace: "ns"}, IPv6: netip.MustParseAddr("2600::5")},
		{Key: key("b"), Pod: rpcclient.Pod{Name: "p-b", Namespace: "ns"}, IPv4: netip.MustParseAddr("10.0.1.10")},
	}
	if len(got) != len(want) {
		t.Fatalf("ListAllocations = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("allocation %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestHealth(t *testing.T) { bothTransports(t, testHealth) }

func testHealth(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{Addresses: pool[:1]})
	c := dial(t, tr, s.SocketPath(), "")
	ctx := context.Background()
	check := func(service string, want rpcclient.HealthStatus) {
		t.Helper()
		got, err := c.Health(ctx, service)
		if err != nil {
			t.Fatalf("Health(%q): %v", service, err)
		}
		if got != want {
			t.Errorf("Health(%q) = %s, want %s", service, got, want)
		}
	}
	check("", rpcclient.Serving)
	check(fakeipamd.AddressesService, rpcclient.Serving)
	check("no.such.service", rpcclient.ServiceUnknown)
	if _, err := s.Preassign(key("c1"), rpcclient.Pod{}); err != nil {
		t.Fatal(err)
	}
	check(fakeipamd.AddressesService, rpcclient.NotServing) // pool exhausted
	s.SetHealth("", false)
	check("", rpcclient.NotServing)
}

// badServer answers AddNetwork with an address that does not parse.
type badServer struct {
	rpcgrpc.UnimplementedCNIBackendServer
}

func (badServer) AddNetwork(context.Context, *pb.AddNetworkRequest) (*pb.AddNetworkReply, error) {
	return &pb.AddNetworkReply{Success: true, IPAllocationMetadata: []*pb.IPAllocationMetadata{{IPv4Addr: "10.0.0.300"}}}, nil
}

func TestMalformedReplyIsAnError(t *testing.T) { bothTransports(t, testMalformedReplyIsAnError) }

func testMalformedReplyIsAnError(t *testing.T, tr rpcclient.Dialer) {
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpcgrpc.RegisterCNIBackendServer(srv, badServer{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c := dial(t, tr, path, "")
	_, err = c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
	if err == nil || !strings.Contains(err.Error(), "10.0.0.300") {
		t.Fatalf("error = %v, want one naming the bad address", err)
	}
}

// manyAddresses is a pool of n IPv4 addresses.
func manyAddresses(n int) []fakeipamd.Address {
	out := make([]fakeipamd.Address, n)
	a := netip.MustParseAddr("10.1.0.1")
	for i := range out {
		out[i] = fakeipamd.Address{Addr: a, DeviceNumber: i % 4, RouteTable: 2 + i%4}
		a = a.Next()
	}
	return out
}

// A full node's ListAllocations is larger than HTTP/2's initial 64 KiB
// window and spans many frames.
func TestLargeReply(t *testing.T) { bothTransports(t, testLargeReply) }

func testLargeReply(t *testing.T, tr rpcclient.Dialer) {
	const n = 3000
	s := startFake(t, fakeipamd.Config{Addresses: manyAddresses(n)})
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%064d", i)
		if _, err := s.Preassign(key(id), rpcclient.Pod{Name: "pod-" + id[56:], Namespace: "namespace-with-a-long-name"}); err != nil {
			t.Fatal(err)
		}
	}
	c := dial(t, tr, s.SocketPath(), "")
	got, err := c.ListAllocations(context.Background(), "aws-cni")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("ListAllocations returned %d allocations, want %d", len(got), n)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range got {
		seen[a.IPv4] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct addresses in the reply, want %d", len(seen), n)
	}
	// The connection still carries calls after the large reply.
	if _, err := c.Health(context.Background(), ""); err != nil {
		t.Errorf("Health after a large reply: %v", err)
	}
}

// ipamd's messages reach the caller unchanged, including characters gRPC
// percent-encodes on the wire.
func TestErrorMessageEncoding(t *testing.T) { bothTransports(t, testErrorMessageEncoding) }

func testErrorMessageEncoding(t *testing.T, tr rpcclient.Dialer) {
	const msg = "pool 100% used: no address on ENI eni-0ab (ünïcode)\nsecond line %41"
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	s.FailAdd(fakeipamd.Failure{Code: codes.Internal, Message: msg})
	c := dial(t, tr, s.SocketPath(), "")
	_, err := c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
	if err == nil || !strings.HasSuffix(err.Error(), msg) {
		t.Fatalf("error = %q, want it to end with %q", err, msg)
	}
	if !strings.Contains(err.Error(), "Internal") {
		t.Errorf("error %q does not name the code", err)
	}
}

// stuckServer never answers AddNetwork; it reports the deadline each call
// arrived with.
type stuckServer struct {
	rpcgrpc.UnimplementedCNIBackendServer
	deadlines chan time.Duration
}

func (s stuckServer) AddNetwork(ctx context.Context, _ *pb.AddNetworkRequest) (*pb.AddNetworkReply, error) {
	d, ok := ctx.Deadline()
	left := time.Duration(-1)
	if ok {
		left = time.Until(d)
	}
	s.deadlines <- left
	<-ctx.Done()
	return nil, ctx.Err()
}

func startStuck(t *testing.T) (string, stuckServer) {
	t.Helper()
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	st := stuckServer{deadlines: make(chan time.Duration, 10)}
	rpcgrpc.RegisterCNIBackendServer(srv, st)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return path, st
}

// A call ipamd does not answer ends with the caller's deadline, which
// ipamd learns as well (grpc-timeout).
func TestDeadline(t *testing.T) { bothTransports(t, testDeadline) }

func testDeadline(t *testing.T, tr rpcclient.Dialer) {
	path, st := startStuck(t)
	c := dial(t, tr, path, "")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.AddNetwork(ctx, rpcclient.AddRequest{Key: key("c1")})
	if !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("call returned after %s, long after its 300ms deadline", took)
	}
	left := <-st.deadlines
	if left <= 0 || left > 300*time.Millisecond {
		t.Errorf("ipamd saw %s left of the call's deadline, want (0, 300ms]", left)
	}
}

// Cancelling the caller's context ends a call ipamd does not answer.
func TestCancel(t *testing.T) { bothTransports(t, testCancel) }

func testCancel(t *testing.T, tr rpcclient.Dialer) {
	path, st := startStuck(t)
	c := dial(t, tr, path, "")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-st.deadlines // the call reached ipamd
		cancel()
	}()
	_, err := c.AddNetwork(ctx, rpcclient.AddRequest{Key: key("c1")})
	if !errors.Is(err, rpcclient.ErrUnavailable) || !strings.Contains(err.Error(), "cancel") {
		t.Fatalf("error = %v, want ErrUnavailable naming the cancellation", err)
	}
}

// Something that is not ipamd listening on the socket is reported as
// ipamd being unavailable, not as a hang or a crash.
func TestNotIPAMD(t *testing.T) { bothTransports(t, testNotIPAMD) }

func testNotIPAMD(t *testing.T, tr rpcclient.Dialer) {
	path := socketPath(t)
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
			_ = conn.Close()
		}
	}()
	c, err := rpcclient.New(rpcclient.Config{SocketPath: path, Dialer: tr, DialTimeout: 2 * time.Second, CallTimeout: 2 * time.Second})
	if err == nil {
		defer c.Close()
		_, err = c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
	}
	if !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
}

// One client serves calls from several goroutines.
func TestConcurrentCalls(t *testing.T) { bothTransports(t, testConcurrentCalls) }

func testConcurrentCalls(t *testing.T, tr rpcclient.Dialer) {
	const workers, each = 8, 10
	s := startFake(t, fakeipamd.Config{Addresses: manyAddresses(workers * each)})
	c := dial(t, tr, s.SocketPath(), "")
	var wg sync.WaitGroup
	addrs := make(chan netip.Addr, workers*each)
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key(fmt.Sprintf("w%d-%d", w, i))})
				if err != nil {
					errs <- err
					continue
				}
				addrs <- r.Allocations[0].Addr
			}
		}()
	}
	wg.Wait()
	close(addrs)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[netip.Addr]bool{}
	for a := range addrs {
		if seen[a] {
			t.Errorf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d addresses assigned, want %d", len(seen), workers*each)
	}
}

// Closing the client ends a call ipamd does not answer, without waiting
// for the call's deadline.
func TestCloseEndsCall(t *testing.T) { bothTransports(t, testCloseEndsCall) }

func testCloseEndsCall(t *testing.T, tr rpcclient.Dialer) {
	path, st := startStuck(t)
	c, err := rpcclient.New(rpcclient.Config{SocketPath: path, Dialer: tr, CallTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-st.deadlines // the call reached ipamd
		c.Close()
	}()
	start := time.Now()
	_, err = c.AddNetwork(context.Background(), rpcclient.AddRequest{Key: key("c1")})
	if !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Fatalf("error = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("call ended %s after it started, not when the client closed", took)
	}
	if _, err := c.Health(context.Background(), ""); !errors.Is(err, rpcclient.ErrUnavailable) {
		t.Errorf("call after Close = %v, want ErrUnavailable", err)
	}
}

// sawAdd waits until the server has received an AddNetwork for id.
func sawAdd(s *fakeipamd.Server, id string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		for _, r := range s.Requests() {
			if r.Method == "AddNetwork" && r.Key == key(id) {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// On the direct transport AddNetworkWhile runs its work once the request is
// on its way (the server receives it while the work runs) and reads the
// reply afterwards.
func TestAddNetworkWhileOverlaps(t *testing.T) {
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	c := dial(t, nil, s.SocketPath(), "")
	calls, serverHadIt, lazyDuringWork := 0, false, false
	// The caller's deadline is a lazy one, as the plugin's: the work runs
	// before anything waits on it, so with no timer started.
	ctx, cancel := lazyctx.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := c.AddNetworkWhile(ctx, rpcclient.AddRequest{Key: key("c1")}, func() {
		calls++
		lazyDuringWork = lazyctx.Lazy(ctx)
		serverHadIt = sawAdd(s, "c1", 5*time.Second)
	})
	if err != nil || !r.Success || len(r.Allocations) != 1 || r.Allocations[0].Addr != pool[0].Addr {
		t.Fatalf("AddNetworkWhile = %+v, %v; want %s", r, err, pool[0].Addr)
	}
	if calls != 1 {
		t.Fatalf("work ran %d times, want once", calls)
	}
	if !serverHadIt {
		t.Error("the server had not received the request while the work ran")
	}
	if !lazyDuringWork {
		t.Error("the call's deadline had started a timer before the work ran")
	}
	// The connection stays usable.
	if _, err := c.DelNetwork(context.Background(), rpcclient.DelRequest{Key: key("c1")}); err != nil {
		t.Errorf("DelNetwork after AddNetworkWhile: %v", err)
	}
}

// Errors reach the caller as from AddNetwork, after the work ran.
func TestAddNetworkWhileError(t *testing.T) { bothTransports(t, testAddNetworkWhileError) }

func testAddNetworkWhileError(t *testing.T, tr rpcclient.Dialer) {
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	s.FailAdd(fakeipamd.Failure{Code: codes.ResourceExhausted, Message: "no addresses"})
	c := dial(t, tr, s.SocketPath(), "")
	calls := 0
	_, err := c.AddNetworkWhile(context.Background(), rpcclient.AddRequest{Key: key("c1")}, func() { calls++ })
	if !errors.Is(err, core.ErrNoAvailableAddress) {
		t.Fatalf("error = %v, want ErrNoAvailableAddress", err)
	}
	if calls != 1 {
		t.Errorf("work ran %d times, want once", calls)
	}
}

// A request that cannot be sent runs no work on the direct transport: the
// caller has nothing to undo.
func TestAddNetworkWhileNotSent(t *testing.T) {
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	for name, setup := range map[string]func(*rpcclient.Client) context.Context{
		"closed connection": func(c *rpcclient.Client) context.Context { c.Close(); return context.Background() },
		"cancelled context": func(*rpcclient.Client) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := dial(t, nil, s.SocketPath(), "")
			ctx := setup(c)
			calls := 0
			if _, err := c.AddNetworkWhile(ctx, rpcclient.AddRequest{Key: key(name)}, func() { calls++ }); err == nil {
				t.Fatal("call succeeded")
			}
			if calls != 0 {
				t.Errorf("work ran %d times for a request never sent", calls)
			}
			if sawAdd(s, name, 0) {
				t.Error("the server received the request")
			}
		})
	}
}

// A transport that cannot overlap (grpc-go's) runs the work first.
func TestAddNetworkWhileWithoutOverlap(t *testing.T) {
	s := startFake(t, fakeipamd.Config{Addresses: pool})
	c := dial(t, grpcconn.Dial, s.SocketPath(), "")
	calls, serverHadIt := 0, true
	r, err := c.AddNetworkWhile(context.Background(), rpcclient.AddRequest{Key: key("c1")}, func() {
		calls++
		serverHadIt = sawAdd(s, "c1", 0)
	})
	if err != nil || !r.Success {
		t.Fatalf("AddNetworkWhile = %+v, %v", r, err)
	}
	if calls != 1 || serverHadIt {
		t.Errorf("work ran %d times, server had the request: %v; want once, before the call", calls, serverHadIt)
	}
}
