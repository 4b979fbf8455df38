package core

import "time"

// BlockKind tells how addresses are delegated to an ENI: one secondary /32
// per address, or /28 prefixes of 16 addresses.
type BlockKind uint8

const (
	// BlockIP is a secondary private IPv4 address (a /32 "block").
	BlockIP BlockKind = iota
	// BlockPrefix is a delegated IPv4 /28 prefix.
	BlockPrefix
)

func (k BlockKind) String() string {
	if k == BlockPrefix {
		return "prefix"
	}
	return "ip"
}

// AddressesPerPrefix is the number of pod addresses in an IPv4 /28 prefix.
const AddressesPerPrefix = 16

// ENIUsage summarises one ENI of the warm pool, as the warm-target policy
// sees it. Counts of addresses refer to the active block kind (secondary IPs,
// or /28 prefixes under prefix delegation); blocks of the other kind, left
// over from before a mode switch, are counted separately.
type ENIUsage struct {
	ID           ENIID
	DeviceNumber int
	NetworkCard  int
	Primary      bool
	Trunk        bool
	EFA          bool
	// NoManage ENIs count against the attachment limit but are never used.
	NoManage bool
	// Excluded ENIs keep their pods but get no new ones (subnet tagged out).
	Excluded bool
	// Since is when the ENI joined the pool; young ENIs are not deleted.
	Since time.Time

	// IPs and Prefixes are the secondary /32s and /28s on the ENI, of both
	// kinds. Together they count against the per-ENI address limit.
	IPs      int
	Prefixes int

	// Total, Assigned and Cooling count pod addresses of the active kind.
	// Free = Total - Assigned - Cooling is what a pod can get right now.
	Total    int
	Assigned int
	Cooling  int
	// FreeBlocks counts blocks of the active kind with no assigned and no
	// cooling address: what could be handed back to EC2 right now.
	FreeBlocks int
	// InactiveBlocks / InactiveAssigned describe blocks of the other kind.
	// InactiveFreeBlocks of them hold no assigned or cooling address.
	InactiveBlocks     int
	InactiveAssigned   int
	InactiveFreeBlocks int
}

// Free returns the addresses of the active kind available to a pod now.
func (u ENIUsage) Free() int { return u.Total - u.Assigned - u.Cooling }

// Usable reports whether new pods may be placed on the ENI.
func (u ENIUsage) Usable() bool { return !u.Trunk && !u.NoManage && !u.Excluded }

// PoolUsage is the whole pool: every ENI attached to the instance that the
// datastore knows, in device order, plus attached ENIs it does not manage.
type PoolUsage struct {
	ENIs []ENIUsage
}

// Totals sums the usable ENIs.
func (p PoolUsage) Totals() (total, assigned, cooling int) {
	for _, e := range p.ENIs {
		if !e.Usable() {
			continue
		}
		total += e.Total
		assigned += e.Assigned
		cooling += e.Cooling
	}
	return total, assigned, cooling
}
