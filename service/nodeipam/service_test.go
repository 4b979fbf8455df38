package nodeipam_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// node is one simulated instance with its cloud, clock and checkpoint.
type node struct {
	t     *testing.T
	clock *memory.VirtualClock
	cloud *memory.Cloud
	ckpt  *memory.Checkpoint
	inst  core.Instance
}

func newNode(t *testing.T, instanceType, subnet string) *node {
	t.Helper()
	clock := memory.NewVirtualClock(t0)
	cloud := memory.New(memory.Config{Clock: clock, InstanceTypes: limits.Lookup, Seed: 7})
	must(t, cloud.AddVPC("vpc-1", netip.MustParsePrefix("10.0.0.0/16")))
	_, err := cloud.AddSubnet(core.Subnet{ID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix(subnet)})
	must(t, err)
	var inst core.Instance
	inst, err = cloud.LaunchInstance(memory.LaunchSpec{Type: instanceType, SubnetID: "subnet-1", SecurityGroups: []string{"sg-1"}})
	must(t, err)
	return &node{t: t, clock: clock, cloud: cloud, ckpt: memory.NewCheckpoint(), inst: inst}
}

func (n *node) service(cfg nodeipam.Config) *nodeipam.Service {
	n.t.Helper()
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: n.cloud, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock, Checkpoint: n.ckpt})
	must(n.t, err)
	_, err = svc.Init(context.Background())
	must(n.t, err)
	return svc
}

// converge runs passes, a loop interval apart, until one changes nothing.
func (n *node) converge(svc *nodeipam.Service) {
	n.t.Helper()
	for i := 0; i < 50; i++ {
		rep, _ := svc.Step(context.Background())
		n.clock.Advance(5 * time.Second)
		if !rep.Changed && rep.Plan.Empty() {
			return
		}
	}
	n.t.Fatalf("pool did not converge in 50 passes")
}

// assignPods gives pods 0..count-1 an address each, growing the pool
// whenever it runs dry, then lets it settle.
func (n *node) assignPods(svc *nodeipam.Service, count int) {
	n.t.Helper()
	ctx := context.Background()
	for i := 0; i < count; i++ {
		if _, err := svc.TryAssign(ctx, req(i)); err != nil {
			svc.SetExternalDemand(1)
			n.converge(svc)
			svc.SetExternalDemand(0)
			_, err = svc.TryAssign(ctx, req(i))
			must(n.t, err)
		}
	}
	n.converge(svc)
}

// cloudShape lists secondary IPs (and prefixes) per attached ENI, device order.
func (n *node) cloudShape() []string {
	var out []string
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		out = append(out, fmt.Sprintf("%d:%d/%d", e.DeviceNumber, len(e.SecondaryIPs), len(e.IPv4Prefixes)))
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func key(i int) core.PodKey {
	return core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"}
}

func req(i int) nodeipam.AssignRequest {
	return nodeipam.AssignRequest{Key: key(i), Pod: core.PodRef{Namespace: "default", Name: fmt.Sprintf("p%d", i)}}
}

func fastConfig() nodeipam.Config {
	cfg := nodeipam.Defaults()
	cfg.AddWait = 0
	return cfg
}

func TestWarmENIDefaultFillsPrimaryENI(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	svc := n.service(fastConfig())
	n.converge(svc)
	if got, want := fmt.Sprint(n.cloudShape()), "[0:3/0]"; got != want {
		t.Fatalf("idle t3.small with WARM_ENI_TARGET=1: got %s, want %s", got, want)
	}
	st := svc.Stats()
	if st.Total != 3 || st.Free != 3 || st.Assigned != 0 {
		t.Fatalf("stats %+v, want 3 total, 3 free", st)
	}
}

func TestAssignIsIdempotentAndCheckpointed(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	svc := n.service(fastConfig())
	n.converge(svc)
	ctx := context.Background()
	a1, err := svc.Assign(ctx, req(1))
	must(t, err)
	a2, err := svc.Assign(ctx, req(1))
	must(t, err)
	if a1.Addr != a2.Addr {
		t.Fatalf("retried ADD got %s then %s", a1.Addr, a2.Addr)
	}
	snap, _ := n.ckpt.Load(ctx)
	if len(snap.Allocations) != 1 || snap.Allocations[0].Addr != a1.Addr {
		t.Fatalf("checkpoint %+v does not hold the assignment %s", snap, a1.Addr)
	}
	if _, err := svc.Release(ctx, key(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Release(ctx, key(1)); !errors.Is(err, core.ErrUnknownPod) {
		t.Fatalf("second release: got %v, want ErrUnknownPod", err)
	}
}

// A burst of ADDs on a fresh t3.small: upstream failed the 4th pod and left
// it to kubelet's back-off; here every ADD wakes the allocator and waits.
func TestBurstOfAddsWaitsForAllocator(t *testing.T) {
	clock := memory.RealClock{} // the real clock: Run loops concurrently
	cloud := memory.New(memory.Config{Clock: clock, InstanceTypes: limits.Lookup, Seed: 3})
	must(t, cloud.AddVPC("vpc-1", netip.MustParsePrefix("10.0.0.0/16")))
	_, err := cloud.AddSubnet(core.Subnet{ID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24")})
	must(t, err)
	var inst core.Instance
	inst, err = cloud.LaunchInstance(memory.LaunchSpec{Type: "t3.small", SubnetID: "subnet-1", SecurityGroups: []string{"sg-1"}})
	must(t, err)
	cfg := nodeipam.Defaults()
	cfg.LoopInterval = time.Hour // the timer never fires: only a wake-up can grow the pool
	cfg.AddWait = 30 * time.Second
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: cloud, Metadata: cloud.Metadata(inst.ID), Clock: clock})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err = svc.Init(ctx)
	must(t, err)
	if _, err := svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	// The first pass has run; the loop now sleeps for an hour.
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	const pods = 9 // the t3.small's whole capacity (3 ENIs × 3 addresses)
	var wg sync.WaitGroup
	errs := make(chan error, pods)
	addrs := make(chan netip.Addr, pods)
	for i := 0; i < pods; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a, err := svc.Assign(ctx, req(i))
			if err != nil {
				errs <- err
				return
			}
			addrs <- a.Addr
		}(i)
	}
	wg.Wait()
	close(errs)
	close(addrs)
	for err := range errs {
		t.Errorf("ADD failed: %v", err)
	}
	seen := map[netip.Addr]bool{}
	for a := range addrs {
		if seen[a] {
			t.Errorf("address %s given twice", a)
		}
		seen[a] = true
	}
	if len(seen) != pods {
		t.Fatalf("%d pods got addresses, want %d", len(seen), pods)
	}
	cancel()
	<-done
}

// The 10th pod on a t3.small cannot fit (9 addresses at most): it must fail
// with a clear reason after the bounded wait, not hang.
func TestAddFailsAfterBoundedWaitWhenNodeIsFull(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	cfg := fastConfig()
	svc := n.service(cfg)
	ctx := context.Background()
	for i := 0; i < 9; i++ {
		n.converge(svc)
		if _, err := svc.TryAssign(ctx, req(i)); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	n.converge(svc)
	_, err := svc.TryAssign(ctx, req(99))
	if !errors.Is(err, core.ErrNoAvailableAddress) {
		t.Fatalf("10th pod: got %v, want ErrNoAvailableAddress", err)
	}
	if got := n.cloudShape(); fmt.Sprint(got) != "[0:3/0 1:3/0 2:3/0]" {
		t.Fatalf("full t3.small shape %v", got)
	}
}

// Upstream lost cooldowns on restart and reissued an address freed 2 s
// earlier. Here release times are checkpointed.
func TestCooldownSurvivesRestart(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 1, MinimumIP: 1}
	svc := n.service(cfg)
	n.converge(svc)
	ctx := context.Background()
	a, err := svc.TryAssign(ctx, req(1))
	must(t, err)
	n.converge(svc)
	_, err = svc.Release(ctx, key(1))
	must(t, err)
	freed := a.Addr
	n.clock.Advance(2 * time.Second)

	// Restart: a new service on the same cloud and checkpoint.
	svc2 := n.service(cfg)
	if st := svc2.Stats(); st.Cooling != 1 {
		t.Fatalf("after restart %d addresses cooling, want 1 (stats %+v)", st.Cooling, st)
	}
	for i := 2; i < 4; i++ {
		b, err := svc2.TryAssign(ctx, req(i))
		if err != nil {
			n.converge(svc2)
			b, err = svc2.TryAssign(ctx, req(i))
		}
		must(t, err)
		if b.Addr == freed {
			t.Fatalf("pod %d got %s, released 2 s before the restart and still cooling", i, freed)
		}
	}
	n.clock.Advance(cfg.Cooldown)
	if st := svc2.Stats(); st.Cooling != 0 {
		t.Fatalf("cooldown did not expire: %+v", st)
	}
}

// Upstream #2650: MINIMUM_IP_TARGET without WARM_IP_TARGET capped the pool
// and the next pod failed forever.
func TestMinimumIPAloneDoesNotCapThePool(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{MinimumIP: 2}
	svc := n.service(cfg)
	n.converge(svc)
	if st := svc.Stats(); st.Total != 2 {
		t.Fatalf("idle pool %d addresses, want MINIMUM_IP_TARGET=2", st.Total)
	}
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		if _, err := svc.TryAssign(ctx, req(i)); err != nil {
			svc.SetExternalDemand(1)
			n.converge(svc)
			svc.SetExternalDemand(0)
			if _, err := svc.TryAssign(ctx, req(i)); err != nil {
				t.Fatalf("pod %d never got an address: %v", i, err)
			}
		}
	}
}

func TestMaxPodsCapsAssignmentsAndPool(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.MaxPods = 5
	cfg.Targets = warmpool.Targets{WarmIP: 10}
	svc := n.service(cfg)
	n.converge(svc)
	if st := svc.Stats(); st.Total > 5 {
		t.Fatalf("pool holds %d addresses with max-pods 5", st.Total)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := svc.TryAssign(ctx, req(i)); err != nil {
			n.converge(svc)
			_, err = svc.TryAssign(ctx, req(i))
			must(t, err)
		}
	}
	if _, err := svc.TryAssign(ctx, req(5)); !errors.Is(err, core.ErrMaxPods) {
		t.Fatalf("6th pod with max-pods 5: got %v, want ErrMaxPods", err)
	}
}

func TestThrottlingBacksOff(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	svc := n.service(fastConfig())
	n.cloud.InjectError("AssignPrivateIpAddresses", "RequestLimitExceeded", 1)
	ctx := context.Background()
	_, err := svc.Step(ctx)
	if !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("first pass: got %v, want throttled", err)
	}
	before := n.cloud.Calls()["AssignPrivateIpAddresses"]
	if _, err := svc.Step(ctx); err != nil {
		t.Fatalf("pass during back-off: %v", err)
	}
	if got := n.cloud.Calls()["AssignPrivateIpAddresses"]; got != before {
		t.Fatalf("EC2 called %d more times during the back-off", got-before)
	}
	n.clock.Advance(2 * time.Second)
	n.converge(svc)
	if st := svc.Stats(); st.Total != 3 {
		t.Fatalf("after back-off the pool has %d addresses, want 3", st.Total)
	}
}

func TestSubnetFullPausesGrowth(t *testing.T) {
	// A /28 subnet: 16 addresses, 5 reserved by AWS, 1 primary IP = 10 free.
	n := newNode(t, "m5.large", "10.0.0.0/28")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 20}
	svc := n.service(cfg)
	ctx := context.Background()
	_, _ = svc.Step(ctx)
	n.clock.Advance(5 * time.Second)
	calls := n.cloud.Calls()
	_, _ = svc.Step(ctx)
	after := n.cloud.Calls()
	if after["AssignPrivateIpAddresses"]+after["CreateNetworkInterface"] != calls["AssignPrivateIpAddresses"]+calls["CreateNetworkInterface"] {
		// Either the first pass already hit the wall and paused, or it
		// filled the subnet; in both cases a full subnet must stop retries.
		n.clock.Advance(5 * time.Second)
		calls = n.cloud.Calls()
		_, _ = svc.Step(ctx)
		after = n.cloud.Calls()
	}
	if got := after["AssignPrivateIpAddresses"] + after["CreateNetworkInterface"] - calls["AssignPrivateIpAddresses"] - calls["CreateNetworkInterface"]; got != 0 {
		t.Fatalf("%d growth calls within the subnet-full back-off", got)
	}
	// A new ENI needs its own primary address plus the ones asked for; a
	// subnet with one address left cannot take it.
	if free := n.cloud.SubnetFree("subnet-1"); free > 1 {
		t.Fatalf("subnet still has %d free addresses but growth stopped", free)
	}
	if c := svc.Counters(); c.SubnetFull == 0 {
		t.Fatalf("subnet-full not recorded: %+v", c)
	}
}

func TestOnePassPlansSeveralENIs(t *testing.T) {
	n := newNode(t, "p3dn.24xlarge", "10.0.0.0/20")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 120}
	svc := n.service(cfg)
	rep, err := svc.Step(context.Background())
	must(t, err)
	if len(rep.Plan.NewENIs) < 2 {
		t.Fatalf("plan for 120 warm IPs on 49-address ENIs: %+v, want ≥ 2 new ENIs in one pass", rep.Plan)
	}
	if st := svc.Stats(); st.Total < 120 {
		t.Fatalf("after one pass %d addresses, want ≥ 120", st.Total)
	}
}

func TestNoManageENIIsNeverUsed(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	eni, err := n.cloud.CreateENI(context.Background(), ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 3,
		Tags: map[string]string{core.TagNoManage: "true"}})
	must(t, err)
	_, err = n.cloud.AttachENI(context.Background(), eni.ID, n.inst.ID, 1, 0)
	must(t, err)
	svc := n.service(fastConfig())
	n.converge(svc)
	for _, v := range svc.ENIs() {
		if v.ID == eni.ID {
			t.Fatalf("no_manage ENI %s is in the pool", eni.ID)
		}
	}
	got, _ := n.cloud.ENI(eni.ID)
	if len(got.SecondaryIPs) != 3 {
		t.Fatalf("no_manage ENI was modified: %d addresses", len(got.SecondaryIPs))
	}
}

func TestReconcileAdoptsAndDropsOutOfBandChanges(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 2}
	svc := n.service(cfg)
	n.converge(svc)
	ctx := context.Background()
	primary := n.inst.PrimaryENI
	// Someone adds two addresses to the primary ENI behind our back.
	if _, err := n.cloud.AssignIPv4(ctx, primary, 2, 0); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(2 * time.Minute)
	must(t, svc.Reconcile(ctx))
	if st := svc.Stats(); st.Total != 4 {
		t.Fatalf("after reconcile %d addresses, want the 4 EC2 reports", st.Total)
	}
	// Someone removes one, unassigned: it must leave the pool.
	e, _ := n.cloud.ENI(primary)
	must(t, n.cloud.UnassignIPv4(ctx, primary, e.SecondaryIPs[:1], nil))
	n.clock.Advance(2 * time.Minute)
	must(t, svc.Reconcile(ctx))
	if st := svc.Stats(); st.Total != 3 {
		t.Fatalf("after out-of-band removal %d addresses, want 3", st.Total)
	}
}

func TestCheckpointFailureUndoesAssignment(t *testing.T) {
	n := newNode(t, "t3.small", "10.0.0.0/24")
	svc := n.service(fastConfig())
	n.converge(svc)
	n.ckpt.FailSaves(errors.New("disk full"))
	if _, err := svc.TryAssign(context.Background(), req(1)); err == nil {
		t.Fatal("assignment reported although the checkpoint failed")
	}
	if _, ok := svc.Lookup(key(1)); ok {
		t.Fatal("assignment kept in memory although not durable")
	}
}

// stopAfter lets a fixed number of mutating cloud calls through, then acts
// as if the process died: every later call fails and the context is done.
type stopAfter struct {
	ports.Cloud
	left   int
	cancel context.CancelFunc
}

func (s *stopAfter) gate(ctx context.Context) error {
	if s.left <= 0 {
		s.cancel()
		return context.Canceled
	}
	s.left--
	return ctx.Err()
}

func (s *stopAfter) CreateENI(ctx context.Context, r ports.CreateENIRequest) (core.ENI, error) {
	if err := s.gate(ctx); err != nil {
		return core.ENI{}, err
	}
	return s.Cloud.CreateENI(ctx, r)
}

func (s *stopAfter) AttachENI(ctx context.Context, e core.ENIID, i core.InstanceID, d, c int) (string, error) {
	if err := s.gate(ctx); err != nil {
		return "", err
	}
	return s.Cloud.AttachENI(ctx, e, i, d, c)
}

func (s *stopAfter) SetDeleteOnTermination(ctx context.Context, e core.ENIID, a string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Cloud.SetDeleteOnTermination(ctx, e, a)
}

func (s *stopAfter) AssignIPv4(ctx context.Context, e core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	if err := s.gate(ctx); err != nil {
		return ports.Assigned{}, err
	}
	return s.Cloud.AssignIPv4(ctx, e, ips, prefixes)
}

func (s *stopAfter) UnassignIPv4(ctx context.Context, e core.ENIID, ips []netip.Addr, p []netip.Prefix) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Cloud.UnassignIPv4(ctx, e, ips, p)
}

func (s *stopAfter) DetachENI(ctx context.Context, a string, force bool) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Cloud.DetachENI(ctx, a, force)
}

func (s *stopAfter) DeleteENI(ctx context.Context, e core.ENIID) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Cloud.DeleteENI(ctx, e)
}

// The service is stopped after k mutating EC2 calls, for every k, while it
// grows a t3.small to full and shrinks it again; a fresh service on the same
// cloud and checkpoint must converge: nothing leaked, pods kept, the
// datastore equal to EC2.
func TestStopBetweenAnyTwoStepsConverges(t *testing.T) {
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 4, MinimumIP: 1}
	cfg.Cooldown = 0
	leakedBeforeRestart, stopped := 0, 0
	defer func() {
		// The sweep must really cover the hard cases: runs that stopped
		// mid-way, some of them with an ENI created but left detached.
		if stopped < 10 || leakedBeforeRestart == 0 {
			t.Errorf("sweep too weak: %d runs stopped early, %d left a detached ENI", stopped, leakedBeforeRestart)
		}
	}()
	for k := 0; k < 14; k++ {
		t.Run(fmt.Sprintf("stop-after-%d-calls", k), func(t *testing.T) {
			n := newNode(t, "t3.small", "10.0.0.0/24")
			ctx, cancel := context.WithCancel(context.Background())
			gated := &stopAfter{Cloud: n.cloud, left: k, cancel: cancel}
			svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: gated, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock, Checkpoint: n.ckpt})
			must(t, err)
			if _, err := svc.Init(context.Background()); err != nil {
				t.Fatal(err)
			}
			// Phase 1: 5 pods arrive; phase 2: 4 leave. Stop wherever k says.
			for i := 0; i < 5 && ctx.Err() == nil; i++ {
				if _, err := svc.TryAssign(ctx, req(i)); err != nil {
					svc.SetExternalDemand(1)
				}
				_, _ = svc.Step(ctx)
				svc.SetExternalDemand(0)
				n.clock.Advance(5 * time.Second)
			}
			for i := 1; i < 5 && ctx.Err() == nil; i++ {
				_, _ = svc.Release(ctx, key(i))
				n.clock.Advance(2 * time.Minute)
				_, _ = svc.Step(ctx)
			}
			if ctx.Err() != nil {
				stopped++
			}
			cancel()
			if det, _ := n.cloud.DescribeENIs(context.Background(), ports.ENIFilter{Status: "available"}); len(det) > 0 {
				leakedBeforeRestart++
			}
			kept := map[core.PodKey]netip.Addr{}
			for _, a := range svc.Assignments() {
				kept[a.Key] = a.Addr
			}
			// Restart on the same cloud and checkpoint, then let time pass
			// beyond the reconcile interval and the leak minimum age.
			n.clock.Advance(10 * time.Minute)
			svc2 := n.service(cfg)
			for i := 0; i < 6; i++ {
				_, _ = svc2.Step(context.Background())
				n.clock.Advance(time.Minute)
			}
			for _, a := range svc2.Assignments() {
				if want, ok := kept[a.Key]; !ok || want != a.Addr {
					t.Errorf("pod %v has %s after restart, had %v", a.Key, a.Addr, want)
				}
				delete(kept, a.Key)
			}
			for k, a := range kept {
				// A pod whose ADD was reported may only be lost if it was
				// released before the stop.
				t.Errorf("pod %v lost its address %s across the restart", k, a)
			}
			leaked, err := n.cloud.DescribeENIs(context.Background(), ports.ENIFilter{Status: "available"})
			must(t, err)
			if len(leaked) != 0 {
				t.Errorf("%d ENIs left detached (leaked): %v", len(leaked), leaked)
			}
			// The datastore holds exactly what EC2 has on managed ENIs.
			inCloud := map[netip.Addr]bool{}
			for _, e := range n.cloud.ENIsOf(n.inst.ID) {
				for _, ip := range e.SecondaryIPs {
					inCloud[ip] = true
				}
			}
			inStore := map[netip.Addr]bool{}
			for _, v := range svc2.ENIs() {
				for _, ip := range v.IPs {
					inStore[ip] = true
				}
			}
			if fmt.Sprint(sortedAddrs(inCloud)) != fmt.Sprint(sortedAddrs(inStore)) {
				t.Errorf("datastore %v != EC2 %v", sortedAddrs(inStore), sortedAddrs(inCloud))
			}
		})
	}
}

func sortedAddrs(m map[netip.Addr]bool) []netip.Addr {
	var out []netip.Addr
	for a := range m {
		out = append(out, a)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Less(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// A node switched from secondary IPs to prefix delegation (a restart with
// ENABLE_PREFIX_DELEGATION=true): running pods keep their /32s, new pods get
// addresses from /28 prefixes, and the /32s nobody uses go back to EC2.
func TestModeSwitchToPrefixDelegationKeepsPods(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Cooldown = 0
	svc := n.service(cfg)
	n.converge(svc)
	ctx := context.Background()
	old := map[core.PodKey]netip.Addr{}
	for i := 0; i < 3; i++ {
		a, err := svc.TryAssign(ctx, req(i))
		must(t, err)
		old[a.Key] = a.Addr
	}
	n.converge(svc)

	pd := cfg
	pd.PrefixDelegation = true
	pd.Targets = warmpool.Targets{WarmPrefix: 1}
	svc2 := n.service(pd)
	for k, a := range old {
		got, ok := svc2.Lookup(k)
		if !ok || got.Addr != a {
			t.Fatalf("pod %v lost %s across the mode switch (now %v)", k, a, got.Addr)
		}
	}
	n.clock.Advance(time.Minute)
	n.converge(svc2)
	b, err := svc2.TryAssign(ctx, req(10))
	must(t, err)
	var inPrefix bool
	var secondaries int
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		for _, p := range e.IPv4Prefixes {
			inPrefix = inPrefix || p.Contains(b.Addr)
		}
		secondaries += len(e.SecondaryIPs)
	}
	if !inPrefix {
		t.Fatalf("new pod got %s, not from a /28 prefix", b.Addr)
	}
	if secondaries != len(old) {
		t.Fatalf("%d secondary IPs left in EC2, want only the %d that carry pods", secondaries, len(old))
	}
}

// DISABLE_NETWORK_RESOURCE_PROVISIONING: ipamd reads ENIs and addresses from
// instance metadata only and never calls a mutating EC2 API; addresses an
// operator assigns out of band show up in the pool once metadata has them.
func TestDisabledProvisioningUsesMetadataOnly(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	ctx := context.Background()
	if _, err := n.cloud.AssignOutOfBand(n.inst.PrimaryENI, 2, 0); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute) // past the metadata lag
	cfg := fastConfig()
	cfg.DisableProvisioning = true
	n.cloud.ResetCalls()
	svc := n.service(cfg)
	for i := 0; i < 5; i++ {
		_, _ = svc.Step(ctx)
		n.clock.Advance(time.Minute)
	}
	if st := svc.Stats(); st.Total != 2 {
		t.Fatalf("pool has %d addresses, want the 2 metadata reports", st.Total)
	}
	if _, err := n.cloud.AssignOutOfBand(n.inst.PrimaryENI, 1, 0); err != nil {
		t.Fatal(err)
	}
	n.clock.Advance(time.Minute)
	_, _ = svc.Step(ctx)
	if st := svc.Stats(); st.Total != 3 {
		t.Fatalf("pool has %d addresses after an out-of-band assignment, want 3", st.Total)
	}
	if calls := n.cloud.Calls(); len(calls) != 0 {
		t.Fatalf("EC2 was called with provisioning disabled: %v", calls)
	}
	// SNAT exclusion still knows the VPC, from metadata.
	if got := fmt.Sprint(svc.VPCCIDRs()); got != "[10.0.0.0/16]" {
		t.Fatalf("VPC CIDRs %s, want [10.0.0.0/16] from instance metadata", got)
	}
}

func TestReleaseOrphansReclaimsGonePods(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	svc := n.service(fastConfig())
	n.converge(svc)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_, err := svc.TryAssign(ctx, req(i))
		must(t, err)
	}
	alive := func(a core.Allocation) bool { return a.Pod.Name != "p1" }
	// Too young: an ADD may still be wiring the pod.
	if gone, err := svc.ReleaseOrphans(ctx, alive, time.Minute); err != nil || len(gone) != 0 {
		t.Fatalf("young allocations released: %v, %v", gone, err)
	}
	n.clock.Advance(2 * time.Minute)
	gone, err := svc.ReleaseOrphans(ctx, alive, time.Minute)
	must(t, err)
	if len(gone) != 1 || gone[0].Pod.Name != "p1" {
		t.Fatalf("released %+v, want only p1", gone)
	}
	if _, ok := svc.Lookup(key(1)); ok {
		t.Fatal("p1 still holds its address")
	}
	snap, _ := n.ckpt.Load(ctx)
	if len(snap.Allocations) != 2 || len(snap.Cooldowns) != 1 {
		t.Fatalf("checkpoint after reclaim: %d allocations, %d cooldowns; want 2 and 1", len(snap.Allocations), len(snap.Cooldowns))
	}
}

// A deletion whose detach fails puts the ENI back in the pool with the
// addresses EC2 really has (grown and shrunk since it was adopted), never
// with the list it carried when it was first seen.
func TestFailedDetachKeepsPoolEqualToEC2(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Cooldown = 0
	cfg.MinENIAge = 0
	cfg.Targets = warmpool.Targets{WarmIP: 2, MinimumIP: 1}
	svc := n.service(cfg)
	n.converge(svc)
	ctx := context.Background()
	n.assignPods(svc, 20)
	n.cloud.InjectError("DetachNetworkInterface", "RequestLimitExceeded", -1)
	for i := 0; i < 20; i++ {
		_, err := svc.Release(ctx, key(i))
		must(t, err)
	}
	for i := 0; i < 20; i++ {
		_, _ = svc.Step(ctx)
		n.clock.Advance(time.Minute)
	}
	inCloud := map[core.ENIID]string{}
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		inCloud[e.ID] = fmt.Sprint(e.SecondaryIPs)
	}
	for _, v := range svc.ENIs() {
		if got, want := fmt.Sprint(v.IPs), inCloud[v.ID]; got != want {
			t.Errorf("ENI %s: pool holds %s, EC2 has %s", v.ID, got, want)
		}
	}
	if len(svc.ENIs()) < 2 {
		t.Fatalf("expected the undeletable secondary ENIs to stay in the pool, have %d ENIs", len(svc.ENIs()))
	}
}

// Metadata has no tags: an ENI EC2 showed to be no_manage must not make
// every metadata reconcile ask EC2 again.
func TestReconcileDoesNotReaskEC2AboutUnmanagedENIs(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	ctx := context.Background()
	eni, err := n.cloud.CreateENI(ctx, ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 1,
		Tags: map[string]string{core.TagNoManage: "true"}})
	must(t, err)
	_, err = n.cloud.AttachENI(ctx, eni.ID, n.inst.ID, 1, 0)
	must(t, err)
	svc := n.service(fastConfig())
	n.converge(svc)
	before := n.cloud.Calls()["DescribeInstances"]
	for i := 0; i < 5; i++ {
		n.clock.Advance(2 * time.Minute)
		must(t, svc.Reconcile(ctx))
	}
	if got := n.cloud.Calls()["DescribeInstances"] - before; got != 0 {
		t.Fatalf("%d DescribeInstances calls in 5 metadata reconciles with a no_manage ENI attached, want 0", got)
	}
}

// An ENI detached behind ipamd's back while pods hold addresses on it is
// removed with them once EC2 confirms it, and counted as force-removed
// (awscni_force_removed_enis / _ips).
func TestLostENIIsForceRemovedAndCounted(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 2, MinimumIP: 1}
	svc := n.service(cfg)
	n.converge(svc)
	ctx := context.Background()
	n.assignPods(svc, 14) // enough that some land on a secondary ENI
	var lost core.ENI
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		if e.DeviceNumber > 0 {
			lost = e
		}
	}
	var onLost []int
	for i := 0; i < 14; i++ {
		if a, ok := svc.Lookup(key(i)); ok && a.ENI == lost.ID {
			onLost = append(onLost, i)
		}
	}
	if lost.ID == "" || len(onLost) == 0 {
		t.Fatalf("no pods on a secondary ENI (ENIs %v)", n.cloudShape())
	}
	if c := svc.Counters(); c.ForceRemovedENIs != 0 || c.ForceRemovedIPs != 0 {
		t.Fatalf("force-removed before anything was lost: %+v", c)
	}
	must(t, n.cloud.DetachENI(ctx, lost.AttachmentID, true))
	n.clock.Advance(2 * time.Minute)
	_ = svc.Reconcile(ctx)
	for _, i := range onLost {
		if _, ok := svc.Lookup(key(i)); ok {
			t.Errorf("pod %d still holds an address on detached %s", i, lost.ID)
		}
	}
	c := svc.Counters()
	if c.ForceRemovedENIs != 1 || c.ForceRemovedIPs != len(onLost) {
		t.Errorf("force-removed %d ENIs and %d addresses, want 1 and %d", c.ForceRemovedENIs, c.ForceRemovedIPs, len(onLost))
	}
}
