package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
)

// Var describes one environment variable. The list returned by Vars drives
// Parse, the tests and the table in docs/configuration.md.
type Var struct {
	// Name is the variable, spelled exactly as in the environment.
	Name string
	// Default is the value that behaves like leaving the variable unset.
	// Empty means the default is "unset"/empty; Description then says what
	// that implies.
	Default string
	// Kind is the value's type: bool, integer, seconds, mtu, string, path,
	// enum, cidr-list, json, url, address, mask, deprecated.
	Kind string
	// Accepts says which values are valid, in words.
	Accepts string
	// Description is the variable's effect.
	Description string
	// Upstream says where we behave differently from the upstream VPC CNI;
	// empty when we behave the same.
	Upstream string
	// Deprecated variables are accepted, ignored and reported as warnings.
	Deprecated bool
}

// VarError is one invalid variable (or one invalid combination, named by
// the variable that has to change). It unwraps to core.ErrInvalidParameter.
type VarError struct {
	Name  string
	Value string
	// Want says what would be accepted.
	Want string
}

func (e *VarError) Error() string {
	return fmt.Sprintf("%s=%q: want %s", e.Name, e.Value, e.Want)
}

// Unwrap lets callers test errors.Is(err, core.ErrInvalidParameter).
func (e *VarError) Unwrap() error { return core.ErrInvalidParameter }

// Vars returns every variable the product reads, sorted by name.
func Vars() []Var {
	out := make([]Var, len(table))
	for i, s := range table {
		out[i] = s.Var
	}
	return out
}

// FromOS parses the process environment.
func FromOS() (Env, []string, error) { return Parse(os.LookupEnv) }

// Parse reads every variable through lookup (os.LookupEnv or a map) and
// validates it. Leading and trailing spaces are ignored and an empty value
// counts as unset, except where a variable's documentation says otherwise.
//
// The warnings are things an operator should know but that do not stop the
// product: deprecated variables that were set, CIDR items that were
// skipped, reserved tag keys that were dropped, settings that another
// setting makes ineffective.
//
// The error joins (errors.Join) one *VarError per invalid variable or
// combination, so an operator sees every mistake at once. When it is not
// nil the returned Env must not be used.
func Parse(lookup func(string) (string, bool)) (Env, []string, error) {
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	p := &parser{set: map[string]string{}}
	var e Env
	for _, s := range table {
		raw, ok := lookup(s.Name)
		raw = strings.TrimSpace(raw)
		set := ok && (raw != "" || s.keepEmpty)
		if set {
			p.set[s.Name] = raw
		}
		s.apply(p, &e, raw, set)
	}
	p.combine(&e)
	return e, p.warns, errors.Join(p.errs...)
}

// spec is a Var plus how to parse it into an Env and render it back.
type spec struct {
	Var
	// keepEmpty: an empty value is a value of its own, not "unset".
	keepEmpty bool
	// apply stores the parsed value (or the default when !set) in e, and
	// reports problems to p.
	apply func(p *parser, e *Env, raw string, set bool)
	// show renders the parsed value canonically; nil for deprecated
	// variables, which have no field.
	show func(e *Env) string
}

// differs records how a variable departs from upstream.
func (s spec) differs(note string) spec {
	s.Upstream = note
	return s
}

type parser struct {
	errs  []error
	warns []string
	// set holds the trimmed value of every variable that was set.
	set map[string]string
}

func (p *parser) fail(name, value, want string) {
	p.errs = append(p.errs, &VarError{Name: name, Value: value, Want: want})
}

func (p *parser) warn(format string, args ...any) {
	p.warns = append(p.warns, fmt.Sprintf(format, args...))
}

// value is what the operator wrote for name, or the effective value when
// the variable was not set.
func (p *parser) value(name, effective string) string {
	if v, ok := p.set[name]; ok {
		return v
	}
	return effective
}

// combine applies the rules that involve more than one variable.
func (p *parser) combine(e *Env) {
	_, v4Set := p.set["ENABLE_IPv4"]
	if !v4Set && e.EnableIPv6 {
		// ENABLE_IPv4 defaults to true, but an operator who only asked for
		// IPv6 mode means IPv6 mode (upstream code, whose default is false,
		// behaves that way too).
		e.EnableIPv4 = false
	}
	v4 := p.value("ENABLE_IPv4", fmt.Sprint(e.EnableIPv4))
	v6 := p.value("ENABLE_IPv6", fmt.Sprint(e.EnableIPv6))
	switch {
	case e.EnableIPv4 && e.EnableIPv6:
		p.fail("ENABLE_IPv6", v6, fmt.Sprintf("false while ENABLE_IPv4=%q: dual stack is not supported (for IPv6 mode set ENABLE_IPv4=false)", v4))
	case !e.EnableIPv4 && !e.EnableIPv6:
		p.fail("ENABLE_IPv4", v4, "true, or ENABLE_IPv6=true: one IP family must be enabled")
	}
	if e.EnableIPv6 && !e.EnablePrefixDelegation {
		p.fail("ENABLE_IPv6", v6, fmt.Sprintf("ENABLE_PREFIX_DELEGATION=true as well (it is %q): IPv6 mode assigns pod addresses from /80 prefixes only",
			p.value("ENABLE_PREFIX_DELEGATION", "false")))
	}
	if e.EnableIPv6 && e.CustomNetworkCfg {
		p.fail("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", p.value("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", "true"),
			fmt.Sprintf("false while ENABLE_IPv6=%q: custom networking is IPv4 only", v6))
	}

	// MTUs: IPv6 links need at least 1280.
	_, podMTUSet := p.set["POD_MTU"]
	if e.EnableIPv6 && e.ENIMTU != 0 && e.ENIMTU < minMTUv6 {
		p.fail("AWS_VPC_ENI_MTU", p.value("AWS_VPC_ENI_MTU", fmt.Sprint(e.ENIMTU)), fmt.Sprintf("an integer from %d to %d in IPv6 mode", minMTUv6, maxMTU))
	}
	if podMTUSet && e.EnableIPv6 && e.PodMTU != 0 && e.PodMTU < minMTUv6 {
		p.fail("POD_MTU", p.set["POD_MTU"], fmt.Sprintf("an integer from %d to %d in IPv6 mode", minMTUv6, maxMTU))
	}
	if !podMTUSet {
		e.PodMTU = e.ENIMTU
	} else if e.PodMTU > e.ENIMTU && e.ENIMTU != 0 {
		p.warn("POD_MTU=%d is larger than AWS_VPC_ENI_MTU=%d: pods may send packets the ENI cannot carry", e.PodMTU, e.ENIMTU)
	}

	if e.WarmPrefixTarget > 0 && !e.EnablePrefixDelegation {
		p.warn("WARM_PREFIX_TARGET=%d has no effect without ENABLE_PREFIX_DELEGATION=true", e.WarmPrefixTarget)
	}
	// The warm-pool policy's own checks, so every entry point (daemon,
	// simulator) rejects the same combinations.
	if e.EnablePrefixDelegation && !e.EnableIPv6 && e.WarmPrefixTarget <= 0 && e.WarmIPTarget <= 0 && e.MinimumIPTarget <= 0 {
		// Nothing says how many spare prefixes to keep: use the value the
		// upstream manifest ships rather than refusing to start.
		e.WarmPrefixTarget = 1
		p.warn("ENABLE_PREFIX_DELEGATION=true without WARM_PREFIX_TARGET, WARM_IP_TARGET or MINIMUM_IP_TARGET: keeping one spare prefix (WARM_PREFIX_TARGET=1)")
	}
	if !e.EnableIPv6 {
		targets := warmpool.Targets{WarmENI: e.WarmENITarget, WarmIP: e.WarmIPTarget, MinimumIP: e.MinimumIPTarget, WarmPrefix: e.WarmPrefixTarget}
		if err := warmpool.Validate(targets, e.EnablePrefixDelegation); err != nil {
			p.fail("ENABLE_PREFIX_DELEGATION", p.value("ENABLE_PREFIX_DELEGATION", "true"),
				"WARM_PREFIX_TARGET, WARM_IP_TARGET or MINIMUM_IP_TARGET above 0 as well (otherwise the node keeps no spare prefix)")
		}
		_, weniSet := p.set["WARM_ENI_TARGET"]
		for _, w := range warmpool.Warnings(targets, e.EnablePrefixDelegation) {
			// WARM_ENI_TARGET always has a value (default 1): only mention
			// it when the operator set it. WARM_PREFIX_TARGET without
			// prefix delegation is reported above already.
			if (strings.HasPrefix(w, "WARM_ENI_TARGET") && !weniSet) || (strings.HasPrefix(w, "WARM_PREFIX_TARGET") && !e.EnablePrefixDelegation) {
				continue
			}
			p.warn("%s", w)
		}
	}
	if len(e.ExcludeSNATCIDRs) > 0 && e.ExternalSNAT {
		p.warn("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS has no effect with AWS_VPC_K8S_CNI_EXTERNALSNAT=true (the node does no SNAT at all)")
	}
}

// table is every variable, sorted by name. It is built once and never
// changed.
var table = func() []spec {
	t := specs()
	sort.Slice(t, func(i, j int) bool { return t[i].Name < t[j].Name })
	return t
}()
