package datastore

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Config sets up a Store.
type Config struct {
	// Cooldown is how long a released address stays unusable
	// (IP_COOLDOWN_PERIOD). Zero or negative makes it free at once.
	Cooldown time.Duration
	// PrefixMode selects /28 prefixes as the kind of block new pods get
	// addresses from (ENABLE_PREFIX_DELEGATION); otherwise secondary IPs.
	PrefixMode bool
	// Family is core.IPv4 (also when zero) or core.IPv6. Under IPv6 pods
	// get addresses out of the ENIs' /80 prefixes.
	Family core.Family
}

// ENIInfo describes an ENI as the datastore needs it.
type ENIInfo struct {
	ID           core.ENIID
	DeviceNumber int
	NetworkCard  int
	SubnetCIDR   netip.Prefix
	PrimaryIP    netip.Addr
	Primary      bool
	// Trunk, NoManage and Excluded ENIs never get new pods. Excluded ones
	// keep the pods they have.
	Trunk    bool
	EFA      bool
	NoManage bool
	Excluded bool
}

func (i ENIInfo) usable() bool { return !i.Trunk && !i.NoManage && !i.Excluded }

// Assignment is an address held by a pod, with what the datapath needs to
// route it.
type Assignment struct {
	Key          core.PodKey
	Pod          core.PodRef
	Addr         netip.Addr
	ENI          core.ENIID
	DeviceNumber int
	NetworkCard  int
	// RouteTable is the host routing table of the ENI (core.RouteTableFor).
	RouteTable int
	AssignedAt time.Time
}

// Allocation converts the assignment to the durable record.
func (a Assignment) Allocation() core.Allocation {
	return core.Allocation{Key: a.Key, Pod: a.Pod, Addr: a.Addr, AssignedAt: a.AssignedAt}
}

// kind is the internal block kind; it adds IPv6 /80 prefixes to core.BlockKind.
type kind uint8

const (
	kindIP kind = iota
	kindPrefix
	kindV6
	numKinds
)

func kindOf(k core.BlockKind) kind {
	if k == core.BlockPrefix {
		return kindPrefix
	}
	return kindIP
}

// v6Capacity is the number of pod addresses in a /80: every offset but 0.
const v6Capacity = int(min(1<<48-1, math.MaxInt))

type slotState uint8

const (
	stFree slotState = iota
	stAssigned
	stCooling
	stDead // its block was removed; only stale references remain
)

// slot is one pod address. IPv4 slots exist for as long as their block;
// IPv6 slots exist only while assigned or cooling and are recycled.
type slot struct {
	addr  netip.Addr
	grp   *group
	pos   int    // IPv4: index in grp.slots
	off   uint64 // IPv6: offset in the /80
	state slotState
	// gen identifies the slot's current cooldown, so that a queued expiry
	// that no longer matches (block removed, cooldown replaced) is ignored.
	gen        uint64
	releasedAt time.Time
	key        core.PodKey
	pod        core.PodRef
	assignedAt time.Time
}

// group is the unit of dense packing: a /28 prefix, a /80 prefix, or the
// whole set of secondary IPs of one ENI. Pods go to the group with the most
// assigned addresses that still has an available one.
type group struct {
	eni    *eni
	kind   kind
	prefix netip.Prefix // /28 or /80; zero for the secondary IPs of an ENI
	// IPv4: slots in address order, and avail bit i set ⇔ slots[i] is free.
	slots []*slot
	avail []uint64
	// capacity counts pod addresses: len(slots) for IPv4, v6Capacity for /80.
	capacity  int
	nAssigned int
	nCooling  int
	// idx is the position in Store.order (-1 when the kind is inactive);
	// level is the bucket the group sits in (-1 when in none).
	idx   int
	level int
	// IPv6 only: free offsets, and the slots of used ones.
	free rangeSet
	used map[uint64]*slot
}

func (g *group) available() int { return g.capacity - g.nAssigned - g.nCooling }
func (g *group) busy() bool     { return g.nAssigned+g.nCooling > 0 }

// counts are per ENI and kind; kept up to date on every state change so
// Usage costs O(ENIs).
type counts struct {
	blocks     int
	total      int
	assigned   int
	cooling    int
	freeBlocks int
}

type eni struct {
	info     ENIInfo
	since    time.Time
	ips      *group   // secondary /32s
	prefixes []*group // /28s in address order
	v6       []*group // /80s in address order
	cnt      [numKinds]counts
}

func (e *eni) groups(k kind) []*group {
	switch k {
	case kindIP:
		return []*group{e.ips}
	case kindPrefix:
		return e.prefixes
	default:
		return e.v6
	}
}

func (e *eni) assigned() int {
	return e.cnt[kindIP].assigned + e.cnt[kindPrefix].assigned + e.cnt[kindV6].assigned
}

// Store is the IPAM datastore of one node. Create it with New. It is not
// safe for concurrent use: callers hold a lock around every call.
type Store struct {
	cfg    Config
	active kind

	enis     []*eni // sorted by (device number, network card, ID)
	byID     map[core.ENIID]*eni
	byAddr   map[netip.Addr]*slot    // every IPv4 slot, of /32s and /28s
	prefixes map[netip.Prefix]*group // /28s
	v6       map[netip.Prefix]*group // /80s
	keys     map[core.PodKey]*slot   // assigned slots

	// order lists the groups of the active kind, ENI by ENI in device
	// order and by address within an ENI: the tie-break order.
	order []*group
	// lv[n] holds (by order index) the groups with n assigned addresses and
	// at least one available; lvNE holds the non-empty levels.
	lv   []hbits
	lvNE hbits

	// ring is the queue of pending cooldown expiries from head on, sorted
	// by expiry.
	ring []coolEntry
	head int
	seq  uint64

	spare []*slot // recycled IPv6 slots
}

type coolEntry struct {
	sl  *slot
	gen uint64
	at  time.Time
}

// New returns an empty store.
func New(cfg Config) *Store {
	if cfg.Family != core.IPv6 {
		cfg.Family = core.IPv4
	}
	if cfg.Cooldown < 0 {
		cfg.Cooldown = 0
	}
	s := &Store{
		cfg:      cfg,
		byID:     make(map[core.ENIID]*eni),
		byAddr:   make(map[netip.Addr]*slot),
		prefixes: make(map[netip.Prefix]*group),
		v6:       make(map[netip.Prefix]*group),
		keys:     make(map[core.PodKey]*slot),
	}
	s.active = s.activeKind()
	s.reindex()
	return s
}

func (s *Store) activeKind() kind {
	switch {
	case s.cfg.Family == core.IPv6:
		return kindV6
	case s.cfg.PrefixMode:
		return kindPrefix
	default:
		return kindIP
	}
}

// Config returns the configuration in effect (with SetPrefixMode applied).
func (s *Store) Config() Config { return s.cfg }

// SetPrefixMode switches the kind of block new pods get addresses from.
// Blocks of the other kind keep their pods and release them normally, but
// get no new ones. Under IPv6 it only records the setting.
func (s *Store) SetPrefixMode(on bool) {
	s.cfg.PrefixMode = on
	if k := s.activeKind(); k != s.active {
		s.active = k
		s.reindex()
	}
}

// AddENI adds an ENI without addresses. at is when it joined the pool.
func (s *Store) AddENI(info ENIInfo, at time.Time) error {
	if info.ID == "" {
		return fmt.Errorf("add ENI: empty ID: %w", core.ErrInvalidParameter)
	}
	if _, ok := s.byID[info.ID]; ok {
		return fmt.Errorf("add ENI %s: %w", info.ID, core.ErrDuplicate)
	}
	e := &eni{info: info, since: at}
	e.ips = &group{eni: e, kind: kindIP, idx: -1, level: -1}
	s.byID[info.ID] = e
	s.enis = append(s.enis, e)
	s.reindex()
	return nil
}

// SetExcluded marks an ENI as excluded from new pods (its subnet was tagged
// out) or makes it usable again.
func (s *Store) SetExcluded(id core.ENIID, excluded bool) error {
	e, err := s.lookupENI(id)
	if err != nil {
		return err
	}
	if e.info.Excluded == excluded {
		return nil
	}
	e.info.Excluded = excluded
	for k := kind(0); k < numKinds; k++ {
		for _, g := range e.groups(k) {
			s.rebucket(g)
		}
	}
	return nil
}

// RemoveENI drops an ENI and all its addresses. Without force it refuses
// (core.ErrENIInUse) while any address on it is assigned; with force it drops
// the assignments too and returns them, in address order.
func (s *Store) RemoveENI(id core.ENIID, force bool) ([]core.Allocation, error) {
	e, err := s.lookupENI(id)
	if err != nil {
		return nil, err
	}
	if n := e.assigned(); n > 0 && !force {
		return nil, fmt.Errorf("remove ENI %s: %d addresses assigned: %w", id, n, core.ErrENIInUse)
	}
	var out []core.Allocation
	for _, sl := range e.ips.slots {
		out = s.dropIP(sl, out)
	}
	e.ips.slots = nil
	for k := kindPrefix; k < numKinds; k++ {
		for _, g := range e.groups(k) {
			out = s.dropGroup(g, out)
		}
	}
	delete(s.byID, id)
	s.enis = slices.DeleteFunc(s.enis, func(x *eni) bool { return x == e })
	s.reindex()
	sortAllocations(out)
	return out, nil
}

func (s *Store) lookupENI(id core.ENIID) (*eni, error) {
	e, ok := s.byID[id]
	if !ok {
		return nil, fmt.Errorf("ENI %s: %w", id, core.ErrUnknownENI)
	}
	return e, nil
}

func sortAllocations(a []core.Allocation) {
	slices.SortFunc(a, func(x, y core.Allocation) int { return x.Addr.Compare(y.Addr) })
}

func cmpENI(a, b *eni) int {
	return cmp.Or(
		cmp.Compare(a.info.DeviceNumber, b.info.DeviceNumber),
		cmp.Compare(a.info.NetworkCard, b.info.NetworkCard),
		cmp.Compare(a.info.ID, b.info.ID),
	)
}

// reindex rebuilds the packing order and the level buckets. It is O(groups)
// and runs only when ENIs or blocks come and go, or the mode changes.
func (s *Store) reindex() {
	slices.SortFunc(s.enis, cmpENI)
	s.order = s.order[:0]
	maxLevel := core.AddressesPerPrefix
	for _, e := range s.enis {
		for k := kind(0); k < numKinds; k++ {
			for _, g := range e.groups(k) {
				g.idx, g.level = -1, -1
				if k != s.active {
					continue
				}
				g.idx = len(s.order)
				s.order = append(s.order, g)
				if k == kindV6 {
					maxLevel = max(maxLevel, g.nAssigned)
				} else {
					maxLevel = max(maxLevel, g.capacity)
				}
			}
		}
	}
	s.lv = make([]hbits, maxLevel+1)
	for i := range s.lv {
		s.lv[i] = newHbits(len(s.order))
	}
	s.lvNE = newHbits(len(s.lv))
	for _, g := range s.order {
		s.rebucket(g)
	}
}

// rebucket puts the group in the bucket of its fill level, or in none when
// it cannot take a pod.
func (s *Store) rebucket(g *group) {
	want := -1
	if g.idx >= 0 && g.available() > 0 && g.eni.info.usable() {
		want = g.nAssigned
	}
	if want == g.level {
		return
	}
	if g.level >= 0 {
		b := &s.lv[g.level]
		b.clear(g.idx)
		if b.empty() {
			s.lvNE.clear(g.level)
		}
	}
	if want >= 0 {
		if want >= len(s.lv) {
			s.growLevels(want)
		}
		b := &s.lv[want]
		if b.empty() {
			s.lvNE.set(want)
		}
		b.set(g.idx)
	}
	g.level = want
}

// growLevels makes room for level l (only /80 groups can outgrow the levels
// reindex sized for).
func (s *Store) growLevels(l int) {
	n := max(l+1, 2*len(s.lv))
	for len(s.lv) < n {
		s.lv = append(s.lv, newHbits(len(s.order)))
	}
	s.lvNE = newHbits(n)
	for i := range s.lv {
		if !s.lv[i].empty() {
			s.lvNE.set(i)
		}
	}
}

// setState moves a live slot to another state, keeping every counter,
// bitset and bucket in step.
func (s *Store) setState(sl *slot, to slotState) {
	from := sl.state
	if from == to {
		return
	}
	g := sl.grp
	c := &g.eni.cnt[g.kind]
	wasBusy := g.busy()
	switch from {
	case stFree:
		if g.kind != kindV6 {
			g.avail[sl.pos>>6] &^= 1 << (uint(sl.pos) & 63)
		}
	case stAssigned:
		g.nAssigned--
		c.assigned--
	case stCooling:
		g.nCooling--
		c.cooling--
	}
	sl.state = to
	switch to {
	case stFree:
		if g.kind != kindV6 {
			g.avail[sl.pos>>6] |= 1 << (uint(sl.pos) & 63)
		}
	case stAssigned:
		g.nAssigned++
		c.assigned++
	case stCooling:
		g.nCooling++
		c.cooling++
	}
	if g.kind == kindIP {
		if from == stFree {
			c.freeBlocks--
		} else if to == stFree {
			c.freeBlocks++
		}
	} else if isBusy := g.busy(); wasBusy != isBusy {
		if isBusy {
			c.freeBlocks--
		} else {
			c.freeBlocks++
		}
	}
	s.rebucket(g)
	if to == stFree && g.kind == kindV6 {
		// Only used IPv6 offsets have a slot: give this one back.
		delete(g.used, sl.off)
		g.free.insert(sl.off)
		*sl = slot{}
		s.spare = append(s.spare, sl)
	}
}

// v6Slot materialises the slot of a free offset of a /80 group.
func (s *Store) v6Slot(g *group, off uint64) *slot {
	g.free.remove(off)
	var sl *slot
	if n := len(s.spare); n > 0 {
		sl = s.spare[n-1]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
	} else {
		sl = new(slot)
	}
	*sl = slot{addr: v6Addr(g.prefix, off), grp: g, off: off, state: stFree}
	g.used[off] = sl
	return sl
}

func v6Addr(p netip.Prefix, off uint64) netip.Addr {
	b := p.Addr().As16()
	for i := 15; i >= 10; i-- {
		b[i] = byte(off)
		off >>= 8
	}
	return netip.AddrFrom16(b)
}

func v6Offset(a netip.Addr) uint64 {
	b := a.As16()
	var off uint64
	for i := 10; i < 16; i++ {
		off = off<<8 | uint64(b[i])
	}
	return off
}

// dropIP removes a secondary-IP slot from every index and counter (the
// caller rebuilds the ENI's IP group and reindexes). An assigned slot's
// allocation is appended to out.
func (s *Store) dropIP(sl *slot, out []core.Allocation) []core.Allocation {
	g := sl.grp
	c := &g.eni.cnt[kindIP]
	switch sl.state {
	case stFree:
		c.freeBlocks--
	case stAssigned:
		out = append(out, s.unassignForDrop(sl))
		g.nAssigned--
		c.assigned--
	case stCooling:
		g.nCooling--
		c.cooling--
	}
	c.blocks--
	c.total--
	sl.state = stDead
	delete(s.byAddr, sl.addr)
	return out
}

// dropGroup removes a /28 or /80 prefix with all its slots.
func (s *Store) dropGroup(g *group, out []core.Allocation) []core.Allocation {
	c := &g.eni.cnt[g.kind]
	if !g.busy() {
		c.freeBlocks--
	}
	c.blocks--
	c.total -= g.capacity
	c.assigned -= g.nAssigned
	c.cooling -= g.nCooling
	if g.kind == kindV6 {
		for _, sl := range g.used {
			if sl.state == stAssigned {
				out = append(out, s.unassignForDrop(sl))
			}
			sl.state = stDead
		}
		delete(s.v6, g.prefix)
	} else {
		for _, sl := range g.slots {
			if sl.state == stAssigned {
				out = append(out, s.unassignForDrop(sl))
			}
			sl.state = stDead
			delete(s.byAddr, sl.addr)
		}
		delete(s.prefixes, g.prefix)
	}
	g.nAssigned, g.nCooling = 0, 0
	return out
}

func (s *Store) unassignForDrop(sl *slot) core.Allocation {
	a := core.Allocation{Key: sl.key, Pod: sl.pod, Addr: sl.addr, AssignedAt: sl.assignedAt}
	delete(s.keys, sl.key)
	sl.key, sl.pod = core.PodKey{}, core.PodRef{}
	return a
}

// rebuildIPs re-sorts an ENI's secondary IPs after some came or went.
func rebuildIPs(g *group) {
	slices.SortFunc(g.slots, func(a, b *slot) int { return a.addr.Compare(b.addr) })
	g.capacity = len(g.slots)
	g.avail = make([]uint64, (len(g.slots)+63)/64)
	for i, sl := range g.slots {
		sl.pos = i
		if sl.state == stFree {
			g.avail[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}
