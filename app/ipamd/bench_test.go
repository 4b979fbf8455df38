package ipamd

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/vpc-cni/vpc-cni/adapters/checkpoint"
	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// benchPods is the node size both benchmarks use.
const benchPods = 250

// restoredNode is a node whose ENIs already hold 6×49 addresses and whose
// checkpoint holds benchPods allocations of them: a daemon restart on a
// busy node.
func restoredNode(b *testing.B) *node {
	b.Helper()
	n := newNode(b, "m5.24xlarge")
	n.env["AWS_VPC_K8S_CNI_LOGLEVEL"] = "INFO"
	// Keep the pool as it is across iterations: no warm ENI, no shrink.
	n.env["WARM_ENI_TARGET"] = "0"
	n.env["WARM_IP_TARGET"] = strconv.Itoa(6*49 - benchPods)
	if _, err := n.region.AssignOutOfBand(n.instance.PrimaryENI, 49, 0); err != nil {
		b.Fatal(err)
	}
	for dev := 1; dev <= 5; dev++ {
		req := ports.CreateENIRequest{SubnetID: n.instance.SubnetID, SecurityGroups: n.instance.SecurityGroups, SecondaryIPs: 49}
		if _, err := n.region.AddENI(memory.ENISpec{CreateENIRequest: req, Instance: n.instance.ID, Device: dev}); err != nil {
			b.Fatal(err)
		}
	}
	var addrs []netip.Addr
	var tables []int
	for _, e := range n.region.ENIsOf(n.instance.ID) {
		addrs = append(addrs, e.SecondaryIPs...)
		for range e.SecondaryIPs {
			tables = append(tables, core.RouteTableFor(e.NetworkCard, e.DeviceNumber))
		}
	}
	if len(addrs) < benchPods {
		b.Fatalf("only %d addresses on the node", len(addrs))
	}
	snap := core.Snapshot{}
	at := time.Now().Add(-time.Hour)
	for i := 0; i < benchPods; i++ {
		snap.Allocations = append(snap.Allocations, core.Allocation{
			Key:  core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("container-%d", i), IfName: "eth0"},
			Pod:  core.PodRef{Namespace: "default", Name: fmt.Sprintf("pod-%d", i)},
			Addr: addrs[i], AssignedAt: at,
		})
		// The pods run: their veths are on the node, so the start-up
		// orphan pass keeps every allocation.
		if _, err := n.host.SetupPod(context.Background(), ports.PodSpec{
			ContainerID: fmt.Sprintf("container-%d", i), Netns: fmt.Sprintf("/run/netns/pod-%d", i), IfName: "eth0",
			HostVeth: netlink.VethName(netlink.DefaultVethPrefix, "default", fmt.Sprintf("pod-%d", i)),
			Addr:     addrs[i], RouteTable: tables[i],
		}); err != nil {
			b.Fatal(err)
		}
	}
	f, err := checkpoint.New(checkpoint.Config{Path: n.env["AWS_VPC_K8S_CNI_BACKING_STORE"]})
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Save(context.Background(), snap); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkStartupReady measures a restart: from New until a gRPC client
// sees health SERVING, restoring benchPods allocations, on the memory cloud
// and datapath. Target: 300 ms.
func BenchmarkStartupReady(b *testing.B) {
	n := restoredNode(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, err := New(n.options())
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		c := dial(b, d.Socket())
		if got := c.health(b, ""); got != healthpb.HealthCheckResponse_SERVING {
			b.Fatalf("health after start = %v", got)
		}
		b.StopTimer()
		if got := len(d.Service().Assignments()); got != benchPods {
			b.Fatalf("restored %d allocations, want %d", got, benchPods)
		}
		c.conn.Close()
		if err := d.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkMemory250Pods starts a daemon on a fresh node, gives benchPods
// pods an address each over gRPC, and reports the heap in use, the memory
// obtained from the OS and the process RSS (which includes the simulated
// EC2 and the test binary, so it overstates the daemon). Target: RSS 30 MB.
func BenchmarkMemory250Pods(b *testing.B) {
	var ms runtime.MemStats
	var rss float64
	for i := 0; i < b.N; i++ {
		n := newNode(b, "m5.24xlarge")
		n.env["AWS_VPC_K8S_CNI_LOGLEVEL"] = "INFO"
		d, err := New(n.options())
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		c := dial(b, d.Socket())
		for p := 0; p < benchPods; p++ {
			r, err := c.cni.AddNetwork(tctx(b), addReq(p))
			if err != nil || !r.GetSuccess() {
				b.Fatalf("AddNetwork %d: %v, %v", p, r, err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		rss = processRSS(b)
		c.conn.Close()
		if err := d.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MB")
	b.ReportMetric(rss, "rss-MB")
}

// processRSS reads VmRSS from /proc/self/status, in MB (0 elsewhere).
func processRSS(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatalf("parse VmRSS %q: %v", rest, err)
			}
			return float64(kb) / 1024
		}
	}
	return 0
}

// benchDaemon starts ipamd on an m5.xlarge with 50 pods already given an
// address, and a client connected to its socket; both end with b.
func benchDaemon(b *testing.B) (*Daemon, *client) {
	b.Helper()
	n := newNode(b, "m5.xlarge")
	n.env["AWS_VPC_K8S_CNI_LOGLEVEL"] = "INFO"
	n.env["IP_COOLDOWN_PERIOD"] = "0"
	d, err := New(n.options())
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Stop(context.Background()) })
	c := dial(b, d.Socket())
	b.Cleanup(func() { _ = c.conn.Close() })
	for p := 0; p < 50; p++ {
		if r, err := c.cni.AddNetwork(tctx(b), addReq(p)); err != nil || !r.GetSuccess() {
			b.Fatalf("AddNetwork %d: %v, %v", p, r, err)
		}
	}
	return d, c
}

// BenchmarkAddDelNetwork measures ipamd's side of a CNI ADD and DEL: one
// AddNetwork and one DelNetwork over the unix socket on an established
// connection (the plugin's dial is not included), each made durable in the
// checkpoint file before the reply, with 50 other pods on the node.
func BenchmarkAddDelNetwork(b *testing.B) {
	_, c := benchDaemon(b)
	add, del := addReq(1000), delReq(1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r, err := c.cni.AddNetwork(tctx(b), add); err != nil || !r.GetSuccess() {
			b.Fatalf("AddNetwork: %v, %v", r, err)
		}
		if _, err := c.cni.DelNetwork(tctx(b), del); err != nil {
			b.Fatalf("DelNetwork: %v", err)
		}
	}
}

// BenchmarkAddNewConnection is ipamd's side of a CNI ADD as the plugin
// makes it: a new connection (the plugin is a new process every time),
// one AddNetwork, close; the DelNetwork that returns the address goes over
// an established connection and is part of the loop, not of the point.
func BenchmarkAddNewConnection(b *testing.B) {
	d, c := benchDaemon(b)
	ctx := tctx(b)
	req := rpcclient.AddRequest{
		Key: rpcclient.PodKey{NetworkName: "aws-cni", ContainerID: "container-1000", IfName: "eth0"},
		Pod: rpcclient.Pod{Name: "pod-1000", Namespace: "default"},
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cl, err := rpcclient.DialConfig(ctx, rpcclient.Config{SocketPath: d.Socket(), ClientVersion: version.Get()})
		if err != nil {
			b.Fatal(err)
		}
		if r, err := cl.AddNetwork(ctx, req); err != nil || !r.Success {
			b.Fatalf("AddNetwork: %v, %v", r, err)
		}
		_ = cl.Close()
		if _, err := c.cni.DelNetwork(ctx, delReq(1000)); err != nil {
			b.Fatalf("DelNetwork: %v", err)
		}
	}
}
