// Package simulate runs the real node IPAM service (service/nodeipam, the
// code ipamd runs) against the in-memory EC2/IMDS simulator on a virtual
// clock, feeding it pod arrivals and departures, and reports where the pool
// ends up, how many EC2 calls it took and how long pods waited.
//
// Time is virtual: EC2 latencies advance the clock, the pool loop ticks
// every LoopInterval of virtual time, and after the last event the clock
// keeps running until the pool has been stable for ten virtual minutes, so
// cooldowns, the ENI minimum age and the decrease interval play out in
// milliseconds of real time.
package simulate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// Event is one line of a trace: a pod arriving ("add") or leaving ("del")
// at T seconds of virtual time.
type Event struct {
	T   float64 `json:"t"`
	Op  string  `json:"op"`
	Pod string  `json:"pod"`
}

// Options describe a run.
type Options struct {
	InstanceType string
	// Env holds daemon environment variables (WARM_IP_TARGET=2, ...).
	Env map[string]string
	// Pods adds this many pods one by one, letting the pool settle
	// between arrivals. Ignored when Events is set.
	Pods int
	// Events is an explicit trace.
	Events []Event
	// SubnetCIDR is the node's subnet (default 10.0.0.0/19).
	SubnetCIDR netip.Prefix
	// VPCCIDRs are the VPC's CIDRs (default 10.0.0.0/16).
	VPCCIDRs []netip.Prefix
	// Latencies override the simulated EC2 latencies per operation.
	Latencies map[string]time.Duration
	// IMDSDelay is how long instance metadata lags EC2 (default 1 s).
	IMDSDelay time.Duration
	// StableFor ends the run once the pool has not changed for this long
	// after the last event (default 10 minutes).
	StableFor time.Duration
	// MaxVirtual bounds the run (default 24 h of virtual time).
	MaxVirtual time.Duration
}

// PodError is a pod that did not get an address.
type PodError struct {
	Pod    string `json:"pod"`
	Reason string `json:"reason"`
}

// Waits summarises how long pods waited for an address, in seconds.
type Waits struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Result is what a run reports.
type Result struct {
	InstanceType   string         `json:"instance_type"`
	MaxPods        int            `json:"max_pods"`
	MaxENIs        int            `json:"max_enis"`
	ENIs           int            `json:"enis"`
	IPsPerENI      []int          `json:"ips_per_eni"`
	PrefixesPerENI []int          `json:"prefixes_per_eni"`
	Assigned       int            `json:"assigned"`
	UnusedIPs      int            `json:"unused_ips"`
	EC2Calls       map[string]int `json:"ec2_calls"`
	PodWait        Waits          `json:"pod_wait_seconds"`
	Errors         []PodError     `json:"errors"`
	VirtualSeconds float64        `json:"virtual_seconds"`
	Warnings       []string       `json:"warnings,omitempty"`
}

// ParseTrace reads JSON lines of events. Blank lines and lines starting
// with # are skipped; anything else that is not a valid event is an error
// naming the line.
func ParseTrace(r io.Reader) ([]Event, error) {
	var out []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	last := 0.0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		var ev Event
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("trace line %d %q: %w", line, text, err)
		}
		if err := ev.validate(); err != nil {
			return nil, fmt.Errorf("trace line %d %q: %w", line, text, err)
		}
		if ev.T < last {
			return nil, fmt.Errorf("trace line %d %q: time %.3f goes back before %.3f", line, text, ev.T, last)
		}
		last = ev.T
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	return out, nil
}

func (e Event) validate() error {
	if e.Op != "add" && e.Op != "del" {
		return fmt.Errorf("op %q: want \"add\" or \"del\"", e.Op)
	}
	if e.T < 0 || math.IsNaN(e.T) || math.IsInf(e.T, 0) {
		return fmt.Errorf("time %v: want a non-negative number of seconds", e.T)
	}
	ns, name, ok := strings.Cut(e.Pod, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("pod %q: want \"namespace/name\"", e.Pod)
	}
	return nil
}

// epoch is the virtual clock's start. Any fixed instant works.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type pod struct {
	name    string
	key     core.PodKey
	ref     core.PodRef
	arrived time.Time
}

type runner struct {
	opts    Options
	clock   *memory.VirtualClock
	cloud   *memory.Cloud
	svc     *nodeipam.Service
	inst    core.InstanceID
	pending []pod
	running map[string]pod
	waits   []float64
	errs    []PodError
	// failed remembers why each pending pod last failed.
	failed map[string]string
}

// Run performs a simulation.
func Run(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if opts.InstanceType == "" {
		return res, errors.New("simulate: an instance type is required")
	}
	it, ok := limits.Lookup(opts.InstanceType)
	if !ok {
		return res, fmt.Errorf("simulate: instance type %q: %w", opts.InstanceType, core.ErrUnknownInstanceType)
	}
	if err := checkEnvNames(opts.Env); err != nil {
		return res, err
	}
	env, warnings, err := config.Parse(func(k string) (string, bool) { v, ok := opts.Env[k]; return v, ok })
	if err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	res.Warnings = warnings
	for _, ev := range opts.Events {
		if err := ev.validate(); err != nil {
			return res, fmt.Errorf("simulate: event %+v: %w", ev, err)
		}
	}
	if !opts.SubnetCIDR.IsValid() {
		opts.SubnetCIDR = netip.MustParsePrefix("10.0.0.0/19")
	}
	if len(opts.VPCCIDRs) == 0 {
		opts.VPCCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	}
	if opts.IMDSDelay == 0 {
		opts.IMDSDelay = time.Second
	}
	if opts.StableFor <= 0 {
		opts.StableFor = 10 * time.Minute
	}
	if opts.MaxVirtual <= 0 {
		opts.MaxVirtual = 24 * time.Hour
	}

	clock := memory.NewVirtualClock(epoch)
	lat := memory.DefaultLatencies()
	for k, v := range opts.Latencies {
		lat[k] = v
	}
	cloud := memory.New(memory.Config{Clock: clock, Latency: lat, IMDSDelay: opts.IMDSDelay, InstanceTypes: limits.Lookup, Seed: 1})
	if err := cloud.AddVPC("vpc-sim", opts.VPCCIDRs...); err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	if _, err := cloud.AddSubnet(core.Subnet{ID: "subnet-sim", VPCID: "vpc-sim", AvailabilityZone: "us-west-2a", CIDR: opts.SubnetCIDR}); err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	inst, err := cloud.LaunchInstance(memory.LaunchSpec{Type: it.Name, SubnetID: "subnet-sim", SecurityGroups: []string{"sg-sim"}})
	if err != nil {
		return res, fmt.Errorf("simulate: launch %s: %w", it.Name, err)
	}
	cfg := env.NodeIPAM()
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: cloud, Metadata: cloud.Metadata(inst.ID), Clock: clock, Checkpoint: memory.NewCheckpoint()})
	if err != nil {
		return res, fmt.Errorf("simulate: %w", err)
	}
	init, err := svc.Init(ctx)
	if err != nil {
		return res, fmt.Errorf("simulate: start node: %w", err)
	}
	r := &runner{opts: opts, clock: clock, cloud: cloud, svc: svc, inst: inst.ID, running: map[string]pod{}, failed: map[string]string{}}
	if err := r.run(ctx, cfg); err != nil {
		return res, err
	}
	res = r.result(init)
	res.Warnings = warnings
	return res, nil
}

func checkEnvNames(env map[string]string) error {
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	var bad []string
	for k := range env {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("simulate: unknown environment variable %s (see docs/configuration.md)", strings.Join(bad, ", "))
	}
	return nil
}

func (r *runner) now() time.Time { return r.clock.Now() }

// run plays the events, then lets the pool settle.
func (r *runner) run(ctx context.Context, cfg nodeipam.Config) error {
	tick := cfg.LoopInterval
	// Settle the freshly started node first, as the daemon does before the
	// node is marked ready.
	if err := r.settle(ctx, tick); err != nil {
		return err
	}
	events := r.opts.Events
	if events == nil {
		for i := 0; i < r.opts.Pods; i++ {
			if err := r.add(ctx, fmt.Sprintf("default/pod-%d", i+1)); err != nil {
				return err
			}
			if err := r.settle(ctx, tick); err != nil {
				return err
			}
		}
	} else {
		base := r.now()
		nextTick := r.now().Add(tick)
		for _, ev := range events {
			due := base.Add(time.Duration(ev.T * float64(time.Second)))
			for nextTick.Before(due) || nextTick.Equal(due) {
				if err := r.tickAt(ctx, nextTick); err != nil {
					return err
				}
				nextTick = nextTick.Add(tick)
			}
			if r.now().Before(due) {
				r.clock.Set(due)
			}
			var err error
			if ev.Op == "add" {
				err = r.add(ctx, ev.Pod)
			} else {
				err = r.del(ctx, ev.Pod)
			}
			if err != nil {
				return err
			}
		}
	}
	return r.drain(ctx, tick)
}

// tickAt runs the pool loop at virtual time t (or now, if EC2 latency has
// already carried the clock past t).
func (r *runner) tickAt(ctx context.Context, t time.Time) error {
	if r.now().Before(t) {
		r.clock.Set(t)
	}
	if r.now().Sub(epoch) > r.opts.MaxVirtual {
		return fmt.Errorf("simulate: still running after %s of virtual time", r.opts.MaxVirtual)
	}
	r.svc.SetExternalDemand(len(r.pending))
	if _, err := r.svc.Step(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	r.retryPending(ctx)
	return nil
}

// shape is what "stable" compares: ENIs and their addresses in EC2, and
// the pods still waiting.
func (r *runner) shape() string {
	var b strings.Builder
	for _, e := range r.cloud.ENIsOf(r.inst) {
		fmt.Fprintf(&b, "%s:%d:%d;", e.ID, len(e.SecondaryIPs), len(e.IPv4Prefixes))
	}
	fmt.Fprintf(&b, "pending=%d", len(r.pending))
	return b.String()
}

// settle ticks until a pass changes nothing and no pod waits for an
// address it could get (pods beyond the node's limits stay pending).
func (r *runner) settle(ctx context.Context, tick time.Duration) error {
	for i := 0; i < 1000; i++ {
		before := r.shape()
		if err := r.tickAt(ctx, r.now()); err != nil {
			return err
		}
		if r.shape() == before {
			return nil
		}
		if err := r.tickAt(ctx, r.now().Add(tick)); err != nil {
			return err
		}
	}
	return errors.New("simulate: the pool did not settle after 1000 passes")
}

// drain keeps ticking until nothing changed for StableFor.
func (r *runner) drain(ctx context.Context, tick time.Duration) error {
	stableSince := r.now()
	last := r.shape()
	for r.now().Sub(stableSince) < r.opts.StableFor {
		if err := r.tickAt(ctx, r.now().Add(tick)); err != nil {
			return err
		}
		if s := r.shape(); s != last {
			last, stableSince = s, r.now()
		}
	}
	for _, p := range r.pending {
		reason := r.failed[p.name]
		if reason == "" {
			reason = "no address became available"
		}
		r.errs = append(r.errs, PodError{Pod: p.name, Reason: reason})
	}
	return nil
}

func podFor(name string) pod {
	ns, n, _ := strings.Cut(name, "/")
	return pod{
		name: name,
		key:  core.PodKey{NetworkName: "aws-cni", ContainerID: "sim-" + ns + "-" + n, IfName: "eth0"},
		ref:  core.PodRef{Namespace: ns, Name: n},
	}
}

// add is a CNI ADD. An ADD that finds the pool empty wakes the allocator
// at once (a pass runs now) and waits for it.
func (r *runner) add(ctx context.Context, name string) error {
	if _, ok := r.running[name]; ok {
		return fmt.Errorf("simulate: pod %s added twice", name)
	}
	for _, p := range r.pending {
		if p.name == name {
			return fmt.Errorf("simulate: pod %s added twice", name)
		}
	}
	p := podFor(name)
	p.arrived = r.now()
	if _, err := r.svc.TryAssign(ctx, nodeipam.AssignRequest{Key: p.key, Pod: p.ref}); err == nil {
		r.running[name] = p
		r.waits = append(r.waits, 0)
		return nil
	} else {
		r.failed[name] = err.Error()
	}
	r.pending = append(r.pending, p)
	// Wake the allocator: a pass runs right away.
	return r.tickAt(ctx, r.now())
}

// del is a CNI DEL.
func (r *runner) del(ctx context.Context, name string) error {
	for i, p := range r.pending {
		if p.name == name {
			r.pending = append(r.pending[:i], r.pending[i+1:]...)
			r.errs = append(r.errs, PodError{Pod: name, Reason: "deleted while still waiting for an address: " + r.failed[name]})
			return nil
		}
	}
	p, ok := r.running[name]
	if !ok {
		return fmt.Errorf("simulate: del of pod %s that was never added", name)
	}
	delete(r.running, name)
	if _, err := r.svc.Release(ctx, p.key); err != nil {
		return fmt.Errorf("simulate: release %s: %w", name, err)
	}
	return nil
}

// retryPending gives waiting pods, oldest first, the addresses that have
// become free.
func (r *runner) retryPending(ctx context.Context) {
	kept := r.pending[:0]
	for _, p := range r.pending {
		if _, err := r.svc.TryAssign(ctx, nodeipam.AssignRequest{Key: p.key, Pod: p.ref}); err != nil {
			r.failed[p.name] = err.Error()
			kept = append(kept, p)
			continue
		}
		r.running[p.name] = p
		r.waits = append(r.waits, r.now().Sub(p.arrived).Seconds())
	}
	r.pending = kept
	r.svc.SetExternalDemand(len(r.pending))
}

func (r *runner) result(init nodeipam.InitReport) Result {
	res := Result{
		InstanceType:   init.InstanceType.Name,
		MaxPods:        init.MaxPods,
		MaxENIs:        init.MaxENIs,
		EC2Calls:       r.cloud.Calls(),
		Errors:         r.errs,
		VirtualSeconds: r.now().Sub(epoch).Seconds(),
	}
	usable := 0
	for _, e := range r.cloud.ENIsOf(r.inst) {
		res.ENIs++
		res.IPsPerENI = append(res.IPsPerENI, len(e.SecondaryIPs))
		res.PrefixesPerENI = append(res.PrefixesPerENI, len(e.IPv4Prefixes))
		if e.NoManage() {
			continue
		}
		usable += len(e.SecondaryIPs) + core.AddressesPerPrefix*len(e.IPv4Prefixes)
	}
	st := r.svc.Stats()
	res.Assigned = st.Assigned
	res.UnusedIPs = usable - st.Assigned
	res.PodWait = summarise(r.waits)
	if res.Errors == nil {
		res.Errors = []PodError{}
	}
	return res
}

func summarise(w []float64) Waits {
	if len(w) == 0 {
		return Waits{}
	}
	s := append([]float64(nil), w...)
	sort.Float64s(s)
	pick := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		if i < 0 {
			i = 0
		}
		return round3(s[i])
	}
	return Waits{P50: pick(0.50), P99: pick(0.99), Max: round3(s[len(s)-1])}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
