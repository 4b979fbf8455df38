package nodeipam

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

// EC2 and instance metadata describe the same VPC in their own ways (an
// IPv6 block among the IPv4 ones, host bits, another order): that is no
// change, so the host state is not re-applied and the log stays quiet.
func TestVPCCIDRsFromTwoSourcesAgree(t *testing.T) {
	p := netip.MustParsePrefix
	s := &Service{log: slog.New(slog.DiscardHandler), vpcChanged: make(chan struct{}),
		instance: core.Instance{VPCCIDRs: []netip.Prefix{p("10.0.0.0/16"), p("100.64.0.0/16")}}}
	changed := s.vpcChanged
	if s.setVPCCIDRsLocked([]netip.Prefix{p("100.64.1.0/16"), p("2600:1f14::/56"), p("10.0.0.0/16")}, "EC2") {
		t.Errorf("the same VPC, described otherwise, counted as a change: now %v", s.instance.VPCCIDRs)
	}
	if s.setVPCCIDRsLocked([]netip.Prefix{p("2600:1f14::/56")}, "EC2") || len(s.instance.VPCCIDRs) != 2 {
		t.Errorf("a list without IPv4 blocks replaced the known one: %v", s.instance.VPCCIDRs)
	}
	select {
	case <-changed:
		t.Error("VPCCIDRsChanged fired without a change")
	default:
	}
	if !s.setVPCCIDRsLocked([]netip.Prefix{p("10.0.0.0/16")}, "instance metadata") {
		t.Error("a disassociated block went unnoticed")
	}
	select {
	case <-changed:
	default:
		t.Error("VPCCIDRsChanged did not fire on a change")
	}
}
