package warmpool

import (
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Targets are the operator's warm-pool settings, already parsed. A
// non-positive value means "unset", as in the upstream documentation.
type Targets struct {
	// WarmENI is WARM_ENI_TARGET (default 1): keep this many ENIs' worth of
	// free addresses. Ignored when WarmIP or MinimumIP is set, and under
	// prefix delegation.
	WarmENI int
	// WarmIP is WARM_IP_TARGET: free addresses to keep.
	WarmIP int
	// MinimumIP is MINIMUM_IP_TARGET: floor on the total addresses.
	MinimumIP int
	// WarmPrefix is WARM_PREFIX_TARGET: free /28 prefixes to keep (prefix
	// delegation only; overridden by WarmIP/MinimumIP).
	WarmPrefix int
}

// Limits bound what a plan may ask for.
type Limits struct {
	// MaxENIs is the number of ENIs the instance may have attached,
	// already reduced by MAX_ENI. Unmanaged, trunk and EFA ENIs that are
	// attached count against it (they appear in the pool usage).
	MaxENIs int
	// BlocksPerENI is how many secondary IPs, or /28 prefixes, one ENI can
	// carry: the instance type's IPv4-addresses-per-interface minus the
	// ENI's own primary address.
	BlocksPerENI int
	// MaxPods caps the addresses the node will ever need. Zero means no cap.
	MaxPods int
	// ReservedENISlots keeps attachment slots free (a trunk ENI to come).
	ReservedENISlots int
}

// Input is everything the policy looks at. It is a plain value: the caller
// builds it from the datastore and the clock.
type Input struct {
	Now     time.Time
	Targets Targets
	Limits  Limits
	// PrefixMode is ENABLE_PREFIX_DELEGATION.
	PrefixMode bool
	Pool       core.PoolUsage
	// Pending is the number of pods waiting for an address right now.
	// The policy always tries to cover them, whatever the targets say.
	Pending int
	// MinENIAge protects young ENIs from deletion (upstream: 1 minute).
	MinENIAge time.Duration
	// AllowDecrease is false while the decrease interval since the last
	// shrink has not yet elapsed; the plan then releases nothing.
	AllowDecrease bool
	// AllowNewENI is false when the caller cannot create ENIs now (for
	// example the subnet was reported full a moment ago, or custom
	// networking has no ENIConfig yet).
	AllowNewENI bool
	// SkipPrimary keeps pods off the primary ENI (custom networking).
	SkipPrimary bool
}

// Grow asks EC2 for more addresses on an ENI that is already attached.
type Grow struct {
	ENI      core.ENIID
	IPs      int
	Prefixes int
}

// NewENI asks for a new ENI carrying this many addresses or prefixes, filled
// in the same CreateNetworkInterface call.
type NewENI struct {
	IPs      int
	Prefixes int
}

// Release hands free blocks of an ENI back to EC2. Which blocks exactly is up
// to the datastore (only unassigned, cooled-down ones qualify).
type Release struct {
	ENI core.ENIID
	// Kind is the kind of block released. Blocks of the inactive kind are
	// released when empty, to finish a mode switch.
	Kind   core.BlockKind
	Blocks int
}

// Plan is the policy's answer: what to add and what to remove. An empty
// plan means the pool is where it should be.
type Plan struct {
	Grow       []Grow
	NewENIs    []NewENI
	Release    []Release
	DeleteENIs []core.ENIID
	// Shortfall is how many addresses the targets (or pending pods) still
	// lack after the plan, because a limit was reached.
	Shortfall int
	// Reasons explains each decision in words, for logs and the simulator.
	Reasons []string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Grow) == 0 && len(p.NewENIs) == 0 && len(p.Release) == 0 && len(p.DeleteENIs) == 0
}
