package limits

import (
	"fmt"
	"math"

	"github.com/vpc-cni/vpc-cni/core"
)

// Address arithmetic behind the max-pods formulas.
const (
	// hostNetworkPods is added to every result: the CNI's own daemon and
	// kube-proxy run with host networking and take no address from the pool.
	hostNetworkPods = 2
	// addressesPerPrefix is the size of a delegated /28 IPv4 prefix.
	addressesPerPrefix = 16
	// Prefix delegation can address far more pods than a kubelet should
	// run, so the result is capped: small instances at smallNodePodCap,
	// the rest at largeNodePodCap.
	smallNodePodCap = 110
	largeNodePodCap = 250
	// largeNodeVCPUs is the first vCPU count that gets largeNodePodCap.
	largeNodeVCPUs = 30
)

// MaxPodsOptions describes how the node's networking is configured.
type MaxPodsOptions struct {
	// PrefixDelegation assigns /28 prefixes to ENIs instead of single
	// secondary addresses (ENABLE_PREFIX_DELEGATION).
	PrefixDelegation bool
	// CustomNetworking puts pods on ENIs in other subnets
	// (AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG); the primary ENI then carries no
	// pods.
	CustomNetworking bool
	// MaxENI limits the number of ENIs the daemon may use (MAX_ENI). A value
	// of zero or less means unset; a value at or above the type's limit has
	// no effect.
	MaxENI int
}

// MaxPods returns the number of pods a node of type t can run when every
// usable ENI is filled, counting the two host-networking pods.
//
// Usable ENIs are t.MaxENIs, lowered to o.MaxENI when that is smaller, minus
// one with custom networking. Each ENI keeps its own primary address, so it
// contributes IPv4PerENI-1 pod addresses, or that many /28 prefixes of 16
// addresses with prefix delegation:
//
//	secondary IPs:      ENIs × (IPv4PerENI − 1) + 2
//	prefix delegation:  min(ENIs × (IPv4PerENI − 1) × 16 + 2, cap)
//
// where cap is 110 for types with fewer than 30 vCPUs and 250 otherwise. A
// type whose vCPU count is unknown (VCPUs == 0) gets the cap of 110: the
// smaller cap can only under-advertise the node, never promise pods the
// kubelet should not run.
//
// A type with IPv4PerENI of 1 has no address to give to pods and yields 2.
// Errors, all wrapping core.ErrInvalidParameter and naming the type, are
// returned for a type with no ENIs or no IPv4 address per ENI, negative
// limits, prefix delegation on a type that supports it neither through
// Nitro nor as bare metal, custom networking that leaves no ENI for pods
// (a one-ENI type, or MaxENI of 1), and a result too large for an int.
func MaxPods(t InstanceType, o MaxPodsOptions) (int, error) {
	if t.MaxENIs <= 0 {
		return 0, invalid(t, "has no network interfaces (max ENIs %d)", t.MaxENIs)
	}
	if t.IPv4PerENI <= 0 {
		return 0, invalid(t, "has no IPv4 address per ENI (%d)", t.IPv4PerENI)
	}
	if t.VCPUs < 0 {
		return 0, invalid(t, "has a negative vCPU count (%d)", t.VCPUs)
	}
	if o.PrefixDelegation && !t.PrefixDelegation() {
		return 0, invalid(t, "does not support prefix delegation (hypervisor %q, not bare metal)", t.Hypervisor)
	}

	enis := t.MaxENIs
	if o.MaxENI > 0 && o.MaxENI < enis {
		enis = o.MaxENI
	}
	if o.CustomNetworking {
		enis--
		if enis < 1 {
			return 0, invalid(t, "leaves no ENI for pods with custom networking (usable ENIs %d before the primary is excluded)", enis+1)
		}
	}

	perENI := t.IPv4PerENI - 1
	if !o.PrefixDelegation {
		n, ok := mulAdd(enis, perENI, hostNetworkPods)
		if !ok {
			return 0, invalid(t, "gives a max-pods value that overflows int (%d ENIs × %d addresses)", enis, perENI)
		}
		return n, nil
	}

	limit := smallNodePodCap
	if t.VCPUs >= largeNodeVCPUs {
		limit = largeNodePodCap
	}
	prefixes, ok := mulAdd(enis, perENI, 0)
	if !ok {
		return limit, nil // more prefixes than an int holds is certainly above the cap
	}
	n, ok := mulAdd(prefixes, addressesPerPrefix, hostNetworkPods)
	if !ok || n > limit {
		return limit, nil
	}
	return n, nil
}

// MaxPodsByName looks name up in the built-in table and computes MaxPods.
// An unknown name yields an error wrapping core.ErrUnknownInstanceType; use
// a Table to include types learned at run time.
func MaxPodsByName(name string, o MaxPodsOptions) (int, error) {
	t, ok := Lookup(name)
	if !ok {
		return 0, unknownType(name)
	}
	return MaxPods(t, o)
}

// mulAdd returns a*b+c for non-negative operands, reporting false on
// overflow.
func mulAdd(a, b, c int) (int, bool) {
	if a != 0 && b > (math.MaxInt-c)/a {
		return 0, false
	}
	return a*b + c, true
}

func invalid(t InstanceType, format string, args ...any) error {
	return fmt.Errorf("limits: %w: instance type %q "+format,
		append([]any{core.ErrInvalidParameter, t.Name}, args...)...)
}

func unknownType(name string) error {
	return fmt.Errorf("limits: %w: %q", core.ErrUnknownInstanceType, name)
}
