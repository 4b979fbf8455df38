package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/app/version"
)

// The test binary doubles as the agent: with this variable set, TestMain
// runs main() instead of the tests, so the tests can start the real
// process without building it.
const runAgent = "AWS_K8S_AGENT_TEST_RUN_MAIN"

// agentBinary, when set, names a built aws-k8s-agent to run instead (for
// measuring the real binary's memory with BenchmarkAgentRSS250Pods).
const agentBinary = "AWS_K8S_AGENT_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(runAgent) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

type agent struct {
	cmd    *exec.Cmd
	socket string
	conn   *grpc.ClientConn
	log    string
}

// startAgent runs the agent on the memory cloud, datapath and firewall and
// waits until its health is SERVING.
func startAgent(t testing.TB, extraEnv ...string) *agent {
	t.Helper()
	dir := t.TempDir()
	a := &agent{socket: filepath.Join(dir, "ipamd.sock"), log: filepath.Join(dir, "ipamd.log")}
	bin := os.Args[0]
	if b := os.Getenv(agentBinary); b != "" {
		bin = b
	}
	a.cmd = exec.Command(bin, "--cloud=memory", "--datapath=memory", "--firewall=memory",
		"--instance-type=m5.24xlarge", "--socket="+a.socket, "--metrics-address=127.0.0.1:0")
	a.cmd.Env = append(os.Environ(), runAgent+"=1",
		"AWS_VPC_K8S_CNI_BACKING_STORE="+filepath.Join(dir, "ipam.json"),
		"INTROSPECTION_BIND_ADDRESS=unix:"+filepath.Join(dir, "introspection.sock"),
		"AWS_VPC_K8S_CNI_LOG_FILE="+a.log)
	a.cmd.Env = append(a.cmd.Env, extraEnv...)
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
		}
		if t.Failed() {
			b, _ := os.ReadFile(a.log)
			t.Logf("agent log:\n%s", b)
		}
	})
	conn, err := grpc.NewClient("unix://"+a.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	a.conn = conn
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("agent never became healthy: %v", err)
		}
		if r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return a
		}
	}
}

func (a *agent) add(t testing.TB, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := rpcgrpc.NewCNIBackendClient(a.conn).AddNetwork(ctx, &pb.AddNetworkRequest{ClientVersion: version.Get(),
		K8S_POD_NAME: fmt.Sprintf("pod-%d", i), K8S_POD_NAMESPACE: "default", ContainerID: fmt.Sprintf("c-%d", i), IfName: "eth0", NetworkName: "aws-cni"})
	if err != nil || !r.GetSuccess() {
		t.Fatalf("AddNetwork %d = %v, %v", i, r, err)
	}
}

func TestSIGTERMExitsZero(t *testing.T) {
	a := startAgent(t)
	a.add(t, 1)
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Wait(); err != nil {
		t.Errorf("agent after SIGTERM: %v, want exit status 0", err)
	}
	if _, err := os.Stat(a.socket); !os.IsNotExist(err) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}
}

func TestInvalidEnvironmentExitsNonZero(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--cloud=memory", "--datapath=memory", "--firewall=memory")
	cmd.Env = append(os.Environ(), runAgent+"=1", "WARM_IP_TARGET=-3x", "AWS_VPC_K8S_CNI_LOG_FILE=stderr")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("agent started with an invalid variable:\n%s", out)
	}
	if !strings.Contains(string(out), "WARM_IP_TARGET") || !strings.Contains(string(out), "-3x") {
		t.Errorf("output does not name the variable and value:\n%s", out)
	}
}

func TestVersionFlag(t *testing.T) {
	cmd := exec.Command(os.Args[0], "--version")
	cmd.Env = append(os.Environ(), runAgent+"=1")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != version.Get() {
		t.Errorf("--version = %q, %v; want %q", out, err, version.Get())
	}
}

// BenchmarkAgentRSS250Pods runs the real agent process (memory cloud,
// datapath and firewall), gives 250 pods an address each and reports the
// process's resident memory. Target: 30 MB.
func BenchmarkAgentRSS250Pods(b *testing.B) {
	var rss float64
	for i := 0; i < b.N; i++ {
		a := startAgent(b, "AWS_VPC_K8S_CNI_LOGLEVEL=INFO")
		for p := 0; p < 250; p++ {
			a.add(b, p)
		}
		b.StopTimer()
		rss = vmRSS(b, a.cmd.Process.Pid)
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		_ = a.cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(rss, "rss-MB")
}

func vmRSS(b *testing.B, pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
