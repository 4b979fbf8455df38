package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/core/reconcile"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
)

// Service is the node IPAM service. Create it with New, call Init once, then
// either Run (the daemon) or Step (a simulator driving virtual time).
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger

	mu sync.Mutex
	ds *datastore.Store
	// changed is closed and replaced whenever addresses join the pool, to
	// wake ADDs waiting for one.
	changed chan struct{}
	// wake asks the loop to run a pass now (buffered, never blocks).
	wake chan struct{}

	instance core.Instance
	itype    limits.InstanceType
	lim      warmpool.Limits
	// attached maps every ENI attached to the instance, managed or not, to
	// what we know about it (device, attachment ID, flags).
	attached map[core.ENIID]core.ENI
	// unmanaged holds ENIs EC2 showed to be off limits (no_manage tag,
	// another instance's tag, another card), so metadata-only reconciles
	// need not ask EC2 about them again.
	unmanaged map[core.ENIID]bool
	// unwired holds managed ENIs whose host datapath (link, route table,
	// rules) could not be set up, with when that was first seen and which
	// failure was reported last. They are excluded in the datastore, so
	// pods get none of their addresses, until a setup succeeds
	// (enisetup.go).
	unwired map[core.ENIID]unwiredENI
	// unwiredSeq numbers the datapath failures reported (unwiredENI.gen).
	unwiredSeq uint64
	// vpcChanged is closed and replaced whenever the VPC CIDRs change.
	vpcChanged chan struct{}

	waiting  int // ADDs blocked waiting for an address
	creating int // ENIs being created, attached and set up, not yet in the pool
	deleting int // ENIs out of the pool, being detached: their slots free soon
	// metaPasses counts the reconciles from instance metadata that read
	// it, so an ADD can wait for one before concluding that nothing
	// assigned out of band will come (provisioning disabled).
	metaPasses     uint64
	externalDemand int // pods a driver (simulator) reports as waiting

	lastDecrease  time.Time
	lastReconcile time.Time
	lastLeakCheck time.Time
	lastVPCCheck  time.Time
	growPausedTil time.Time
	throttleTil   time.Time
	throttleStep  time.Duration
	recent        []reconcile.Recent

	stats Counters
	warns []string
}

// Counters are running totals, for metrics and the simulator.
type Counters struct {
	Assigns         int
	Releases        int
	AssignFailures  int
	ENIsCreated     int
	ENIsDeleted     int
	IPsAdded        int
	PrefixesAdded   int
	IPsReleased     int
	PrefixesRelease int
	Throttled       int
	SubnetFull      int
	CloudErrors     int
	LeakedDeleted   int
	Reconciles      int
	EC2Reconciles   int
	// ForceRemovedENIs and ForceRemovedIPs count ENIs found detached while
	// pods held addresses on them, and those pods' addresses, removed
	// from the pool with them.
	ForceRemovedENIs int
	ForceRemovedIPs  int
}

// AssignRequest is one CNI ADD.
type AssignRequest struct {
	Key core.PodKey
	Pod core.PodRef
}

// New builds a service. It does no I/O; call Init.
func New(cfg Config, deps Deps) (*Service, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if deps.Cloud == nil || deps.Metadata == nil || deps.Clock == nil {
		return nil, fmt.Errorf("node IPAM needs a cloud, a metadata service and a clock: %w", core.ErrInvalidParameter)
	}
	if deps.Limits == nil {
		deps.Limits = limits.Lookup
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	family := core.IPv4
	if cfg.IPv6 {
		family = core.IPv6
	}
	return &Service{
		cfg:        cfg,
		deps:       deps,
		log:        log,
		ds:         datastore.New(datastore.Config{Cooldown: cfg.Cooldown, PrefixMode: cfg.PrefixDelegation, Family: family}),
		changed:    make(chan struct{}),
		wake:       make(chan struct{}, 1),
		attached:   map[core.ENIID]core.ENI{},
		unmanaged:  map[core.ENIID]bool{},
		unwired:    map[core.ENIID]unwiredENI{},
		vpcChanged: make(chan struct{}),
	}, nil
}

// InitReport tells what start-up found.
type InitReport struct {
	Instance     core.Instance
	InstanceType limits.InstanceType
	MaxPods      int
	MaxENIs      int
	ENIs         int
	Restored     int
	Dropped      []core.Allocation
	// CheckpointError is set when the checkpoint could not be read; the
	// node then starts from cloud state alone.
	CheckpointError error
}

// Init discovers the instance, its limits and ENIs, and restores the
// checkpoint. It must be called once before anything else.
func (s *Service) Init(ctx context.Context) (InitReport, error) {
	var rep InitReport
	id, err := s.deps.Metadata.Identity(ctx)
	if err != nil {
		return rep, fmt.Errorf("read instance identity: %w", err)
	}
	it, ok := s.deps.Limits(id.Type)
	if !ok {
		if s.cfg.DisableProvisioning {
			return rep, fmt.Errorf("instance type %q: %w (not in the built-in table, and EC2 calls are disabled)", id.Type, core.ErrUnknownInstanceType)
		}
		it, err = s.deps.Cloud.DescribeInstanceType(ctx, id.Type)
		if err != nil {
			return rep, fmt.Errorf("instance type %q is not in the built-in table and EC2 could not describe it: %w", id.Type, err)
		}
	}
	if it.MaxENIs <= 0 || it.IPv4PerENI <= 1 {
		return rep, fmt.Errorf("instance type %q has unusable limits (%d ENIs, %d IPv4 per ENI): %w", id.Type, it.MaxENIs, it.IPv4PerENI, core.ErrUnknownInstanceType)
	}
	if s.cfg.PrefixDelegation && !it.PrefixDelegation() {
		return rep, fmt.Errorf("prefix delegation needs a Nitro or bare-metal instance, %q is neither: %w", id.Type, core.ErrInvalidParameter)
	}
	s.itype = it

	var inst core.Instance
	if s.cfg.DisableProvisioning {
		enis, err := s.deps.Metadata.Interfaces(ctx)
		if err != nil {
			return rep, fmt.Errorf("list interfaces from instance metadata: %w", err)
		}
		inst = core.Instance{ID: id.ID, Type: id.Type, AvailabilityZone: id.AvailabilityZone, Region: id.Region,
			PrimaryMAC: id.PrimaryMAC, PrimaryIP: id.PrimaryIP, ENIs: enis}
		for _, e := range enis {
			if e.DeviceNumber == 0 && e.NetworkCard == 0 {
				inst.PrimaryENI, inst.SubnetID, inst.VPCID, inst.SecurityGroups = e.ID, e.SubnetID, e.VPCID, e.SecurityGroups
			}
		}
	} else {
		inst, err = s.describeInstance(ctx, id.ID)
		if err != nil {
			return rep, fmt.Errorf("describe instance %s: %w", id.ID, err)
		}
	}
	if inst.Type == "" {
		inst.Type = id.Type
	}
	if len(inst.VPCCIDRs) == 0 {
		// EC2 could not say (DescribeVpcs is not in the managed CNI
		// policy): metadata knows them too.
		inst.VPCCIDRs = id.VPCCIDRs
	}
	s.instance = inst

	maxENIs := it.MaxENIs
	if s.cfg.MaxENI > 0 && s.cfg.MaxENI < maxENIs {
		maxENIs = s.cfg.MaxENI
	}
	maxPods := s.cfg.MaxPods
	if maxPods <= 0 {
		maxPods, err = limits.MaxPods(it, limits.MaxPodsOptions{PrefixDelegation: s.cfg.PrefixDelegation, CustomNetworking: s.cfg.SkipPrimaryENI, MaxENI: s.cfg.MaxENI})
		if err != nil {
			return rep, fmt.Errorf("compute max pods: %w", err)
		}
	}
	s.lim = warmpool.Limits{MaxENIs: maxENIs, BlocksPerENI: it.IPv4PerENI - 1, MaxPods: maxPods, ReservedENISlots: s.cfg.ReservedENISlots}

	now := s.deps.Clock.Now()
	s.mu.Lock()
	for _, e := range inst.ENIs {
		s.adoptLocked(e, now)
	}
	s.mu.Unlock()
	if !s.cfg.DisableProvisioning {
		s.tagUntaggedManaged(ctx, inst.ENIs)
	}

	if s.deps.Checkpoint != nil {
		snap, err := s.deps.Checkpoint.Load(ctx)
		if err != nil {
			rep.CheckpointError = err
			s.log.Error("checkpoint unreadable, starting from cloud state alone", "error", err)
		}
		s.mu.Lock()
		rr, rerr := s.ds.Restore(snap, now)
		s.mu.Unlock()
		if rerr != nil {
			return rep, fmt.Errorf("restore checkpoint: %w", rerr)
		}
		rep.Restored, rep.Dropped = rr.Restored, rr.Dropped
		for _, d := range rr.Dropped {
			s.log.Warn("dropped checkpointed allocation", "pod", d.Pod.String(), "ip", d.Addr.String())
		}
		if err := s.saveCheckpoint(ctx); err != nil {
			return rep, err
		}
	}
	s.lastReconcile = now
	s.lastVPCCheck = now
	rep.Instance, rep.InstanceType, rep.MaxPods, rep.MaxENIs = inst, it, maxPods, maxENIs
	rep.ENIs = len(s.ds.ENIs())
	s.log.Info("node IPAM initialised", "instance", string(inst.ID), "type", it.Name, "max_enis", maxENIs, "max_pods", maxPods,
		"enis", rep.ENIs, "restored", rep.Restored)
	return rep, nil
}

// describeInstance reads the instance and completes its ENIs with tags.
func (s *Service) describeInstance(ctx context.Context, id core.InstanceID) (core.Instance, error) {
	inst, err := s.deps.Cloud.DescribeInstance(ctx, id)
	s.noteCloud(err)
	if err != nil {
		return inst, err
	}
	// DescribeInstances does not return ENI tags; DescribeNetworkInterfaces does.
	enis, err := s.deps.Cloud.DescribeENIs(ctx, portsFilterAttached(id))
	s.noteCloud(err)
	if err != nil {
		return inst, err
	}
	byID := map[core.ENIID]core.ENI{}
	for _, e := range enis {
		byID[e.ID] = e
	}
	for i, e := range inst.ENIs {
		if full, ok := byID[e.ID]; ok {
			if full.DeviceNumber < 0 {
				full.DeviceNumber = e.DeviceNumber
			}
			full.Primary = full.Primary || e.Primary
			inst.ENIs[i] = full
		}
	}
	sort.Slice(inst.ENIs, func(i, j int) bool {
		a, b := inst.ENIs[i], inst.ENIs[j]
		if a.NetworkCard != b.NetworkCard {
			return a.NetworkCard < b.NetworkCard
		}
		return a.DeviceNumber < b.DeviceNumber
	})
	return inst, nil
}

// managed reports whether the node may use the ENI for pods.
func (s *Service) managed(e core.ENI) bool {
	if e.NoManage() {
		return false
	}
	if e.Primary || (e.DeviceNumber == 0 && e.NetworkCard == 0) {
		return true
	}
	if e.NetworkCard != 0 {
		return false // only the default card is managed
	}
	if owner, ok := e.Tags[core.TagInstanceID]; ok {
		return owner == string(s.instance.ID)
	}
	return s.cfg.ManageUntaggedENIs
}

// adoptLocked records an attached ENI and, when managed, puts it and its
// addresses in the datastore.
func (s *Service) adoptLocked(e core.ENI, now time.Time) {
	if e.DeviceNumber == 0 && e.NetworkCard == 0 {
		e.Primary = true
	}
	s.attached[e.ID] = e
	if !s.managed(e) {
		s.unmanaged[e.ID] = true
		return
	}
	info := datastore.ENIInfo{ID: e.ID, DeviceNumber: e.DeviceNumber, NetworkCard: e.NetworkCard, SubnetCIDR: e.SubnetCIDR,
		PrimaryIP: e.PrimaryIP, Primary: e.Primary, Trunk: e.Trunk, EFA: e.EFA}
	if err := s.ds.AddENI(info, now); err != nil && !errors.Is(err, core.ErrDuplicate) {
		s.log.Error("add ENI to datastore", "eni", string(e.ID), "error", err)
		return
	}
	if _, ok := s.unwired[e.ID]; ok {
		// Its datapath is not set up: no pod may get its addresses yet.
		_ = s.ds.SetExcluded(e.ID, true)
	}
	if len(e.SecondaryIPs) > 0 {
		if _, err := s.ds.AddIPs(e.ID, e.SecondaryIPs); err != nil {
			s.log.Error("add addresses to datastore", "eni", string(e.ID), "error", err)
		}
	}
	if len(e.IPv4Prefixes) > 0 && !s.cfg.IPv6 {
		if _, err := s.ds.AddPrefixes(e.ID, e.IPv4Prefixes); err != nil {
			s.log.Error("add prefixes to datastore", "eni", string(e.ID), "error", err)
		}
	}
	if len(e.IPv6Prefixes) > 0 && s.cfg.IPv6 {
		if _, err := s.ds.AddIPv6Prefixes(e.ID, e.IPv6Prefixes); err != nil {
			s.log.Error("add IPv6 prefixes to datastore", "eni", string(e.ID), "error", err)
		}
	}
	s.notifyLocked()
}

// tagUntaggedManaged puts our instance tag on managed ENIs that lack it, so
// leak cleanup and other nodes know whose they are.
func (s *Service) tagUntaggedManaged(ctx context.Context, enis []core.ENI) {
	for _, e := range enis {
		if e.Primary || e.DeviceNumber == 0 || !s.managed(e) {
			continue
		}
		if _, ok := e.Tags[core.TagInstanceID]; ok {
			continue
		}
		err := s.deps.Cloud.CreateTags(ctx, string(e.ID), s.tags(false))
		s.noteCloud(err)
		if err != nil {
			s.log.Warn("tag ENI", "eni", string(e.ID), "error", err)
		}
	}
}

// tags returns the tags this node puts on ENIs it manages.
func (s *Service) tags(withCreatedAt bool) map[string]string {
	t := map[string]string{}
	for k, v := range s.cfg.ExtraTags {
		t[k] = v
	}
	t[core.TagInstanceID] = string(s.instance.ID)
	if s.cfg.ClusterName != "" {
		t[core.TagCluster] = s.cfg.ClusterName
	}
	if withCreatedAt {
		t[core.TagCreatedAt] = s.deps.Clock.Now().UTC().Format(time.RFC3339)
	}
	return t
}

// notifyLocked wakes ADDs waiting for an address.
func (s *Service) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Wake asks the loop to run a pass as soon as possible.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SetExternalDemand tells the service how many pods a driver (the
// simulator) has waiting for an address, so the next Step covers them.
func (s *Service) SetExternalDemand(n int) {
	s.mu.Lock()
	s.externalDemand = n
	s.mu.Unlock()
}

// Waiting is how many ADDs wait for an address now.
func (s *Service) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// Assign gives the pod an address. When the pool is empty it wakes the
// allocator and waits up to Config.AddWait for one instead of failing at
// once, unless nothing can free or add an address meanwhile (see
// cannotGrowLocked): then it fails at once, with the same error class as
// a wait that times out. The assignment is checkpointed before it is
// returned.
func (s *Service) Assign(ctx context.Context, req AssignRequest) (datastore.Assignment, error) {
	var deadline <-chan struct{}
	if s.cfg.AddWait > 0 {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.AddWait)
		defer cancel()
		deadline = wctx.Done()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	counted := false
	var metaSeen uint64 // metaPasses when this ADD began to wait
	defer func() {
		if counted {
			s.waiting--
		}
	}()
	for {
		a, err := s.assignLocked(ctx, req)
		if err == nil || !errors.Is(err, core.ErrNoAvailableAddress) || deadline == nil {
			if err != nil {
				s.stats.AssignFailures++
			}
			return a, err
		}
		if !counted {
			counted = true
			s.waiting++
			metaSeen = s.metaPasses
		}
		now := s.deps.Clock.Now()
		if why := s.cannotGrowLocked(now, metaSeen); why != "" {
			s.stats.AssignFailures++
			return datastore.Assignment{}, fmt.Errorf("assign address to %s: no free address and the pool cannot grow: %s: %w",
				req.Pod, why, core.ErrNoAvailableAddress)
		}
		s.Wake()
		ch := s.changed
		cctx, stopCooled := context.WithCancel(ctx)
		cooled := s.cooledLocked(cctx, now)
		s.mu.Unlock()
		cancelled, timedOut := false, false
		select {
		case <-ch:
		case <-cooled:
		case <-ctx.Done():
			cancelled = true
		case <-deadline:
			timedOut = true
		}
		stopCooled()
		s.mu.Lock()
		switch {
		case cancelled:
			s.stats.AssignFailures++
			return datastore.Assignment{}, fmt.Errorf("assign address to %s: %w (%w)", req.Pod, core.ErrNoAvailableAddress, ctx.Err())
		case timedOut:
			s.stats.AssignFailures++
			return datastore.Assignment{}, fmt.Errorf("assign address to %s: waited %s for the allocator: %w", req.Pod, s.cfg.AddWait, err)
		}
	}
}

// cannotGrowLocked tells a waiting ADD why no address can become free for
// it soon, or returns "" when one may: an address cools down, an ENI is
// being created, detached or its datapath set up within the setup window,
// or the policy would still add addresses. A back-off (throttling, a full
// subnet) does not stop growth for good, so it does not count. With
// provisioning disabled, addresses come from outside and ipamd learns of
// them from instance metadata: the ADD waits for one metadata pass after
// metaSeen before it gives up.
func (s *Service) cannotGrowLocked(now time.Time, metaSeen uint64) string {
	if s.creating > 0 || s.deleting > 0 || s.ds.Stats(now).Cooling > 0 {
		return ""
	}
	for id, u := range s.unwired {
		if !s.settingUpLocked(u.since, now) {
			continue
		}
		if v, ok := s.ds.ENI(id); ok && v.Usage.Total > v.Usage.Assigned {
			return ""
		}
	}
	if s.cfg.DisableProvisioning {
		if s.metaPasses == metaSeen {
			return ""
		}
		return "provisioning disabled (DISABLE_NETWORK_RESOURCE_PROVISIONING) and instance metadata shows no other address"
	}
	if s.cfg.IPv6 {
		return "" // a /80 per ENI: the pool grows only by giving one to an ENI
	}
	// Ask the policy for the waiting pods alone: the warm targets do not
	// matter here, and its reason then counts pods, not targets.
	in := s.planInputLocked(now)
	in.Targets = warmpool.Targets{WarmIP: 1}
	in.AllowDecrease = false
	plan := warmpool.Compute(in)
	if len(plan.Grow) > 0 || len(plan.NewENIs) > 0 || plan.Shortfall == 0 || len(plan.Reasons) == 0 {
		return ""
	}
	// The policy's last word on a shortfall says which limit it met.
	return plan.Reasons[len(plan.Reasons)-1]
}

// cooledLocked returns a channel closed when the first running cooldown
// ends on the service clock (nothing tells a waiting ADD otherwise), or
// nil when no address cools down. Cancelling ctx stops the timer.
func (s *Service) cooledLocked(ctx context.Context, now time.Time) <-chan struct{} {
	if s.ds.Stats(now).Cooling == 0 {
		return nil
	}
	var end time.Time
	for _, c := range s.ds.Snapshot(now).Cooldowns {
		if e := c.ReleasedAt.Add(s.cfg.Cooldown); end.IsZero() || e.Before(end) {
			end = e
		}
	}
	if end.IsZero() {
		return nil
	}
	ch := make(chan struct{})
	go func() {
		if s.deps.Clock.Sleep(ctx, end.Sub(now)) == nil {
			close(ch)
		}
	}()
	return ch
}

// TryAssign is Assign without waiting: the simulator's entry point, which
// models waiting pods itself on virtual time.
func (s *Service) TryAssign(ctx context.Context, req AssignRequest) (datastore.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.assignLocked(ctx, req)
	if err != nil {
		s.stats.AssignFailures++
	}
	return a, err
}

func (s *Service) assignLocked(ctx context.Context, req AssignRequest) (datastore.Assignment, error) {
	now := s.deps.Clock.Now()
	if existing, ok := s.ds.Lookup(req.Key); ok {
		return existing, nil
	}
	if st := s.ds.Stats(now); s.lim.MaxPods > 0 && st.Assigned >= s.lim.MaxPods {
		return datastore.Assignment{}, fmt.Errorf("assign address to %s: %d pods assigned: %w", req.Pod, st.Assigned, core.ErrMaxPods)
	}
	a, err := s.ds.Assign(req.Key, req.Pod, now)
	if err != nil {
		return a, fmt.Errorf("assign address to %s: %w", req.Pod, err)
	}
	if err := s.saveCheckpointLocked(ctx); err != nil {
		// Not durable: undo, so a restart cannot hand the address out twice.
		if _, uerr := s.ds.Release(req.Key, now); uerr != nil {
			s.log.Error("undo assignment after checkpoint failure", "pod", req.Pod.String(), "error", uerr)
		}
		return datastore.Assignment{}, err
	}
	s.stats.Assigns++
	return a, nil
}

// Release frees the pod's address; it starts its cooldown and is
// checkpointed before Release returns. core.ErrUnknownPod when the key has
// no address (a CNI DEL must treat that as success).
func (s *Service) Release(ctx context.Context, key core.PodKey) (datastore.Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.ds.Release(key, s.deps.Clock.Now())
	if err != nil {
		return a, err
	}
	s.stats.Releases++
	if err := s.saveCheckpointLocked(ctx); err != nil {
		return a, err
	}
	if s.waiting > 0 {
		// Without a cooldown the address is free now: a waiting ADD takes
		// it instead of waiting for the pool to grow.
		s.notifyLocked()
	}
	return a, nil
}

func (s *Service) saveCheckpoint(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveCheckpointLocked(ctx)
}

func (s *Service) saveCheckpointLocked(ctx context.Context) error {
	if s.deps.Checkpoint == nil {
		return nil
	}
	if err := s.deps.Checkpoint.Save(ctx, s.ds.Snapshot(s.deps.Clock.Now())); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}

// Lookup returns the pod's current assignment.
func (s *Service) Lookup(key core.PodKey) (datastore.Assignment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ds.Lookup(key)
}

// Usage returns the pool as the policy sees it now.
func (s *Service) Usage() core.PoolUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ds.Usage(s.deps.Clock.Now())
}

// Stats returns the pool totals now.
func (s *Service) Stats() datastore.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ds.Stats(s.deps.Clock.Now())
}

// ENIs returns the datastore's view of every managed ENI, device order.
func (s *Service) ENIs() []datastore.ENIView {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []datastore.ENIView
	for _, info := range s.ds.ENIs() {
		if v, ok := s.ds.ENI(info.ID); ok {
			out = append(out, v)
		}
	}
	return out
}

// Assignments lists every pod address, sorted by address.
func (s *Service) Assignments() []datastore.Assignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ds.Assignments()
}

// Counters returns the running totals.
func (s *Service) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Limits returns the limits the policy works within.
func (s *Service) Limits() warmpool.Limits { return s.lim }

// Instance returns what Init learned about the instance.
func (s *Service) Instance() core.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.instance
	inst.ENIs = nil
	for _, e := range s.attached {
		inst.ENIs = append(inst.ENIs, e)
	}
	sort.Slice(inst.ENIs, func(i, j int) bool { return inst.ENIs[i].DeviceNumber < inst.ENIs[j].DeviceNumber })
	return inst
}

// VPCCIDRs returns the VPC's IPv4 CIDRs (for SNAT exclusion).
func (s *Service) VPCCIDRs() []netip.Prefix {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.Prefix(nil), s.instance.VPCCIDRs...)
}

// noteCloud keeps throttling back-off state from a cloud call's result.
func (s *Service) noteCloud(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noteCloudLocked(err)
}

func (s *Service) noteCloudLocked(err error) {
	now := s.deps.Clock.Now()
	switch {
	case err == nil:
		// A success inside the back-off window (a describe, say) does not
		// prove the throttling is over.
		if !now.Before(s.throttleTil) {
			s.throttleStep = 0
		}
	case errors.Is(err, core.ErrThrottled):
		s.stats.Throttled++
		if s.throttleStep == 0 {
			s.throttleStep = s.cfg.ThrottleBackoff
		} else {
			s.throttleStep *= 2
		}
		if s.cfg.ThrottleBackoffMax > 0 && s.throttleStep > s.cfg.ThrottleBackoffMax {
			s.throttleStep = s.cfg.ThrottleBackoffMax
		}
		s.throttleTil = now.Add(s.throttleStep)
	case errors.Is(err, core.ErrSubnetFull), errors.Is(err, core.ErrNoFreePrefix):
		s.stats.SubnetFull++
		s.growPausedTil = now.Add(s.cfg.SubnetFullBackoff)
		s.stats.CloudErrors++
	default:
		s.stats.CloudErrors++
	}
}

// ReleaseOrphans releases every allocation older than minAge whose pod is
// gone according to alive (for example: its host veth no longer exists).
// This reclaims addresses whose CNI DEL never reached ipamd (ipamd down or
// restarting when the pod was deleted: the plugin then tears the pod down
// on its own and reports success). Released addresses cool down as usual
// and the checkpoint is saved before it returns. minAge protects pods whose
// ADD is still wiring them (assigned, veth not yet created).
func (s *Service) ReleaseOrphans(ctx context.Context, alive func(core.Allocation) bool, minAge time.Duration) ([]core.Allocation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.deps.Clock.Now()
	var gone []core.Allocation
	for _, a := range s.ds.Assignments() {
		al := a.Allocation()
		if now.Sub(al.AssignedAt) < minAge || alive(al) {
			continue
		}
		if _, err := s.ds.Release(al.Key, now); err != nil {
			continue
		}
		s.stats.Releases++
		gone = append(gone, al)
		s.log.Warn("released the address of a pod that no longer exists (its CNI DEL never reached ipamd)",
			"pod", al.Pod.String(), "ip", al.Addr.String())
	}
	if len(gone) == 0 {
		return nil, nil
	}
	err := s.saveCheckpointLocked(ctx)
	if s.waiting > 0 {
		s.notifyLocked() // as Release
	}
	return gone, err
}
