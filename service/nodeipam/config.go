package nodeipam

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Config is the service's behaviour, already parsed and validated by the
// caller (app/config turns environment variables into it).
type Config struct {
	Targets warmpool.Targets
	// PrefixDelegation is ENABLE_PREFIX_DELEGATION.
	PrefixDelegation bool
	// IPv6 is ENABLE_IPv6: one /80 prefix per ENI, no warm pool.
	IPv6 bool
	// MaxENI is MAX_ENI (<= 0: instance limit).
	MaxENI int
	// MaxPods caps the addresses the node will ever hold; 0 derives it
	// from the instance type.
	MaxPods int
	// Cooldown is IP_COOLDOWN_PERIOD.
	Cooldown time.Duration
	// MinENIAge protects a new ENI from deletion.
	MinENIAge time.Duration
	// DecreaseInterval is the minimum gap between two pool decreases.
	DecreaseInterval time.Duration
	// LoopInterval is the period of the pool loop.
	LoopInterval time.Duration
	// ReconcileInterval is the period of the EC2 reconcile.
	ReconcileInterval time.Duration
	// VPCCIDRInterval is how often the VPC's IPv4 CIDRs are read again from
	// instance metadata (a block associated later must not be SNATed).
	// Zero never reads them again.
	VPCCIDRInterval time.Duration
	// ENISetupWindow is how long an ENI whose datapath setup failed still
	// counts as capacity being set up: every pass retries its setup and the
	// pool attaches no other ENI for the addresses it carries. After that
	// only the datapath repair retries it and the pool works around it.
	ENISetupWindow time.Duration
	// AddWait bounds how long an ADD waits for the allocator when the pool
	// is empty. Zero fails at once.
	AddWait time.Duration
	// SubnetFullBackoff pauses growth after EC2 reports the subnet full.
	SubnetFullBackoff time.Duration
	// ThrottleBackoff is the first pause after EC2 throttles us; it doubles
	// up to ThrottleBackoffMax and resets after a success.
	ThrottleBackoff    time.Duration
	ThrottleBackoffMax time.Duration
	// LeakedENIMinAge: a detached ENI of ours older than this is deleted.
	LeakedENIMinAge time.Duration
	// LeakedENICleanupInterval is how often detached ENIs of this instance
	// are looked for (first at the first reconcile after start, when a crash
	// may have left one behind).
	LeakedENICleanupInterval time.Duration
	// DisableLeakedENICleanup is DISABLE_LEAKED_ENI_CLEANUP.
	DisableLeakedENICleanup bool
	// DisableProvisioning is DISABLE_NETWORK_RESOURCE_PROVISIONING: read ENIs
	// and addresses from instance metadata only, never call mutating EC2
	// APIs.
	DisableProvisioning bool
	// ManageUntaggedENIs is MANAGE_UNTAGGED_ENI.
	ManageUntaggedENIs bool
	// ClusterName is CLUSTER_NAME, tagged on new ENIs.
	ClusterName string
	// ExtraTags is ADDITIONAL_ENI_TAGS (already validated).
	ExtraTags map[string]string
	// ENISubnet and ENISecurityGroups override where new ENIs go (custom
	// networking); empty means the primary ENI's subnet and groups.
	ENISubnet         core.SubnetID
	ENISecurityGroups []string
	// SkipPrimaryENI keeps pods off the primary ENI (custom networking).
	SkipPrimaryENI bool
	// ReservedENISlots keeps attachment slots free (a trunk ENI to come).
	ReservedENISlots int
}

// Defaults returns the upstream-compatible defaults.
func Defaults() Config {
	return Config{
		Targets:                  warmpool.Targets{WarmENI: 1},
		Cooldown:                 30 * time.Second,
		MinENIAge:                time.Minute,
		DecreaseInterval:         30 * time.Second,
		LoopInterval:             5 * time.Second,
		ReconcileInterval:        time.Minute,
		VPCCIDRInterval:          30 * time.Second,
		ENISetupWindow:           time.Minute,
		AddWait:                  10 * time.Second,
		SubnetFullBackoff:        2 * time.Minute,
		ThrottleBackoff:          time.Second,
		ThrottleBackoffMax:       time.Minute,
		LeakedENIMinAge:          5 * time.Minute,
		LeakedENICleanupInterval: time.Hour,
		ManageUntaggedENIs:       true,
	}
}

// Deps are the ports the service drives.
type Deps struct {
	Cloud      ports.Cloud
	Metadata   ports.Metadata
	Clock      ports.Clock
	Checkpoint ports.Checkpoint
	// Limits looks up an instance type; nil uses the built-in table.
	Limits func(name string) (limits.InstanceType, bool)
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// OnENIReady is called (without the service lock) after a new ENI is
	// attached, or one is found attached by a reconcile, and before its
	// addresses are offered to pods, so the datapath can set up its link,
	// route table and rules. When it fails, the ENI joins the pool with its
	// addresses kept from pods, and the next passes call it again (see
	// ENISetupWindow).
	OnENIReady func(eni core.ENI) error
}

func (c Config) validate() error {
	var bad []string
	if c.Cooldown < 0 {
		bad = append(bad, fmt.Sprintf("cooldown %s is negative", c.Cooldown))
	}
	if c.LoopInterval <= 0 {
		bad = append(bad, fmt.Sprintf("loop interval %s must be positive", c.LoopInterval))
	}
	if c.IPv6 && !c.PrefixDelegation {
		bad = append(bad, "IPv6 needs prefix delegation")
	}
	if len(bad) > 0 {
		return fmt.Errorf("invalid node IPAM config: %s: %w", strings.Join(bad, "; "), core.ErrInvalidParameter)
	}
	return nil
}
