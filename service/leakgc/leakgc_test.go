package leakgc_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/leakgc"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	cloud *memory.Cloud
	clock *memory.VirtualClock
	node  core.Instance
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clock := memory.NewVirtualClock(epoch)
	cloud := memory.New(memory.Config{Clock: clock, InstanceTypes: limits.Lookup, Seed: 7})
	must(t, cloud.AddVPC("vpc-1", netip.MustParsePrefix("10.0.0.0/16")))
	must(t, cloud.AddVPC("vpc-2", netip.MustParsePrefix("10.1.0.0/16")))
	_, err := cloud.AddSubnet(core.Subnet{ID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/20")})
	must(t, err)
	_, err = cloud.AddSubnet(core.Subnet{ID: "subnet-2", VPCID: "vpc-2", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.1.0.0/20")})
	must(t, err)
	node, err := cloud.LaunchInstance(memory.LaunchSpec{ID: "i-node", Type: "m5.large", SubnetID: "subnet-1"})
	must(t, err)
	return &env{t: t, cloud: cloud, clock: clock, node: node}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// leaked creates a detached ENI the way a crashed agent leaves it: our
// description, the owner tag, the cluster tag and optionally createdAt.
func (e *env) leaked(owner, cluster string, createdAt time.Time, extra map[string]string) core.ENIID {
	e.t.Helper()
	tags := map[string]string{core.TagInstanceID: owner}
	if cluster != "" {
		tags[core.TagCluster] = cluster
	}
	if !createdAt.IsZero() {
		tags[core.TagCreatedAt] = createdAt.UTC().Format(time.RFC3339)
	}
	for k, v := range extra {
		tags[k] = v
	}
	eni, err := e.cloud.AddENI(memory.ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: "subnet-1", Description: core.ENIDescriptionPrefix + owner, Tags: tags,
	}})
	must(e.t, err)
	return eni.ID
}

func (e *env) collector(cfg leakgc.Config) *leakgc.Collector {
	e.t.Helper()
	c, err := leakgc.New(cfg, leakgc.Deps{Cloud: e.cloud, Clock: e.clock})
	must(e.t, err)
	return c
}

func (e *env) exists(id core.ENIID) bool {
	_, ok := e.cloud.ENI(id)
	return ok
}

func pass(t *testing.T, c *leakgc.Collector) leakgc.Report {
	t.Helper()
	rep, err := c.Pass(context.Background())
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	return rep
}

func TestMarkThenDelete(t *testing.T) {
	e := newEnv(t)
	unmarked := e.leaked("i-gone", "prod", time.Time{}, nil)
	c := e.collector(leakgc.Config{ClusterName: "prod", VPCID: "vpc-1"})

	// First pass: no createdAt, so it is stamped with now and kept.
	rep := pass(t, c)
	if !reflect.DeepEqual(rep.Marked, []core.ENIID{unmarked}) || len(rep.Deleted) != 0 {
		t.Fatalf("first pass: %+v", rep)
	}
	got, _ := e.cloud.ENI(unmarked)
	if got.Tags[core.TagCreatedAt] != epoch.Format(time.RFC3339) {
		t.Fatalf("createdAt tag = %q, want %q", got.Tags[core.TagCreatedAt], epoch.Format(time.RFC3339))
	}

	// Before MinAge: young, kept.
	e.clock.Advance(4 * time.Minute)
	rep = pass(t, c)
	if !reflect.DeepEqual(rep.Young, []core.ENIID{unmarked}) || len(rep.Deleted)+len(rep.Marked) != 0 || !e.exists(unmarked) {
		t.Fatalf("pass at 4m: %+v", rep)
	}

	// After MinAge (default 5m) it is deleted, and its addresses go back.
	free := e.cloud.SubnetFree("subnet-1")
	e.clock.Advance(time.Minute)
	rep = pass(t, c)
	if !reflect.DeepEqual(rep.Deleted, []core.ENIID{unmarked}) || e.exists(unmarked) {
		t.Fatalf("pass at 5m: %+v", rep)
	}
	if e.cloud.SubnetFree("subnet-1") != free+1 {
		t.Fatalf("subnet free %d -> %d, want the ENI's address back", free, e.cloud.SubnetFree("subnet-1"))
	}
	calls := e.cloud.Calls()
	if calls[memory.OpDescribeNetworkInterfaces] != 3 || calls[memory.OpCreateTags] != 1 || calls[memory.OpDeleteNetworkInterface] != 1 {
		t.Fatalf("EC2 calls = %v", calls)
	}
}

func TestOnlyOursAreTouched(t *testing.T) {
	e := newEnv(t)
	old := epoch.Add(-time.Hour)
	ours := e.leaked("i-gone", "prod", old, nil)
	otherCluster := e.leaked("i-gone", "staging", old, nil)
	noCluster := e.leaked("i-gone", "", old, nil)
	noManage := e.leaked("i-gone", "prod", old, map[string]string{core.TagNoManage: "true"})
	noManageFalse := e.leaked("i-gone", "prod", old, map[string]string{core.TagNoManage: "false"})

	// Not our description.
	foreign, err := e.cloud.AddENI(memory.ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: "subnet-1", Description: "efs mount target", Tags: map[string]string{core.TagInstanceID: "i-gone", core.TagCluster: "prod", core.TagCreatedAt: old.Format(time.RFC3339)},
	}})
	must(t, err)
	// Ours but attached (in use).
	inUse, err := e.cloud.AddENI(memory.ENISpec{
		CreateENIRequest: ports.CreateENIRequest{SubnetID: "subnet-1", Description: core.ENIDescriptionPrefix + "i-node",
			Tags: map[string]string{core.TagInstanceID: "i-node", core.TagCluster: "prod", core.TagCreatedAt: old.Format(time.RFC3339)}},
		Instance: "i-node", Device: 1,
	})
	must(t, err)
	// Ours but a trunk.
	trunk, err := e.cloud.AddENI(memory.ENISpec{
		CreateENIRequest: ports.CreateENIRequest{SubnetID: "subnet-1", Description: core.ENIDescriptionPrefix + "i-gone",
			Tags: map[string]string{core.TagInstanceID: "i-gone", core.TagCluster: "prod", core.TagCreatedAt: old.Format(time.RFC3339)}},
		InterfaceType: memory.InterfaceTypeTrunk,
	})
	must(t, err)
	// No owner tag at all.
	untagged, err := e.cloud.AddENI(memory.ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: "subnet-1", Description: core.ENIDescriptionPrefix + "i-gone", Tags: map[string]string{core.TagCluster: "prod"},
	}})
	must(t, err)
	// Another VPC.
	otherVPC, err := e.cloud.AddENI(memory.ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: "subnet-2", Description: core.ENIDescriptionPrefix + "i-gone",
		Tags: map[string]string{core.TagInstanceID: "i-gone", core.TagCluster: "prod", core.TagCreatedAt: old.Format(time.RFC3339)},
	}})
	must(t, err)

	rep := pass(t, e.collector(leakgc.Config{ClusterName: "prod", VPCID: "vpc-1"}))
	wantDeleted := []core.ENIID{ours, noManageFalse}
	slices.Sort(wantDeleted)
	got := slices.Sorted(slices.Values(rep.Deleted))
	if !reflect.DeepEqual(got, wantDeleted) || len(rep.Marked) != 0 {
		t.Fatalf("deleted %v (marked %v), want %v", rep.Deleted, rep.Marked, wantDeleted)
	}
	for _, id := range []core.ENIID{otherCluster, noCluster, noManage, foreign.ID, inUse.ID, trunk.ID, untagged.ID, otherVPC.ID} {
		if !e.exists(id) {
			t.Errorf("ENI %s was deleted", id)
		}
		if eni, _ := e.cloud.ENI(id); eni.Tags[core.TagCreatedAt] == epoch.Format(time.RFC3339) {
			t.Errorf("ENI %s was marked", id)
		}
	}

	// Without a cluster name every cluster's leaked ENIs in the VPC are
	// candidates (as upstream without CLUSTER_NAME); the rest stay safe.
	rep = pass(t, e.collector(leakgc.Config{VPCID: "vpc-1"}))
	got = slices.Sorted(slices.Values(rep.Deleted))
	want := []core.ENIID{otherCluster, noCluster}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("without a cluster name deleted %v, want %v", got, want)
	}
	for _, id := range []core.ENIID{noManage, foreign.ID, inUse.ID, trunk.ID, untagged.ID, otherVPC.ID} {
		if !e.exists(id) {
			t.Errorf("ENI %s was deleted", id)
		}
	}
}

func TestScopedToInstance(t *testing.T) {
	e := newEnv(t)
	old := epoch.Add(-time.Hour)
	mine := e.leaked("i-node", "", old, nil)
	theirs := e.leaked("i-other", "", old, nil)
	rep := pass(t, e.collector(leakgc.Config{InstanceID: "i-node"}))
	if !reflect.DeepEqual(rep.Deleted, []core.ENIID{mine}) || !e.exists(theirs) {
		t.Fatalf("scoped pass: %+v", rep)
	}
}

func TestCapPerPass(t *testing.T) {
	e := newEnv(t)
	var old, fresh []core.ENIID
	for i := range 5 {
		// Different ages: the oldest go first.
		old = append(old, e.leaked("i-gone", "", epoch.Add(-time.Duration(10-i)*time.Hour), nil))
	}
	for range 4 {
		fresh = append(fresh, e.leaked("i-gone", "", time.Time{}, nil))
	}
	c := e.collector(leakgc.Config{MaxPerPass: 2})

	rep := pass(t, c)
	if !reflect.DeepEqual(rep.Deleted, old[:2]) {
		t.Fatalf("first pass deleted %v, want the two oldest %v", rep.Deleted, old[:2])
	}
	if len(rep.Marked) != 2 || len(rep.Deferred) != 5 { // 2 unmarked + 3 old
		t.Fatalf("first pass: marked %v, deferred %v", rep.Marked, rep.Deferred)
	}
	rep = pass(t, c)
	if !reflect.DeepEqual(rep.Deleted, old[2:4]) || len(rep.Marked) != 2 || len(rep.Young) != 2 {
		t.Fatalf("second pass: %+v", rep)
	}
	rep = pass(t, c)
	if !reflect.DeepEqual(rep.Deleted, old[4:]) || len(rep.Young) != 4 {
		t.Fatalf("third pass: %+v", rep)
	}
	// The four marked ones age out and go two per pass.
	e.clock.Advance(10 * time.Minute)
	for i := range 2 {
		if rep = pass(t, c); len(rep.Deleted) != 2 {
			t.Fatalf("pass %d after aging: %+v", i, rep)
		}
	}
	if rep = pass(t, c); rep.Listed != 0 {
		t.Fatalf("after draining: %+v", rep)
	}
	for _, id := range append(old, fresh...) {
		if e.exists(id) {
			t.Errorf("ENI %s survived", id)
		}
	}
	if n := e.cloud.Calls()[memory.OpDeleteNetworkInterface]; n != 9 {
		t.Fatalf("%d deletes for 9 leaked ENIs", n)
	}
}

func TestErrors(t *testing.T) {
	old := epoch.Add(-time.Hour)
	t.Run("already gone counts as done", func(t *testing.T) {
		e := newEnv(t)
		id := e.leaked("i-gone", "", old, nil)
		e.cloud.InjectError(memory.OpDeleteNetworkInterface, memory.CodeENINotFound, 1)
		rep := pass(t, e.collector(leakgc.Config{}))
		if !reflect.DeepEqual(rep.Gone, []core.ENIID{id}) || len(rep.Failed) != 0 {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("attached meanwhile is skipped", func(t *testing.T) {
		e := newEnv(t)
		id := e.leaked("i-gone", "", old, nil)
		e.cloud.InjectError(memory.OpDeleteNetworkInterface, memory.CodeENIInUse, 1)
		rep := pass(t, e.collector(leakgc.Config{}))
		if !reflect.DeepEqual(rep.Busy, []core.ENIID{id}) || !e.exists(id) {
			t.Fatalf("report %+v", rep)
		}
	})
	t.Run("throttling ends the pass", func(t *testing.T) {
		e := newEnv(t)
		a := e.leaked("i-gone", "", old.Add(-time.Minute), nil)
		b := e.leaked("i-gone", "", old, nil)
		e.cloud.InjectError(memory.OpDeleteNetworkInterface, memory.CodeRequestLimitExceeded, 1)
		c := e.collector(leakgc.Config{})
		rep, err := c.Pass(context.Background())
		if !errors.Is(err, core.ErrThrottled) {
			t.Fatalf("Pass error = %v, want ErrThrottled", err)
		}
		if !reflect.DeepEqual(rep.Failed, []core.ENIID{a}) || !reflect.DeepEqual(rep.Deferred, []core.ENIID{b}) {
			t.Fatalf("report %+v", rep)
		}
		if n := e.cloud.Calls()[memory.OpDeleteNetworkInterface]; n != 1 {
			t.Fatalf("%d deletes after throttling, want 1", n)
		}
		rep = pass(t, c)
		if len(rep.Deleted) != 2 {
			t.Fatalf("next pass: %+v", rep)
		}
	})
	t.Run("describe fails", func(t *testing.T) {
		e := newEnv(t)
		e.cloud.InjectError(memory.OpDescribeNetworkInterfaces, memory.CodeUnauthorizedOperation, 1)
		if _, err := e.collector(leakgc.Config{}).Pass(context.Background()); !errors.Is(err, core.ErrUnauthorized) {
			t.Fatalf("Pass error = %v, want ErrUnauthorized", err)
		}
	})
}

func TestDisabled(t *testing.T) {
	e := newEnv(t)
	id := e.leaked("i-gone", "", epoch.Add(-time.Hour), nil)
	c := e.collector(leakgc.Config{Disabled: true})
	rep := pass(t, c)
	if !rep.Disabled || !e.exists(id) {
		t.Fatalf("disabled pass: %+v", rep)
	}
	if err := c.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := len(e.cloud.Calls()); n != 0 {
		t.Fatalf("disabled collector called EC2: %v", e.cloud.Calls())
	}
}

// countingClock cancels the run after a number of sleeps; time is virtual.
type countingClock struct {
	*memory.VirtualClock
	sleeps []time.Duration
	after  int
	cancel context.CancelFunc
}

func (c *countingClock) Sleep(ctx context.Context, d time.Duration) error {
	c.sleeps = append(c.sleeps, d)
	if len(c.sleeps) == c.after {
		c.cancel()
		return context.Canceled
	}
	return c.VirtualClock.Sleep(ctx, d)
}

func TestRun(t *testing.T) {
	e := newEnv(t)
	id := e.leaked("i-gone", "", time.Time{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	clock := &countingClock{VirtualClock: e.clock, after: 4, cancel: cancel}
	c, err := leakgc.New(leakgc.Config{Interval: 10 * time.Minute, InitialJitter: time.Minute}, leakgc.Deps{Cloud: e.cloud, Clock: clock})
	must(t, err)
	if err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// jitter, pass (mark), interval, pass (delete), interval, pass (nothing
	// left), interval: cancelled there.
	if len(clock.sleeps) != 4 || clock.sleeps[0] >= time.Minute || clock.sleeps[1] != 10*time.Minute {
		t.Fatalf("sleeps = %v", clock.sleeps)
	}
	if e.exists(id) {
		t.Fatalf("leaked ENI survived two passes 10 minutes apart")
	}
	if n := e.cloud.Calls()[memory.OpDescribeNetworkInterfaces]; n != 3 {
		t.Fatalf("%d passes, want 3", n)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := leakgc.New(leakgc.Config{}, leakgc.Deps{}); !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("New without deps: %v", err)
	}
}

func Example() {
	clock := memory.NewVirtualClock(epoch)
	cloud := memory.New(memory.Config{Clock: clock, InstanceTypes: limits.Lookup})
	_ = cloud.AddVPC("vpc-1", netip.MustParsePrefix("10.0.0.0/16"))
	_, _ = cloud.AddSubnet(core.Subnet{ID: "subnet-1", VPCID: "vpc-1", AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24")})
	leak, _ := cloud.AddENI(memory.ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: "subnet-1", Description: core.ENIDescriptionPrefix + "i-crashed",
		Tags: map[string]string{core.TagInstanceID: "i-crashed"},
	}})

	gc, _ := leakgc.New(leakgc.Config{VPCID: "vpc-1"}, leakgc.Deps{Cloud: cloud, Clock: clock})
	first, _ := gc.Pass(context.Background())
	clock.Advance(6 * time.Minute)
	second, _ := gc.Pass(context.Background())
	fmt.Println(first.Marked[0] == leak.ID, len(first.Deleted))
	fmt.Println(second.Deleted[0] == leak.ID)
	// Output:
	// true 0
	// true
}
