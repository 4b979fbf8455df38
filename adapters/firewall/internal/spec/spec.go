package spec

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Defaults applied to empty fields of a ports.FirewallConfig.
const (
	DefaultInterface  = "eth0"
	DefaultVethPrefix = "eni"
	DefaultMark       = uint32(0x80)
	// VLANPrefix is the host-side prefix of branch-ENI (security groups for
	// pods) interfaces. Their traffic is never SNATed and their replies
	// restore the connmark like pod veths do.
	VLANPrefix = "vlan"
	// maxIfName is IFNAMSIZ-1.
	maxIfName = 15
)

// Spec is the normalised firewall intent.
type Spec struct {
	// SNAT: the node SNATs pod traffic leaving the VPC and marks those
	// connections (upstream: AWS_VPC_K8S_CNI_EXTERNALSNAT=false).
	SNAT      bool
	PrimaryIP netip.Addr
	// PrimaryInterface is the link of the primary ENI ("eth0").
	PrimaryInterface string
	// VPC and Exclude are the IPv4 destinations that are neither SNATed
	// nor connmarked, masked, sorted and deduplicated. An Exclude entry
	// equal to a VPC entry is dropped from Exclude.
	VPC     []netip.Prefix
	Exclude []netip.Prefix
	Random  ports.SNATMode
	// VethPrefix is the pod host-veth prefix ("eni").
	VethPrefix string
	Mark       uint32
	// NodePort: mark connections entering the primary interface for a local
	// address and restore that mark on replies from pods and branch ENIs.
	NodePort bool
}

// RestorePodMark reports whether replies from pod veths restore the
// connmark into the packet mark: needed by NodePort support and by on-node
// SNAT alike.
func (s Spec) RestorePodMark() bool { return s.NodePort || s.SNAT }

// Empty reports whether the backend should own nothing at all.
func (s Spec) Empty() bool { return !s.SNAT && !s.NodePort }

// Exempt returns VPC then Exclude: every destination that is neither
// SNATed nor connmarked.
func (s Spec) Exempt() []netip.Prefix {
	return append(slices.Clone(s.VPC), s.Exclude...)
}

// Normalize applies defaults and validates cfg. Errors wrap
// core.ErrInvalidParameter.
func Normalize(cfg ports.FirewallConfig) (Spec, error) {
	s := Spec{
		SNAT:             !cfg.ExternalSNAT,
		PrimaryIP:        cfg.PrimaryIP,
		PrimaryInterface: cmp.Or(cfg.PrimaryInterface, DefaultInterface),
		Random:           cmp.Or(cfg.RandomizeSNAT, ports.SNATRandomFully),
		VethPrefix:       cmp.Or(cfg.VethPrefix, DefaultVethPrefix),
		Mark:             cmp.Or(cfg.Mark, DefaultMark),
		NodePort:         cfg.NodePortSupport,
	}
	switch s.Random {
	case ports.SNATRandomFully, ports.SNATRandom, ports.SNATNone:
	default:
		return Spec{}, fmt.Errorf("check SNAT randomisation %q: want prng, hashrandom or none: %w", s.Random, core.ErrInvalidParameter)
	}
	if err := checkIfName("primary interface", s.PrimaryInterface); err != nil {
		return Spec{}, err
	}
	if err := checkIfName("veth prefix", s.VethPrefix); err != nil {
		return Spec{}, err
	}
	if s.SNAT {
		if !s.PrimaryIP.Is4() {
			return Spec{}, fmt.Errorf("check SNAT source %v: want an IPv4 address: %w", s.PrimaryIP, core.ErrInvalidParameter)
		}
	} else {
		s.PrimaryIP = netip.Addr{}
	}
	var err error
	if s.VPC, err = prefixes("VPC CIDR", cfg.VPCCIDRs); err != nil {
		return Spec{}, err
	}
	if s.Exclude, err = prefixes("excluded CIDR", cfg.ExcludeCIDRs); err != nil {
		return Spec{}, err
	}
	s.Exclude = slices.DeleteFunc(s.Exclude, func(p netip.Prefix) bool { return slices.Contains(s.VPC, p) })
	if !s.SNAT {
		s.VPC, s.Exclude = nil, nil
	}
	return s, nil
}

func checkIfName(what, name string) error {
	if len(name) > maxIfName || strings.ContainsAny(name, " \t\n\"'*+/") {
		return fmt.Errorf("check %s %q: not a usable interface name: %w", what, name, core.ErrInvalidParameter)
	}
	return nil
}

// prefixes keeps the IPv4 prefixes of in, masked, sorted and without
// duplicates. IPv6 prefixes are skipped: every rule here is IPv4 only.
func prefixes(what string, in []netip.Prefix) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range in {
		if !p.IsValid() {
			return nil, fmt.Errorf("check %s %v: %w", what, p, core.ErrInvalidParameter)
		}
		if !p.Addr().Is4() {
			continue
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, ComparePrefix)
	return slices.Compact(out), nil
}

// ComparePrefix orders prefixes by address, then by length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
