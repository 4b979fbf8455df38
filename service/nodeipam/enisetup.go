package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
)

// An ENI is "unwired" while its host datapath is not set up: its link was
// not found (hot-attached a moment ago, or moved into a pod's namespace by
// another plugin) or programming its table failed. It stays in the pool,
// excluded in the datastore so no pod gets one of its addresses, until a
// setup succeeds: the datapath's repair pass reports every outcome through
// DatapathFailed and DatapathReady, and Step retries the setup itself
// while the ENI is within Config.ENISetupWindow.

// DatapathFailed records that the host datapath of a managed ENI could not
// be set up: none of its addresses go to new pods until DatapathReady. Pods
// that already hold one keep it. An ENI not in the pool, or excluded for
// another reason (a reconcile found it no longer ours), is ignored.
func (s *Service) DatapathFailed(id core.ENIID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.unwired[id]; ok {
		// Already unwired: record the failure anyway, so that a setup of
		// this ENI running now (retryUnwired) does not offer its
		// addresses on the strength of an older success.
		s.unwiredSeq++
		u.gen = s.unwiredSeq
		s.unwired[id] = u
		return
	}
	v, ok := s.ds.ENI(id)
	if !ok || v.Excluded {
		return
	}
	s.markUnwiredLocked(id, s.deps.Clock.Now())
}

// DatapathReady records that the host datapath of an ENI is set up: its
// addresses may go to pods again.
func (s *Service) DatapathReady(id core.ENIID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.unwired[id]; ok {
		s.wiredLocked(id, u)
	}
}

// datapathReadyIf is DatapathReady for a setup that started when the ENI's
// latest failure had generation gen: when a failure was reported since,
// that is the newer outcome and the ENI stays unwired. It reports whether
// the ENI's addresses are offered again.
func (s *Service) datapathReadyIf(id core.ENIID, gen uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.unwired[id]
	if !ok || u.gen != gen {
		return false
	}
	s.wiredLocked(id, u)
	return true
}

// wiredLocked offers the addresses of an unwired ENI to pods again.
func (s *Service) wiredLocked(id core.ENIID, u unwiredENI) {
	delete(s.unwired, id)
	if err := s.ds.SetExcluded(id, false); err != nil && !errors.Is(err, core.ErrUnknownENI) {
		s.log.Error("offer addresses of ENI again", "eni", string(id), "error", err)
	}
	s.notifyLocked()
	s.log.Info("ENI datapath set up; its addresses are offered to pods", "eni", string(id),
		"after", s.deps.Clock.Now().Sub(u.since).String())
}

// DatapathPending lists the pool's ENIs whose datapath is not set up, in
// ID order.
func (s *Service) DatapathPending() []core.ENIID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]core.ENIID, 0, len(s.unwired))
	for id := range s.unwired {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// unwiredENI is what the service knows of an unwired ENI.
type unwiredENI struct {
	// since is when its setup was first seen failing.
	since time.Time
	// gen identifies the latest failure reported for it, from a counter
	// of the whole service, so a setup that succeeds can tell whether a
	// failure came in while it ran.
	gen uint64
}

// markUnwiredLocked keeps the ENI's addresses from pods. An ENI not yet in
// the datastore is excluded when adoptLocked adds it.
func (s *Service) markUnwiredLocked(id core.ENIID, now time.Time) {
	s.unwiredSeq++
	s.unwired[id] = unwiredENI{since: now, gen: s.unwiredSeq}
	if err := s.ds.SetExcluded(id, true); err != nil && !errors.Is(err, core.ErrUnknownENI) {
		s.log.Error("keep addresses of ENI from pods", "eni", string(id), "error", err)
	}
	s.log.Warn("ENI datapath not set up; its addresses are kept from pods until a setup succeeds", "eni", string(id))
}

// settingUpLocked reports whether an ENI unwired since then still counts
// as capacity being set up.
func (s *Service) settingUpLocked(since, now time.Time) bool {
	return now.Sub(since) < s.cfg.ENISetupWindow
}

// retryUnwired sets up again the datapath of unwired ENIs within the setup
// window. The datapath's repair pass retries the others.
func (s *Service) retryUnwired(ctx context.Context) []error {
	if s.deps.OnENIReady == nil {
		return nil
	}
	type setup struct {
		eni core.ENI
		gen uint64 // the ENI's failure generation before this setup
	}
	s.mu.Lock()
	now := s.deps.Clock.Now()
	var due []setup
	for id, u := range s.unwired {
		if _, ok := s.ds.ENI(id); !ok {
			delete(s.unwired, id) // left the pool meanwhile
			continue
		}
		if e, ok := s.attached[id]; ok && s.settingUpLocked(u.since, now) {
			due = append(due, setup{eni: e, gen: u.gen})
		}
	}
	s.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].eni.DeviceNumber < due[j].eni.DeviceNumber })
	var errs []error
	for _, d := range due {
		if ctx.Err() != nil {
			break
		}
		e := d.eni
		if err := s.deps.OnENIReady(e); err != nil {
			errs = append(errs, fmt.Errorf("set up datapath for ENI %s (MAC %s) again: %w", e.ID, e.MAC, err))
			continue
		}
		// The datapath's repair pass may have reported a failure while
		// the lock was let go: that outcome is newer, keep the ENI unwired.
		if !s.datapathReadyIf(e.ID, d.gen) {
			s.log.Debug("ENI datapath set up, but it is no longer unwired or a failure was reported meanwhile; the next pass looks again", "eni", string(e.ID))
		}
	}
	return errs
}

// unwiredViewLocked shows the policy an unwired ENI as what it is to the
// pool: within the setup window, capacity about to come (usable, so its
// addresses are not asked for again on another ENI); after it, an ENI
// that takes an attachment slot and nothing else.
func (s *Service) unwiredViewLocked(usage []core.ENIUsage, now time.Time) {
	for i := range usage {
		u, ok := s.unwired[usage[i].ID]
		if !ok {
			continue
		}
		usage[i].Excluded = false
		if !s.settingUpLocked(u.since, now) {
			usage[i].NoManage = true
		}
	}
}

// keepUnwiredLocked drops from the plan releases and deletions of unwired
// ENIs: an ENI whose link ipamd cannot see may be in use outside it.
func (s *Service) keepUnwiredLocked(plan *warmpool.Plan) {
	if len(s.unwired) == 0 {
		return
	}
	rel := plan.Release[:0]
	for _, r := range plan.Release {
		if _, ok := s.unwired[r.ENI]; ok {
			plan.Reasons = append(plan.Reasons, fmt.Sprintf("%s keeps its blocks: its datapath is not set up", r.ENI))
			continue
		}
		rel = append(rel, r)
	}
	plan.Release = rel
	del := plan.DeleteENIs[:0]
	for _, id := range plan.DeleteENIs {
		if _, ok := s.unwired[id]; ok {
			plan.Reasons = append(plan.Reasons, fmt.Sprintf("%s is not deleted: its datapath is not set up", id))
			continue
		}
		del = append(del, id)
	}
	plan.DeleteENIs = del
}
