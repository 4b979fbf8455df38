package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/core/reconcile"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/ports"
)

func portsFilterAttached(id core.InstanceID) ports.ENIFilter {
	return ports.ENIFilter{InstanceID: id}
}

// StepReport tells what one pass did.
type StepReport struct {
	Plan       warmpool.Plan
	Reconciled bool
	// Changed is true when the pass added or removed anything.
	Changed bool
	Errors  []error
}

// Run is the daemon's loop: a pass every LoopInterval, or at once when an
// ADD finds the pool empty. It returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	for {
		if _, err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("pool pass failed", "error", err)
		}
		if err := s.sleepOrWake(ctx, s.cfg.LoopInterval); err != nil {
			return nil
		}
	}
}

// sleepOrWake waits d on the service clock, or less when Wake is called.
func (s *Service) sleepOrWake(ctx context.Context, d time.Duration) error {
	select {
	case <-s.wake:
		return ctx.Err()
	default:
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.wake:
			cancel()
		case <-sctx.Done():
		}
	}()
	_ = s.deps.Clock.Sleep(sctx, d)
	return ctx.Err()
}

// Step runs one observe-plan-act pass: reconcile with EC2 when due, then
// grow or shrink the pool as the warm-pool policy says. It is safe to stop
// between any two of its cloud calls.
func (s *Service) Step(ctx context.Context) (StepReport, error) {
	var rep StepReport
	s.refreshVPCCIDRsIfDue(ctx)
	rep.Errors = append(rep.Errors, s.retryUnwired(ctx)...)
	if s.cfg.IPv6 {
		if !s.growBlocked() {
			if err := s.ensureIPv6(ctx); err != nil {
				rep.Errors = append(rep.Errors, err)
			}
		}
		return rep, errors.Join(rep.Errors...)
	}
	now := s.deps.Clock.Now()
	if !s.cfg.DisableProvisioning && s.cfg.ReconcileInterval > 0 && now.Sub(s.lastReconcile) >= s.cfg.ReconcileInterval {
		if err := s.Reconcile(ctx); err != nil {
			rep.Errors = append(rep.Errors, err)
		}
		rep.Reconciled = true
	}
	if s.cfg.DisableProvisioning {
		if err := s.reconcileFromMetadata(ctx); err != nil {
			rep.Errors = append(rep.Errors, err)
		}
		return rep, errors.Join(rep.Errors...)
	}
	plan := s.plan()
	rep.Plan = plan
	for _, r := range plan.Reasons {
		s.log.Debug("pool plan", "reason", r)
	}
	changed, errs := s.act(ctx, plan)
	rep.Changed = changed
	rep.Errors = append(rep.Errors, errs...)
	return rep, errors.Join(rep.Errors...)
}

// Plan computes what the policy wants now, without acting.
func (s *Service) plan() warmpool.Plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.deps.Clock.Now()
	plan := warmpool.Compute(s.planInputLocked(now))
	s.keepUnwiredLocked(&plan)
	growPaused := now.Before(s.growPausedTil)
	throttled := now.Before(s.throttleTil)
	if growPaused || throttled {
		if len(plan.Grow) > 0 || len(plan.NewENIs) > 0 {
			why := "the subnet was reported full"
			if throttled {
				why = "EC2 throttled us"
			}
			plan.Reasons = append(plan.Reasons, fmt.Sprintf("growth postponed: %s", why))
		}
		plan.Grow, plan.NewENIs = nil, nil
	}
	if throttled {
		plan.Release, plan.DeleteENIs = nil, nil
	}
	return plan
}

// planInputLocked is what the policy looks at now.
func (s *Service) planInputLocked(now time.Time) warmpool.Input {
	usage := s.ds.Usage(now)
	s.unwiredViewLocked(usage.ENIs, now)
	// ENIs attached but not in the datastore (unmanaged, other cards)
	// still take attachment slots.
	known := map[core.ENIID]bool{}
	for _, u := range usage.ENIs {
		known[u.ID] = true
	}
	var extra []core.ENIUsage
	for id, e := range s.attached {
		if !known[id] && e.NetworkCard == 0 {
			extra = append(extra, core.ENIUsage{ID: id, DeviceNumber: e.DeviceNumber, NoManage: true, Trunk: e.Trunk, EFA: e.EFA})
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].DeviceNumber < extra[j].DeviceNumber })
	usage.ENIs = append(usage.ENIs, extra...)
	return warmpool.Input{
		Now:           now,
		Targets:       s.cfg.Targets,
		Limits:        s.lim,
		PrefixMode:    s.cfg.PrefixDelegation,
		Pool:          usage,
		Pending:       s.waiting + s.externalDemand,
		MinENIAge:     s.cfg.MinENIAge,
		AllowDecrease: s.lastDecrease.IsZero() || now.Sub(s.lastDecrease) >= s.cfg.DecreaseInterval,
		AllowNewENI:   true,
		SkipPrimary:   s.cfg.SkipPrimaryENI,
	}
}

// act carries out a plan. Growth first (pods may be waiting), then shrink.
func (s *Service) act(ctx context.Context, plan warmpool.Plan) (bool, []error) {
	var errs []error
	changed := false
	for _, g := range plan.Grow {
		if err := s.grow(ctx, g); err != nil {
			errs = append(errs, err)
			if stopGrowing(err) {
				break
			}
			continue
		}
		changed = true
	}
	for _, n := range plan.NewENIs {
		if s.growBlocked() {
			break
		}
		if err := s.createENI(ctx, n); err != nil {
			errs = append(errs, err)
			if stopGrowing(err) || errors.Is(err, core.ErrAttachmentLimit) {
				break
			}
			continue
		}
		changed = true
	}
	shrunk := false
	for _, r := range plan.Release {
		ok, err := s.release(ctx, r)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, core.ErrThrottled) {
				break
			}
		}
		shrunk = shrunk || ok
	}
	for _, id := range plan.DeleteENIs {
		ok, err := s.deleteENI(ctx, id)
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, core.ErrThrottled) {
				break
			}
		}
		shrunk = shrunk || ok
	}
	if shrunk {
		s.mu.Lock()
		s.lastDecrease = s.deps.Clock.Now()
		s.mu.Unlock()
	}
	return changed || shrunk, errs
}

func stopGrowing(err error) bool {
	return errors.Is(err, core.ErrThrottled) || errors.Is(err, core.ErrSubnetFull) ||
		errors.Is(err, core.ErrNoFreePrefix) || errors.Is(err, core.ErrUnauthorized)
}

// throttled reports whether EC2 calls are paused after throttling.
func (s *Service) throttled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deps.Clock.Now().Before(s.throttleTil)
}

func (s *Service) growBlocked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.deps.Clock.Now()
	return now.Before(s.growPausedTil) || now.Before(s.throttleTil)
}

// grow adds addresses or prefixes to an attached ENI.
func (s *Service) grow(ctx context.Context, g warmpool.Grow) error {
	res, err := s.deps.Cloud.AssignIPv4(ctx, g.ENI, g.IPs, g.Prefixes)
	s.noteCloud(err)
	if err != nil {
		if errors.Is(err, core.ErrAddressLimit) {
			// Our view of the ENI is stale: take what EC2 says it has.
			s.refreshENI(ctx, g.ENI)
		}
		return fmt.Errorf("assign %d addresses and %d prefixes to %s: %w", g.IPs, g.Prefixes, g.ENI, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addBlocksLocked(g.ENI, res)
	return nil
}

func (s *Service) addBlocksLocked(id core.ENIID, res ports.Assigned) {
	now := s.deps.Clock.Now()
	if len(res.IPs) > 0 {
		if n, err := s.ds.AddIPs(id, res.IPs); err != nil {
			s.log.Error("add addresses to datastore", "eni", string(id), "error", err)
		} else {
			s.stats.IPsAdded += n
		}
	}
	if len(res.Prefixes) > 0 {
		if n, err := s.ds.AddPrefixes(id, res.Prefixes); err != nil {
			s.log.Error("add prefixes to datastore", "eni", string(id), "error", err)
		} else {
			s.stats.PrefixesAdded += n
		}
	}
	for _, a := range res.IPs {
		s.recent = append(s.recent, reconcile.Recent{ENI: id, Block: netip.PrefixFrom(a, 32), At: now, Added: true})
	}
	for _, p := range res.Prefixes {
		s.recent = append(s.recent, reconcile.Recent{ENI: id, Block: p, At: now, Added: true})
	}
	s.notifyLocked()
}

// refreshENI re-reads one ENI from EC2 and adds addresses we did not know.
func (s *Service) refreshENI(ctx context.Context, id core.ENIID) {
	enis, err := s.deps.Cloud.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{id}})
	s.noteCloud(err)
	if err != nil || len(enis) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addBlocksLocked(id, ports.Assigned{IPs: enis[0].SecondaryIPs, Prefixes: enis[0].IPv4Prefixes})
}

// createENI creates, attaches and fills a new ENI. Each step leaves the
// cloud in a state the next pass or leak cleanup can finish.
func (s *Service) createENI(ctx context.Context, n warmpool.NewENI) error {
	s.mu.Lock()
	s.creating++
	defer func() {
		s.mu.Lock()
		s.creating--
		s.mu.Unlock()
	}()
	device, ok := s.freeDeviceLocked()
	subnet, sgs := s.cfg.ENISubnet, s.cfg.ENISecurityGroups
	if subnet == "" {
		subnet = s.instance.SubnetID
	}
	if len(sgs) == 0 {
		sgs = s.instance.SecurityGroups
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("create ENI: no free device index: %w", core.ErrAttachmentLimit)
	}
	req := ports.CreateENIRequest{
		SubnetID:       subnet,
		SecurityGroups: sgs,
		Description:    core.ENIDescriptionPrefix + string(s.instance.ID),
		Tags:           s.tags(true),
		SecondaryIPs:   n.IPs,
		IPv4Prefixes:   n.Prefixes,
	}
	eni, err := s.deps.Cloud.CreateENI(ctx, req)
	s.noteCloud(err)
	if err != nil {
		return fmt.Errorf("create ENI in %s with %d addresses and %d prefixes: %w", subnet, n.IPs, n.Prefixes, err)
	}
	attachID, err := s.deps.Cloud.AttachENI(ctx, eni.ID, s.instance.ID, device, 0)
	s.noteCloud(err)
	if err != nil {
		// Do not leak it: delete now. If that fails too, leak cleanup will.
		derr := s.deps.Cloud.DeleteENI(ctx, eni.ID)
		s.noteCloud(derr)
		if derr != nil {
			s.log.Warn("delete ENI after failed attach", "eni", string(eni.ID), "error", derr)
		}
		return fmt.Errorf("attach ENI %s at device %d: %w", eni.ID, device, err)
	}
	eni.AttachmentID, eni.DeviceNumber, eni.InstanceID, eni.Status = attachID, device, s.instance.ID, "in-use"
	err = s.deps.Cloud.SetDeleteOnTermination(ctx, eni.ID, attachID)
	s.noteCloud(err)
	if err != nil {
		s.log.Warn("set delete-on-termination", "eni", string(eni.ID), "error", err)
	}
	s.mu.Lock()
	s.stats.ENIsCreated++
	s.attached[eni.ID] = eni
	s.mu.Unlock()
	var setupErr error
	if s.deps.OnENIReady != nil {
		setupErr = s.deps.OnENIReady(eni)
	}
	s.mu.Lock()
	now := s.deps.Clock.Now()
	if setupErr != nil {
		// Its link may just be slow to appear. It joins the pool with its
		// addresses kept from pods, so the next passes count it and retry
		// the setup instead of attaching yet another ENI.
		s.markUnwiredLocked(eni.ID, now)
	}
	s.adoptLocked(eni, now)
	for _, a := range eni.SecondaryIPs {
		s.recent = append(s.recent, reconcile.Recent{ENI: eni.ID, Block: netip.PrefixFrom(a, 32), At: now, Added: true})
	}
	s.stats.IPsAdded += len(eni.SecondaryIPs)
	s.stats.PrefixesAdded += len(eni.IPv4Prefixes)
	s.mu.Unlock()
	s.log.Info("ENI attached", "eni", string(eni.ID), "device", device, "ips", len(eni.SecondaryIPs), "prefixes", len(eni.IPv4Prefixes))
	if setupErr != nil {
		return fmt.Errorf("set up datapath for ENI %s (MAC %s; the next passes retry): %w", eni.ID, eni.MAC, setupErr)
	}
	return nil
}

// freeDeviceLocked returns the lowest device index not in use on card 0.
func (s *Service) freeDeviceLocked() (int, bool) {
	used := map[int]bool{}
	for _, e := range s.attached {
		if e.NetworkCard == 0 {
			used[e.DeviceNumber] = true
		}
	}
	for d := 1; d < 100; d++ {
		if !used[d] {
			return d, true
		}
	}
	return 0, false
}

// release takes free blocks out of the pool and hands them back to EC2.
func (s *Service) release(ctx context.Context, r warmpool.Release) (bool, error) {
	s.mu.Lock()
	blocks := s.ds.TakeFreeBlocks(r.ENI, r.Kind, r.Blocks, s.deps.Clock.Now())
	s.mu.Unlock()
	if len(blocks) == 0 {
		return false, nil
	}
	var ips []netip.Addr
	var prefixes []netip.Prefix
	for _, b := range blocks {
		if b.Bits() == 32 {
			ips = append(ips, b.Addr())
		} else {
			prefixes = append(prefixes, b)
		}
	}
	err := s.deps.Cloud.UnassignIPv4(ctx, r.ENI, ips, prefixes)
	s.noteCloud(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrInvalidParameter) {
			// Still ours in EC2: put the blocks back in the pool.
			s.addBlocksLocked(r.ENI, ports.Assigned{IPs: ips, Prefixes: prefixes})
		}
		return false, fmt.Errorf("unassign %d addresses and %d prefixes from %s: %w", len(ips), len(prefixes), r.ENI, err)
	}
	now := s.deps.Clock.Now()
	for _, b := range blocks {
		s.recent = append(s.recent, reconcile.Recent{ENI: r.ENI, Block: b, At: now})
	}
	s.stats.IPsReleased += len(ips)
	s.stats.PrefixesRelease += len(prefixes)
	return true, nil
}

// deleteENI detaches and deletes an ENI with no pods.
func (s *Service) deleteENI(ctx context.Context, id core.ENIID) (bool, error) {
	s.mu.Lock()
	// What the pool holds now, not what the ENI carried when it was
	// adopted: grow and release have changed it since.
	view, _ := s.ds.ENI(id)
	if _, err := s.ds.RemoveENI(id, false); err != nil {
		s.mu.Unlock()
		return false, fmt.Errorf("remove ENI %s from pool: %w", id, err)
	}
	eni := s.attached[id]
	eni.SecondaryIPs, eni.IPv4Prefixes, eni.IPv6Prefixes = view.IPs, view.Prefixes, view.IPv6Prefixes
	s.deleting++
	detached := false
	defer func() {
		if !detached {
			s.mu.Lock()
			s.deleting--
			s.mu.Unlock()
		}
	}()
	s.mu.Unlock()
	if eni.AttachmentID == "" {
		enis, err := s.deps.Cloud.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{id}})
		s.noteCloud(err)
		if err == nil && len(enis) == 1 {
			eni.AttachmentID = enis[0].AttachmentID
		}
	}
	if eni.AttachmentID != "" {
		err := s.deps.Cloud.DetachENI(ctx, eni.AttachmentID, false)
		s.noteCloud(err)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			// Still attached: take it back into the pool.
			s.mu.Lock()
			s.adoptLocked(eni, s.deps.Clock.Now())
			s.mu.Unlock()
			return false, fmt.Errorf("detach ENI %s: %w", id, err)
		}
	}
	s.mu.Lock()
	delete(s.attached, id)
	delete(s.unwired, id)
	s.deleting--
	detached = true
	s.stats.ENIsDeleted++
	s.mu.Unlock()
	// Detaching takes a moment in EC2; retry the delete a few times. If it
	// still fails, the ENI is detached and tagged as ours: leak cleanup
	// deletes it later.
	var err error
	for attempt, wait := 0, 500*time.Millisecond; attempt < 5; attempt, wait = attempt+1, wait*2 {
		err = s.deps.Cloud.DeleteENI(ctx, id)
		s.noteCloud(err)
		if err == nil || errors.Is(err, core.ErrNotFound) {
			return true, nil
		}
		if !errors.Is(err, core.ErrInvalidState) && !errors.Is(err, core.ErrThrottled) {
			break
		}
		if serr := s.deps.Clock.Sleep(ctx, wait); serr != nil {
			break
		}
	}
	return true, fmt.Errorf("delete detached ENI %s (leak cleanup will retry): %w", id, err)
}

// Reconcile compares the datastore with the cloud and repairs the
// difference. It reads instance metadata first (free, no EC2 call) and asks
// EC2 only when the two disagree in a way metadata alone cannot settle: a
// new ENI (whose tags only EC2 knows) or something gone missing (metadata
// lags, so nothing is ever destroyed on its word alone). It adopts ENIs and
// addresses added out of band, drops unassigned ones removed out of band,
// and, on its own slower timer, deletes ENIs of ours left detached.
func (s *Service) Reconcile(ctx context.Context) error {
	now := s.deps.Clock.Now()
	s.mu.Lock()
	s.lastReconcile = now
	s.stats.Reconciles++
	s.mu.Unlock()
	var errs []error
	askEC2 := true
	if enis, err := s.deps.Metadata.Interfaces(ctx); err != nil {
		errs = append(errs, fmt.Errorf("reconcile: read interfaces from metadata: %w", err))
	} else {
		plan, perrs := s.applyReconcile(ctx, enis, reconcile.FromIMDS)
		errs = append(errs, perrs...)
		askEC2 = plan.NeedsEC2Confirmation
	}
	if askEC2 && s.throttled() {
		// Back-off: leave the EC2 look to a later pass.
		askEC2 = false
		s.mu.Lock()
		s.lastReconcile = time.Time{}
		s.mu.Unlock()
	}
	if askEC2 {
		s.mu.Lock()
		s.stats.EC2Reconciles++
		s.mu.Unlock()
		inst, err := s.describeInstance(ctx, s.instance.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: describe instance: %w", err))
		} else {
			_, perrs := s.applyReconcile(ctx, inst.ENIs, reconcile.FromEC2)
			errs = append(errs, perrs...)
			if len(inst.VPCCIDRs) > 0 {
				// An empty answer (DescribeVpcs denied, say) must not wipe
				// the CIDRs SNAT exclusion depends on.
				s.mu.Lock()
				s.setVPCCIDRsLocked(inst.VPCCIDRs, "EC2")
				s.mu.Unlock()
			}
		}
	}
	if !s.cfg.DisableLeakedENICleanup && !s.throttled() && (s.lastLeakCheck.IsZero() || now.Sub(s.lastLeakCheck) >= s.cfg.LeakedENICleanupInterval) {
		s.lastLeakCheck = now
		if err := s.cleanLeaked(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) reconcileFromMetadata(ctx context.Context) error {
	enis, err := s.deps.Metadata.Interfaces(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: read interfaces from metadata: %w", err)
	}
	_, errs := s.applyReconcile(ctx, enis, reconcile.FromIMDS)
	s.mu.Lock()
	s.metaPasses++
	if s.waiting > 0 {
		s.notifyLocked() // a waiting ADD looks again, and may give up
	}
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *Service) applyReconcile(ctx context.Context, observed []core.ENI, src reconcile.Source) (reconcile.Plan, []error) {
	s.mu.Lock()
	if src == reconcile.FromIMDS {
		// Metadata has no tags, so an ENI EC2 already showed to be someone
		// else's (no_manage, another instance's) would look new on every
		// pass and cost an EC2 look each time: leave those out.
		kept := observed[:0:0]
		for _, e := range observed {
			if !s.unmanaged[e.ID] {
				kept = append(kept, e)
			}
		}
		observed = kept
	}
	now := s.deps.Clock.Now()
	window := s.cfg.ReconcileInterval
	if window <= 0 {
		window = time.Minute
	}
	// Forget recent changes older than the window.
	kept := s.recent[:0]
	for _, r := range s.recent {
		if now.Sub(r.At) < window {
			kept = append(kept, r)
		}
	}
	s.recent = kept
	in := reconcile.Input{
		Now:            now,
		InstanceID:     s.instance.ID,
		Source:         src,
		Observed:       observed,
		Known:          s.knownLocked(),
		Recent:         append([]reconcile.Recent(nil), s.recent...),
		RecentWindow:   window,
		ManageUntagged: s.cfg.ManageUntaggedENIs,
	}
	plan := reconcile.Compute(in)
	s.mu.Unlock()

	// An ENI found attached gets its datapath (link, route table, rule)
	// before pods can get its addresses, as a new ENI does; if that fails
	// it joins the pool unwired, like a new ENI: counted as capacity,
	// its addresses kept from pods, its setup retried (enisetup.go).
	var errs []error
	unwired := map[core.ENIID]bool{}
	for _, e := range plan.AdoptENIs {
		primary := e.Primary || (e.DeviceNumber == 0 && e.NetworkCard == 0)
		if s.deps.OnENIReady != nil && !primary && !e.Trunk && s.managed(e) {
			if err := s.deps.OnENIReady(e); err != nil {
				errs = append(errs, fmt.Errorf("set up datapath for ENI %s (MAC %s) found attached (the next passes retry): %w", e.ID, e.MAC, err))
				unwired[e.ID] = true
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now = s.deps.Clock.Now()
	for _, e := range plan.AdoptENIs {
		s.log.Info("adopting ENI found attached", "eni", string(e.ID), "device", e.DeviceNumber)
		if unwired[e.ID] {
			s.markUnwiredLocked(e.ID, now)
		}
		s.adoptLocked(e, now)
	}
	if src == reconcile.FromEC2 {
		// Only EC2 carries tags: classify what it reports.
		for _, e := range observed {
			if _, ok := s.attached[e.ID]; !ok {
				s.attached[e.ID] = e
			}
			if s.managed(e) {
				delete(s.unmanaged, e.ID)
			} else {
				s.unmanaged[e.ID] = true
			}
		}
	}
	for _, b := range plan.AddBlocks {
		if b.Block.Bits() == 32 {
			_, _ = s.ds.AddIPs(b.ENI, []netip.Addr{b.Block.Addr()})
		} else {
			_, _ = s.ds.AddPrefixes(b.ENI, []netip.Prefix{b.Block})
		}
		s.notifyLocked()
	}
	for _, b := range plan.DropBlocks {
		if _, err := s.ds.RemoveBlock(b.ENI, b.Block, false); err != nil {
			errs = append(errs, fmt.Errorf("drop %s from %s: %w", b.Block, b.ENI, err))
		}
	}
	for _, id := range plan.ExcludeENIs {
		// No longer ours: excluded for good, not until its datapath is up.
		delete(s.unwired, id)
		if err := s.ds.SetExcluded(id, true); err != nil && !errors.Is(err, core.ErrUnknownENI) {
			errs = append(errs, fmt.Errorf("exclude ENI %s: %w", id, err))
		}
	}
	for _, id := range plan.ForgetENIs {
		if _, err := s.ds.RemoveENI(id, false); err != nil && !errors.Is(err, core.ErrUnknownENI) {
			errs = append(errs, fmt.Errorf("forget ENI %s: %w", id, err))
		}
		delete(s.attached, id)
		delete(s.unwired, id)
	}
	if src == reconcile.FromEC2 {
		for _, id := range plan.LostENIs {
			dropped, err := s.ds.RemoveENI(id, true)
			if err != nil && !errors.Is(err, core.ErrUnknownENI) {
				errs = append(errs, fmt.Errorf("force-remove lost ENI %s: %w", id, err))
			}
			// The plan saw pods on it, but the lock was let go since: count
			// only what really left with the ENI.
			if err == nil && len(dropped) > 0 {
				s.stats.ForceRemovedENIs++
				s.stats.ForceRemovedIPs += len(dropped)
			}
			for _, d := range dropped {
				s.log.Warn("pod lost its address: ENI is no longer attached", "eni", string(id), "pod", d.Pod.String(), "ip", d.Addr.String())
			}
			delete(s.attached, id)
			delete(s.unwired, id)
		}
	}
	if len(plan.TagENIs) > 0 {
		tags := s.tags(false)
		s.mu.Unlock()
		for _, id := range plan.TagENIs {
			if s.attached[id].Primary {
				continue // the primary ENI is never ours to clean up: no tag needed
			}
			err := s.deps.Cloud.CreateTags(ctx, string(id), tags)
			s.noteCloud(err)
			if err != nil {
				errs = append(errs, fmt.Errorf("tag ENI %s: %w", id, err))
			}
		}
		s.mu.Lock()
	}
	for _, r := range plan.Reasons {
		s.log.Debug("reconcile", "source", src.String(), "reason", r)
	}
	return plan, errs
}

func (s *Service) knownLocked() []reconcile.KnownENI {
	var out []reconcile.KnownENI
	assigned := map[core.ENIID][]netip.Addr{}
	for _, a := range s.ds.Assignments() {
		assigned[a.ENI] = append(assigned[a.ENI], a.Addr)
	}
	for _, info := range s.ds.ENIs() {
		v, ok := s.ds.ENI(info.ID)
		if !ok {
			continue
		}
		out = append(out, reconcile.KnownENI{ID: info.ID, DeviceNumber: info.DeviceNumber, NetworkCard: info.NetworkCard,
			Primary: info.Primary, Trunk: info.Trunk, IPs: v.IPs, Prefixes: v.Prefixes,
			IPv6Prefixes: v.IPv6Prefixes, Assigned: assigned[info.ID]})
	}
	return out
}

// cleanLeaked deletes ENIs this instance created that were left detached
// (a crash between create and attach, or a failed delete).
func (s *Service) cleanLeaked(ctx context.Context) error {
	enis, err := s.deps.Cloud.DescribeENIs(ctx, ports.ENIFilter{
		Status: "available",
		Tags:   map[string]string{core.TagInstanceID: string(s.instance.ID)},
	})
	s.noteCloud(err)
	if err != nil {
		return fmt.Errorf("list detached ENIs: %w", err)
	}
	var errs []error
	for _, id := range reconcile.Leaked(enis, s.instance.ID, s.deps.Clock.Now(), s.cfg.LeakedENIMinAge) {
		err := s.deps.Cloud.DeleteENI(ctx, id)
		s.noteCloud(err)
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			errs = append(errs, fmt.Errorf("delete leaked ENI %s: %w", id, err))
			continue
		}
		s.mu.Lock()
		s.stats.LeakedDeleted++
		s.mu.Unlock()
		s.log.Info("deleted leaked ENI", "eni", string(id))
	}
	return errors.Join(errs...)
}

// ensureIPv6 gives every managed ENI one /80 prefix (IPv6 mode has no warm
// pool: a /80 is more than a node can use).
func (s *Service) ensureIPv6(ctx context.Context) error {
	if s.cfg.DisableProvisioning {
		return nil
	}
	var need []core.ENIID
	s.mu.Lock()
	for _, info := range s.ds.ENIs() {
		if v, ok := s.ds.ENI(info.ID); ok && len(v.IPv6Prefixes) == 0 && !info.Trunk {
			need = append(need, info.ID)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, id := range need {
		ps, err := s.deps.Cloud.AssignIPv6Prefixes(ctx, id, 1)
		s.noteCloud(err)
		if err != nil {
			errs = append(errs, fmt.Errorf("assign IPv6 prefix to %s: %w", id, err))
			continue
		}
		s.mu.Lock()
		if _, err := s.ds.AddIPv6Prefixes(id, ps); err != nil {
			errs = append(errs, err)
		}
		s.notifyLocked()
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Compile-time check that the datastore view type exists as used here.
var _ = datastore.ENIView{}
