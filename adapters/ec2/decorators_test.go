package ec2

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// stubCloud is a stateful stand-in for the decorators' inner cloud: it
// counts calls per method, can hold describes until released, and answers
// with fixed data. Methods it does not override panic (the embedded nil
// interface), so a decorator calling something unexpected fails loudly.
type stubCloud struct {
	ports.Cloud

	mu      sync.Mutex
	calls   map[string]int
	release chan struct{} // when non-nil, DescribeENIs waits for it
	err     error         // returned by DeleteENI
}

func newStubCloud() *stubCloud { return &stubCloud{calls: map[string]int{}} }

func (s *stubCloud) count(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
}

func (s *stubCloud) n(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *stubCloud) DescribeENIs(ctx context.Context, f ports.ENIFilter) ([]core.ENI, error) {
	s.count(OpDescribeNetworkInterfaces)
	if s.release != nil {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return []core.ENI{{ID: "eni-1", Tags: map[string]string{"k": "v"}, SecurityGroups: []string{"sg-1"}}}, nil
}

func (s *stubCloud) DescribeSubnets(ctx context.Context, f ports.SubnetFilter) ([]core.Subnet, error) {
	s.count(OpDescribeSubnets)
	return []core.Subnet{{ID: "subnet-1", Tags: map[string]string{"a": "b"}}}, nil
}

func (s *stubCloud) DescribeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	s.count(OpDescribeInstances)
	return core.Instance{ID: id, ENIs: []core.ENI{{ID: "eni-1"}}}, nil
}

func (s *stubCloud) DescribeInstanceType(ctx context.Context, name string) (limits.InstanceType, error) {
	s.count(OpDescribeInstanceTypes)
	return limits.InstanceType{Name: name, NetworkCards: []limits.NetworkCard{{Index: 0, MaxInterfaces: 3}}}, nil
}

func (s *stubCloud) DeleteENI(ctx context.Context, eni core.ENIID) error {
	s.count(OpDeleteNetworkInterface)
	return s.err
}

func (s *stubCloud) CreateTags(ctx context.Context, id string, tags map[string]string) error {
	s.count(OpCreateTags)
	return nil
}

// stepClock is a virtual clock: Sleep records the duration and moves time
// forward, or fails when the context has ended.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	clock := &stepClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	start := clock.Now()
	inner := newStubCloud()
	l, err := NewLimiter(inner, 10, 3, clock)
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	// A burst of 3 passes at once, the next 4 wait 100 ms each on the
	// virtual clock.
	for i := range 7 {
		if err := l.DeleteENI(ctx, "eni-1"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := inner.n(OpDeleteNetworkInterface); n != 7 {
		t.Fatalf("inner saw %d calls, want 7", n)
	}
	want := []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	if !reflect.DeepEqual(clock.sleeps, want) {
		t.Fatalf("sleeps = %v, want %v", clock.sleeps, want)
	}
	if got := clock.Now().Sub(start); got != 400*time.Millisecond {
		t.Fatalf("7 calls at 10/s with burst 3 took %v of virtual time, want 400ms", got)
	}

	// Idle time refills the bucket, up to the burst.
	clock.advance(time.Hour)
	clock.sleeps = nil
	for range 3 {
		if err := l.CreateTags(ctx, "eni-1", map[string]string{"a": "b"}); err != nil {
			t.Fatal(err)
		}
	}
	if len(clock.sleeps) != 0 {
		t.Fatalf("calls after an idle hour waited %v", clock.sleeps)
	}

	// Out of tokens and the context ends: the call fails without reaching
	// the cloud, and its token is returned.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.DeleteENI(cctx, "eni-1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("DeleteENI with a cancelled context: %v", err)
	}
	if n := inner.n(OpDeleteNetworkInterface); n != 7 {
		t.Fatalf("a cancelled call reached the cloud (%d calls)", n)
	}

	if _, err := NewLimiter(inner, 0, 1, clock); !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("NewLimiter(qps 0): %v", err)
	}
}

// waitJoined waits (without a time limit; the test's own timeout bounds
// it) until n callers share the flight for key.
func waitJoined(c *Coalescer, key string, n int) {
	for c.group.joined(key) < n {
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestCoalescerMergesIdenticalDescribes(t *testing.T) {
	ctx := context.Background()
	inner := newStubCloud()
	inner.release = make(chan struct{})
	c := NewCoalescer(inner)
	filter := ports.ENIFilter{Status: "available", TagKeys: []string{core.TagInstanceID}, Tags: map[string]string{"a": "1", "b": "2"}}
	// The same filter written differently (order of keys) is the same
	// question.
	same := ports.ENIFilter{Tags: map[string]string{"b": "2", "a": "1"}, TagKeys: []string{core.TagInstanceID}, Status: "available"}
	if eniFilterKey(filter) != eniFilterKey(same) {
		t.Fatalf("equal filters have different keys")
	}

	const n = 8
	results := make([][]core.ENI, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := filter
			if i%2 == 1 {
				f = same
			}
			results[i], errs[i] = c.DescribeENIs(ctx, f)
		}()
	}
	waitJoined(c, eniFilterKey(filter), n)
	close(inner.release)
	wg.Wait()

	if got := inner.n(OpDescribeNetworkInterfaces); got != 1 {
		t.Fatalf("%d concurrent identical describes made %d upstream calls, want 1", n, got)
	}
	for i := range n {
		if errs[i] != nil || len(results[i]) != 1 || results[i][0].ID != "eni-1" {
			t.Fatalf("caller %d got %v, %v", i, results[i], errs[i])
		}
	}
	// Each caller owns its copy.
	results[0][0].Tags["k"] = "changed"
	results[0][0].SecurityGroups[0] = "sg-changed"
	if results[1][0].Tags["k"] != "v" || results[1][0].SecurityGroups[0] != "sg-1" {
		t.Fatalf("callers share mutable results: %+v", results[1][0])
	}

	// Once the flight has landed, the next describe is a new call.
	if _, err := c.DescribeENIs(ctx, filter); err != nil {
		t.Fatal(err)
	}
	if got := inner.n(OpDescribeNetworkInterfaces); got != 2 {
		t.Fatalf("a later describe made %d calls in total, want 2", got)
	}
}

func TestCoalescerKeepsDifferentQuestionsApart(t *testing.T) {
	ctx := context.Background()
	inner := newStubCloud()
	c := NewCoalescer(inner)
	for _, f := range []ports.ENIFilter{{}, {VPCID: "vpc-1"}, {IDs: []core.ENIID{"eni-1"}}, {TagKeys: []string{"a"}}, {Tags: map[string]string{"a": ""}}} {
		if _, err := c.DescribeENIs(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DescribeSubnets(ctx, ports.SubnetFilter{VPCID: "vpc-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeInstance(ctx, "i-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeInstanceType(ctx, "m5.large"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteENI(ctx, "eni-1"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{OpDescribeNetworkInterfaces: 5, OpDescribeSubnets: 1, OpDescribeInstances: 1, OpDescribeInstanceTypes: 1, OpDeleteNetworkInterface: 1}
	if !reflect.DeepEqual(inner.calls, want) {
		t.Fatalf("calls = %v, want %v", inner.calls, want)
	}
	keys := map[string]bool{}
	for _, f := range []ports.ENIFilter{{}, {VPCID: "a"}, {Status: "a"}, {InstanceID: "a"}, {TagKeys: []string{"a"}}, {IDs: []core.ENIID{"a"}},
		{Tags: map[string]string{"a": ""}}, {Tags: map[string]string{"a=": ""}}, {Tags: map[string]string{"a": "="}}} {
		keys[eniFilterKey(f)] = true
	}
	if len(keys) != 9 {
		t.Fatalf("distinct filters share keys: %d keys for 9 filters", len(keys))
	}
}

// A caller that gives up does not fail the others waiting for the same
// answer.
func TestCoalescerCallerCancellation(t *testing.T) {
	inner := newStubCloud()
	inner.release = make(chan struct{})
	c := NewCoalescer(inner)
	key := eniFilterKey(ports.ENIFilter{})

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.DescribeENIs(leaderCtx, ports.ENIFilter{})
		leaderErr <- err
	}()
	waitJoined(c, key, 1)
	follower := make(chan []core.ENI, 1)
	go func() {
		enis, err := c.DescribeENIs(context.Background(), ports.ENIFilter{})
		if err != nil {
			t.Errorf("follower: %v", err)
		}
		follower <- enis
	}()
	waitJoined(c, key, 2)
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader error = %v, want context.Canceled", err)
	}
	close(inner.release)
	if enis := <-follower; len(enis) != 1 {
		t.Fatalf("follower got %v", enis)
	}
	if got := inner.n(OpDescribeNetworkInterfaces); got != 1 {
		t.Fatalf("%d upstream calls, want 1", got)
	}
}

func TestPrometheusObserver(t *testing.T) {
	reg := prometheus.NewRegistry()
	obs, err := NewPrometheusObserver(reg)
	if err != nil {
		t.Fatalf("NewPrometheusObserver: %v", err)
	}
	if _, err := NewPrometheusObserver(reg); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}

	ctx := context.Background()
	f := newFakeEC2(t)
	client := newTestClient(t, f)
	clock := &stepClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	cloud := NewObserved(client, obs, clock)

	for range 3 {
		if err := cloud.DeleteENI(ctx, "eni-1"); err != nil {
			t.Fatal(err)
		}
	}
	f.fail(OpAttachNetworkInterface, http.StatusBadRequest, "AttachmentLimitExceeded")
	f.fail(OpAttachNetworkInterface, http.StatusServiceUnavailable, "RequestLimitExceeded")
	for range 2 {
		if _, err := cloud.AttachENI(ctx, "eni-1", "i-1", 1, 0); err == nil {
			t.Fatal("AttachENI succeeded against an error answer")
		}
	}

	counters := []struct {
		c    prometheus.Counter
		want float64
	}{
		{obs.requests.WithLabelValues(OpDeleteNetworkInterface), 3},
		{obs.requests.WithLabelValues(OpAttachNetworkInterface), 2},
		{obs.reqErrors.WithLabelValues(OpAttachNetworkInterface), 2},
		{obs.apiErrors.WithLabelValues(OpAttachNetworkInterface, "AttachmentLimitExceeded"), 1},
		{obs.apiErrors.WithLabelValues(OpAttachNetworkInterface, "RequestLimitExceeded"), 1},
	}
	for i, tt := range counters {
		if got := counterValue(t, tt.c); got != tt.want {
			t.Errorf("counter %d = %v, want %v", i, got, tt.want)
		}
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == MetricEC2RequestErrs && len(mf.GetMetric()) != 1 {
			t.Errorf("%s has %d series, want 1 (no errors for DeleteNetworkInterface)", MetricEC2RequestErrs, len(mf.GetMetric()))
		}
	}
	// The summary holds one series per (api, error, status).
	got := map[string]uint64{}
	for _, mf := range families {
		if mf.GetName() != MetricAPILatency {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[labels(m)] = m.GetSummary().GetSampleCount()
		}
	}
	want := map[string]uint64{
		"api=DeleteNetworkInterface,error=false,status=200": 3,
		"api=AttachNetworkInterface,error=true,status=400":  1,
		"api=AttachNetworkInterface,error=true,status=503":  1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("latency series = %v, want %v", got, want)
	}
	for _, name := range []string{MetricAPIErrors, MetricEC2Requests, MetricEC2RequestErrs} {
		found := false
		for _, mf := range families {
			found = found || mf.GetName() == name
		}
		if !found {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatalf("read counter: %v", err)
	}
	return m.GetCounter().GetValue()
}

func labels(m *dto.Metric) string {
	var s string
	for i, l := range m.GetLabel() {
		if i > 0 {
			s += ","
		}
		s += l.GetName() + "=" + l.GetValue()
	}
	return s
}

// recorder is an Observer remembering what it was told.
type recorder struct {
	mu  sync.Mutex
	ops []string
	ds  []time.Duration
}

func (r *recorder) ObserveCall(op string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	r.ds = append(r.ds, d)
}

// Stack: coalesced describes cost one token and one observation; the
// observer sits next to the cloud.
func TestStack(t *testing.T) {
	inner := newStubCloud()
	rec := &recorder{}
	cloud, err := Stack(inner, Config{QPS: 100, Burst: 5}, rec)
	if err != nil {
		t.Fatalf("Stack: %v", err)
	}
	c, ok := cloud.(*Coalescer)
	if !ok {
		t.Fatalf("Stack returned %T, want the Coalescer outermost", cloud)
	}
	if _, ok := c.next.(*Limiter); !ok {
		t.Fatalf("under the Coalescer: %T, want *Limiter", c.next)
	}
	if _, ok := c.next.(*Limiter).next.(*Observed); !ok {
		t.Fatalf("under the Limiter: %T, want *Observed", c.next.(*Limiter).next)
	}
	if _, err := cloud.DescribeSubnets(context.Background(), ports.SubnetFilter{}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec.ops, []string{OpDescribeSubnets}) {
		t.Fatalf("observed %v", rec.ops)
	}
	noLimit, err := Stack(inner, Config{QPS: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := noLimit.(*Coalescer).next.(*stubCloud); !ok {
		t.Fatalf("QPS < 0 and no observer: under the Coalescer %T, want the cloud itself", noLimit.(*Coalescer).next)
	}
}
