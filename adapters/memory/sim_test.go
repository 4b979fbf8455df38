package memory

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func TestThrottleRefillsWithVirtualTime(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	env.c.SetThrottle(2, 3) // 2 tokens per second, burst 3
	describe := func() error {
		_, err := env.c.DescribeInstance(ctx, env.inst.ID)
		return err
	}
	for i := range 3 {
		if err := describe(); err != nil {
			t.Fatalf("call %d within burst: %v", i, err)
		}
	}
	wantCode(t, describe(), CodeRequestLimitExceeded, core.ErrThrottled)
	env.clk.Advance(499 * time.Millisecond) // 0.998 tokens
	wantCode(t, describe(), CodeRequestLimitExceeded, core.ErrThrottled)
	env.clk.Advance(time.Millisecond) // 1 token
	must(t, describe())
	wantCode(t, describe(), CodeRequestLimitExceeded, core.ErrThrottled)
	env.clk.Advance(time.Hour) // refills to the burst, not beyond
	for i := range 3 {
		if err := describe(); err != nil {
			t.Fatalf("call %d after refill: %v", i, err)
		}
	}
	wantCode(t, describe(), CodeRequestLimitExceeded, core.ErrThrottled)
	if got := env.c.Calls()[OpDescribeInstances]; got != 11 {
		t.Fatalf("DescribeInstances counted %d times, want 11 (throttled calls count)", got)
	}
	env.c.SetThrottle(0, 0)
	must(t, describe())
}

// A throttled mutation does nothing.
func TestThrottledCallChangesNothing(t *testing.T) {
	env := newEnv(t)
	env.c.SetThrottle(1, 1)
	ctx := context.Background()
	if _, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{}); err != nil {
		t.Fatal(err)
	}
	n := env.c.ENICount()
	_, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
	wantCode(t, err, CodeRequestLimitExceeded, core.ErrThrottled)
	if env.c.ENICount() != n {
		t.Fatal("throttled CreateENI created an ENI")
	}
}

func TestInjectError(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
	if err != nil {
		t.Fatal(err)
	}
	env.c.InjectError(OpAttachNetworkInterface, CodeUnauthorizedOperation, 2)
	env.c.InjectError(OpAttachNetworkInterface, CodeInternalError, 1)
	for i := range 2 {
		_, err := env.c.AttachENI(ctx, eni.ID, env.inst.ID, 1, 0)
		wantCode(t, err, CodeUnauthorizedOperation, core.ErrUnauthorized)
		if got, _ := env.c.ENI(eni.ID); got.Status != StatusAvailable {
			t.Fatalf("failed call %d attached the ENI", i)
		}
	}
	_, err = env.c.AttachENI(ctx, eni.ID, env.inst.ID, 1, 0)
	wantCode(t, err, CodeInternalError, nil)
	if errors.Unwrap(err) != nil {
		t.Fatalf("InternalError unwraps to %v", errors.Unwrap(err))
	}
	if _, err := env.c.AttachENI(ctx, eni.ID, env.inst.ID, 1, 0); err != nil {
		t.Fatalf("fourth call: %v", err)
	}
	// Faults are per operation.
	env.c.InjectError(OpCreateTags, CodeRequestLimitExceeded, 1)
	if _, err := env.c.DescribeENIs(ctx, ports.ENIFilter{}); err != nil {
		t.Fatalf("other operation failed: %v", err)
	}
	wantCode(t, env.c.CreateTags(ctx, string(eni.ID), map[string]string{"a": "b"}), CodeRequestLimitExceeded, core.ErrThrottled)
	// A negative count fails until cleared.
	env.c.InjectError(OpDescribeSubnets, CodeUnauthorizedOperation, -1)
	for range 3 {
		_, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{})
		wantCode(t, err, CodeUnauthorizedOperation, core.ErrUnauthorized)
	}
	env.c.ClearFaults()
	if _, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{}); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestLatencyAdvancesVirtualClock(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Latency = DefaultLatencies() })
	ctx := context.Background()
	lat := DefaultLatencies()
	start := env.clk.Now()
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
	if err != nil {
		t.Fatal(err)
	}
	afterCreate := start.Add(lat[OpCreateNetworkInterface])
	if !env.clk.Now().Equal(afterCreate) || !eni.CreatedAt.Equal(afterCreate) {
		t.Fatalf("after CreateENI clock %v, CreatedAt %v, want both %v", env.clk.Now(), eni.CreatedAt, afterCreate)
	}
	if _, err := env.c.AttachENI(ctx, eni.ID, env.inst.ID, 1, 0); err != nil {
		t.Fatal(err)
	}
	if want := afterCreate.Add(lat[OpAttachNetworkInterface]); !env.clk.Now().Equal(want) {
		t.Fatalf("after AttachENI clock %v, want %v", env.clk.Now(), want)
	}
	// Failed calls take their time too.
	before := env.clk.Now()
	err = env.c.DeleteENI(ctx, eni.ID)
	wantCode(t, err, CodeENIInUse, core.ErrInvalidState)
	if want := before.Add(lat[OpDeleteNetworkInterface]); !env.clk.Now().Equal(want) {
		t.Fatalf("after failed DeleteENI clock %v, want %v", env.clk.Now(), want)
	}
	env.c.SetLatency(OpDescribeInstances, 7*time.Second)
	before = env.clk.Now()
	if _, err := env.c.DescribeInstance(ctx, env.inst.ID); err != nil {
		t.Fatal(err)
	}
	if !env.clk.Now().Equal(before.Add(7 * time.Second)) {
		t.Fatalf("SetLatency not applied: clock %v", env.clk.Now())
	}
	for op, d := range lat {
		if d <= 0 {
			t.Errorf("DefaultLatencies()[%s] = %v", op, d)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Latency = DefaultLatencies() })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start, n := env.clk.Now(), env.c.ENICount()
	_, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if env.c.ENICount() != n || !env.clk.Now().Equal(start) {
		t.Fatal("cancelled call changed state or time")
	}
}

func TestIMDSLagsAttachAndAddresses(t *testing.T) {
	const delay = 5 * time.Second
	env := newEnv(t, func(c *Config) { c.IMDSDelay = delay })
	ctx := context.Background()
	md := env.c.Metadata(env.inst.ID)

	id, err := md.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := core.InstanceIdentity{ID: env.inst.ID, Type: "t3.small", AvailabilityZone: "us-west-2a", Region: "us-west-2",
		PrimaryMAC: env.inst.PrimaryMAC, PrimaryIP: mustAddr("10.0.0.4"),
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("Identity = %+v, want %+v", id, want)
	}
	ids := func() []core.ENIID {
		t.Helper()
		got, err := md.Interfaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []core.ENIID
		for _, e := range got {
			out = append(out, e.ID)
		}
		return out
	}
	// The primary ENI is there from boot.
	if got := ids(); !slices.Equal(got, []core.ENIID{env.inst.PrimaryENI}) {
		t.Fatalf("at boot IMDS shows %v", got)
	}

	eni, att := env.newENI(t, 1)
	if got := ids(); len(got) != 1 {
		t.Fatalf("attach visible immediately: %v", got)
	}
	env.clk.Advance(delay - time.Millisecond)
	if got := ids(); len(got) != 1 {
		t.Fatalf("attach visible before the delay: %v", got)
	}
	env.clk.Advance(time.Millisecond)
	if got := ids(); !slices.Equal(got, []core.ENIID{env.inst.PrimaryENI, eni.ID}) {
		t.Fatalf("attach not visible after the delay: %v", got)
	}
	list, _ := md.Interfaces(ctx)
	e := list[1]
	if e.DeviceNumber != 1 || e.MAC != eni.MAC || e.SubnetID != subnetA || e.SubnetCIDR != mustPrefix("10.0.0.0/24") ||
		e.VPCID != vpcID || e.PrimaryIP != eni.PrimaryIP || e.Primary || !list[0].Primary {
		t.Fatalf("IMDS ENI = %+v", e)
	}
	if e.Tags != nil || e.Status != "" || e.AttachmentID != "" || e.Trunk || e.EFA {
		t.Fatalf("IMDS reports EC2-only fields: %+v", e)
	}

	// Address changes lag the same way.
	got, err := env.c.AssignIPv4(ctx, eni.ID, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	secondaries := func() []netip.Addr {
		list, _ := md.Interfaces(ctx)
		return list[1].SecondaryIPs
	}
	if s := secondaries(); len(s) != 0 {
		t.Fatalf("assign visible immediately: %v", s)
	}
	env.clk.Advance(delay)
	if s := secondaries(); !slices.Equal(s, got.IPs) {
		t.Fatalf("after delay IMDS secondaries %v, want %v", s, got.IPs)
	}

	// So do removals: a detached ENI stays listed until the delay passes.
	must(t, env.c.DetachENI(ctx, att, false))
	if got := ids(); len(got) != 2 {
		t.Fatalf("detach visible immediately: %v", got)
	}
	env.clk.Advance(delay)
	if got := ids(); len(got) != 1 {
		t.Fatalf("detach not visible after the delay: %v", got)
	}

	// Out-of-band changes are not counted but lag like any other.
	calls := env.c.Calls()
	if _, err := env.c.AssignOutOfBand(env.inst.PrimaryENI, 1, 0); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(calls, env.c.Calls()) {
		t.Fatal("out-of-band assignment was counted")
	}
	list, _ = md.Interfaces(ctx)
	if len(list[0].SecondaryIPs) != 0 {
		t.Fatal("out-of-band assignment visible immediately")
	}
	env.clk.Advance(delay)
	list, _ = md.Interfaces(ctx)
	if len(list[0].SecondaryIPs) != 1 {
		t.Fatal("out-of-band assignment never visible")
	}

	must(t, env.c.TerminateInstance(env.inst.ID))
	if _, err := md.Interfaces(ctx); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Interfaces after terminate = %v", err)
	}
	if _, err := env.c.Metadata("i-0nothere").Identity(ctx); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Identity of unknown instance = %v", err)
	}
}

// The metadata view returned to a caller is a copy.
func TestIMDSReturnsCopies(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	if _, err := env.c.AssignIPv4(ctx, env.inst.PrimaryENI, 1, 0); err != nil {
		t.Fatal(err)
	}
	md := env.c.Metadata(env.inst.ID)
	list, _ := md.Interfaces(ctx)
	list[0].SecondaryIPs[0] = mustAddr("1.2.3.4")
	again, _ := md.Interfaces(ctx)
	if again[0].SecondaryIPs[0] == mustAddr("1.2.3.4") {
		t.Fatal("caller changed the stored metadata view")
	}
}

func TestCallCounts(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA, IPv6Prefixes: 1})
	if err != nil {
		t.Fatal(err)
	}
	att, err := env.c.AttachENI(ctx, eni.ID, env.inst.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	must(t, env.c.SetDeleteOnTermination(ctx, eni.ID, att))
	got, err := env.c.AssignIPv4(ctx, eni.ID, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	must(t, env.c.UnassignIPv4(ctx, eni.ID, got.IPs, nil))
	p6, err := env.c.AssignIPv6Prefixes(ctx, eni.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	must(t, env.c.UnassignIPv6Prefixes(ctx, eni.ID, p6))
	_, _ = env.c.DescribeInstance(ctx, env.inst.ID)
	_, _ = env.c.DescribeENIs(ctx, ports.ENIFilter{})
	_, _ = env.c.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{"eni-0missing000000000"}}) // failed calls count
	_, _ = env.c.DescribeSubnets(ctx, ports.SubnetFilter{})
	_, _ = env.c.DescribeInstanceType(ctx, "t3.small")
	must(t, env.c.CreateTags(ctx, string(eni.ID), map[string]string{"k": "v"}))
	must(t, env.c.DetachENI(ctx, att, false))
	must(t, env.c.DeleteENI(ctx, eni.ID))
	_, _ = env.c.Metadata(env.inst.ID).Interfaces(ctx) // not EC2

	want := map[string]int{
		OpCreateNetworkInterface: 1, OpAttachNetworkInterface: 1, OpModifyNetworkInterfaceAttribute: 1,
		OpAssignPrivateIPAddresses: 1, OpUnassignPrivateIPAddresses: 1, OpAssignIPv6Addresses: 1, OpUnassignIPv6Addresses: 1,
		OpDescribeInstances: 1, OpDescribeNetworkInterfaces: 2, OpDescribeSubnets: 1, OpDescribeInstanceTypes: 1,
		OpCreateTags: 1, OpDetachNetworkInterface: 1, OpDeleteNetworkInterface: 1,
	}
	if calls := env.c.Calls(); !maps.Equal(calls, want) {
		t.Fatalf("Calls() = %v\nwant %v", calls, want)
	}
	env.c.ResetCalls()
	if calls := env.c.Calls(); len(calls) != 0 {
		t.Fatalf("after ResetCalls: %v", calls)
	}
}

// runScript performs a fixed scenario and records every generated id.
func runScript(t *testing.T, seed uint64) []string {
	t.Helper()
	env := newEnv(t, func(c *Config) { c.Seed = seed })
	ctx := context.Background()
	out := []string{string(env.inst.PrimaryENI), env.inst.PrimaryMAC}
	for dev := 1; dev <= 2; dev++ {
		eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
		if err != nil {
			t.Fatal(err)
		}
		att, err := env.c.AttachENI(ctx, eni.ID, env.inst.ID, dev, 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(eni.ID), eni.MAC, att)
	}
	s, err := env.c.AddSubnet(core.Subnet{VPCID: vpcID, CIDR: mustPrefix("10.0.100.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := env.c.LaunchInstance(LaunchSpec{Type: "m5.large", SubnetID: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.c.DescribeInstance(ctx, "i-0nope")
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		t.Fatal(err)
	}
	return append(out, string(s.ID), string(inst.ID), apiErr.RequestID)
}

func TestDeterministicIDs(t *testing.T) {
	a, b := runScript(t, 7), runScript(t, 7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different ids:\n%v\n%v", a, b)
	}
	if c := runScript(t, 8); slices.Equal(a, c) {
		t.Fatal("different seeds gave the same ids")
	}
	seen := map[string]bool{}
	for _, id := range a {
		if seen[id] {
			t.Fatalf("id %s generated twice", id)
		}
		seen[id] = true
	}
	formats := []*regexp.Regexp{
		regexp.MustCompile(`^eni-[0-9a-f]{17}$`),
		regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`),
		regexp.MustCompile(`^eni-attach-[0-9a-f]{17}$`),
		regexp.MustCompile(`^subnet-[0-9a-f]{17}$`),
		regexp.MustCompile(`^i-[0-9a-f]{17}$`),
		regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`),
	}
	check := func(s string, re *regexp.Regexp) {
		if !re.MatchString(s) {
			t.Errorf("%q does not match %s", s, re)
		}
	}
	check(a[0], formats[0])
	check(a[1], formats[1])
	for i := 2; i < 8; i += 3 {
		check(a[i], formats[0])
		check(a[i+1], formats[1])
		check(a[i+2], formats[2])
	}
	check(a[8], formats[3])
	check(a[9], formats[4])
	check(a[10], formats[5])
}

// Concurrent callers (the daemon uses goroutines) never get the same
// address twice and the subnet's books stay balanced. Run with -race.
func TestConcurrentCallers(t *testing.T) {
	env := newEnv(t, func(c *Config) { c.Latency = DefaultLatencies() })
	ctx := context.Background()
	const workers, perWorker = 8, 5
	var mu sync.Mutex
	var all []netip.Addr
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB, Tags: map[string]string{"w": fmt.Sprint(w)}})
			if err != nil {
				errs <- err
				return
			}
			mine := []netip.Addr{eni.PrimaryIP}
			for range perWorker {
				got, err := env.c.AssignIPv4(ctx, eni.ID, 1, 0)
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, got.IPs...)
				if _, err := env.c.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{eni.ID}}); err != nil {
					errs <- err
					return
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range all {
		if seen[a] {
			t.Fatalf("address %s handed out twice", a)
		}
		seen[a] = true
	}
	if want := 251 - workers*(1+perWorker); env.c.SubnetFree(subnetB) != want {
		t.Fatalf("free = %d, want %d", env.c.SubnetFree(subnetB), want)
	}
	if got := env.c.Calls()[OpAssignPrivateIPAddresses]; got != workers*perWorker {
		t.Fatalf("AssignPrivateIpAddresses counted %d", got)
	}
}
