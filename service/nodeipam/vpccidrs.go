package nodeipam

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// vpcCIDRReader is what the instance metadata client offers besides
// ports.Metadata: the VPC's IPv4 CIDRs alone, without the whole identity.
type vpcCIDRReader interface {
	VPCCIDRs(ctx context.Context) ([]netip.Prefix, error)
}

func (s *Service) readVPCCIDRs(ctx context.Context) ([]netip.Prefix, error) {
	if r, ok := s.deps.Metadata.(vpcCIDRReader); ok {
		return r.VPCCIDRs(ctx)
	}
	id, err := s.deps.Metadata.Identity(ctx)
	return id.VPCCIDRs, err
}

// RefreshVPCCIDRs reads the VPC's IPv4 CIDRs from instance metadata again
// and reports whether they changed. A block associated with the VPC after
// start must be excluded from SNAT and reach the plugin too. A failed or
// empty read keeps the list as it was.
func (s *Service) RefreshVPCCIDRs(ctx context.Context) (bool, error) {
	s.mu.Lock()
	s.lastVPCCheck = s.deps.Clock.Now()
	s.mu.Unlock()
	read, err := s.readVPCCIDRs(ctx)
	if err != nil {
		return false, fmt.Errorf("read VPC CIDRs from instance metadata: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setVPCCIDRsLocked(read, "instance metadata"), nil
}

// refreshVPCCIDRsIfDue is RefreshVPCCIDRs every Config.VPCCIDRInterval.
func (s *Service) refreshVPCCIDRsIfDue(ctx context.Context) {
	s.mu.Lock()
	due := s.cfg.VPCCIDRInterval > 0 && s.deps.Clock.Now().Sub(s.lastVPCCheck) >= s.cfg.VPCCIDRInterval
	s.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.RefreshVPCCIDRs(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("VPC CIDRs not refreshed; keeping the known ones", "error", err)
	}
}

// setVPCCIDRsLocked takes a new list of VPC CIDRs, from whichever source:
// their IPv4 blocks, masked, so that two sources describing the same VPC
// never look like a change. It reports whether the list differs from the
// known one (order aside) and, if so, wakes whoever waits on
// VPCCIDRsChanged. A list without IPv4 blocks changes nothing.
func (s *Service) setVPCCIDRsLocked(read []netip.Prefix, source string) bool {
	var cidrs []netip.Prefix
	for _, p := range read {
		if p.IsValid() && p.Addr().Is4() {
			cidrs = append(cidrs, p.Masked())
		}
	}
	if len(cidrs) == 0 || samePrefixes(s.instance.VPCCIDRs, cidrs) {
		return false
	}
	old := s.instance.VPCCIDRs
	s.instance.VPCCIDRs = slices.Clone(cidrs)
	s.log.Info("VPC CIDRs changed", "source", source, "old", old, "new", s.instance.VPCCIDRs)
	close(s.vpcChanged)
	s.vpcChanged = make(chan struct{})
	return true
}

// VPCCIDRsChanged returns a channel closed at the next change of the VPC
// CIDRs.
func (s *Service) VPCCIDRsChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vpcChanged
}

func samePrefixes(a, b []netip.Prefix) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Prefix.Compare)
	slices.SortFunc(b, netip.Prefix.Compare)
	return slices.Equal(a, b)
}
