package warmpool

import (
	"fmt"

	"github.com/vpc-cni/vpc-cni/core"
)

// Mode is the rule set that sizes the pool. It follows from the targets and
// from prefix delegation (see Targets.Mode).
type Mode uint8

const (
	// ModeWarmENI keeps WARM_ENI_TARGET ENIs' worth of secondary IPs free.
	ModeWarmENI Mode = iota
	// ModeWarmPrefix keeps WARM_PREFIX_TARGET prefixes' worth of addresses
	// free under prefix delegation.
	ModeWarmPrefix
	// ModeIPTarget keeps WARM_IP_TARGET addresses free and at least
	// MINIMUM_IP_TARGET addresses in total, in either address mode.
	ModeIPTarget
)

func (m Mode) String() string {
	switch m {
	case ModeWarmENI:
		return "warm-eni"
	case ModeWarmPrefix:
		return "warm-prefix"
	case ModeIPTarget:
		return "ip-target"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Mode returns the rule set the targets select. WARM_IP_TARGET or
// MINIMUM_IP_TARGET above zero win over everything else; otherwise prefix
// delegation uses WARM_PREFIX_TARGET and secondary-IP mode WARM_ENI_TARGET.
func (t Targets) Mode(prefix bool) Mode {
	switch {
	case t.WarmIP > 0 || t.MinimumIP > 0:
		return ModeIPTarget
	case prefix:
		return ModeWarmPrefix
	default:
		return ModeWarmENI
	}
}

// Validate rejects target combinations the node must not start with. The
// only one is inherited from the upstream entrypoint: prefix delegation with
// no positive WARM_PREFIX_TARGET, WARM_IP_TARGET or MINIMUM_IP_TARGET.
// (Upstream compares the values as strings; this compares numbers.)
// Non-positive values mean "unset" and are never an error by themselves.
// The error wraps core.ErrInvalidParameter and names the settings.
func Validate(t Targets, prefixMode bool) error {
	if prefixMode && t.WarmPrefix <= 0 && t.WarmIP <= 0 && t.MinimumIP <= 0 {
		return fmt.Errorf("%w: ENABLE_PREFIX_DELEGATION=true needs WARM_PREFIX_TARGET, WARM_IP_TARGET or MINIMUM_IP_TARGET above 0 (got %d, %d, %d)",
			core.ErrInvalidParameter, t.WarmPrefix, t.WarmIP, t.MinimumIP)
	}
	return nil
}

// Warnings lists settings that are accepted but have no effect or a
// surprising one, in words meant for a startup log line.
func Warnings(t Targets, prefixMode bool) []string {
	var w []string
	mode := t.Mode(prefixMode)
	if mode == ModeIPTarget && t.WarmENI > 0 && !prefixMode {
		w = append(w, fmt.Sprintf("WARM_ENI_TARGET=%d is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set", t.WarmENI))
	}
	if mode == ModeIPTarget && t.WarmPrefix > 0 && prefixMode {
		w = append(w, fmt.Sprintf("WARM_PREFIX_TARGET=%d is ignored because WARM_IP_TARGET or MINIMUM_IP_TARGET is set", t.WarmPrefix))
	}
	if prefixMode && t.WarmENI > 0 && mode != ModeIPTarget {
		w = append(w, fmt.Sprintf("WARM_ENI_TARGET=%d is ignored under prefix delegation; WARM_PREFIX_TARGET applies", t.WarmENI))
	}
	if !prefixMode && t.WarmPrefix > 0 {
		w = append(w, fmt.Sprintf("WARM_PREFIX_TARGET=%d is ignored without prefix delegation", t.WarmPrefix))
	}
	if t.MinimumIP > 0 && t.WarmIP <= 0 {
		w = append(w, fmt.Sprintf("MINIMUM_IP_TARGET=%d without WARM_IP_TARGET keeps no spare address once the minimum is used; each further pod waits for an EC2 call", t.MinimumIP))
	}
	return w
}
