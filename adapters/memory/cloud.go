package memory

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

// EC2 operation names, used as keys of Calls, Latency, InjectError and
// SetLatency.
const (
	OpDescribeInstances               = "DescribeInstances"
	OpDescribeNetworkInterfaces       = "DescribeNetworkInterfaces"
	OpCreateNetworkInterface          = "CreateNetworkInterface"
	OpAttachNetworkInterface          = "AttachNetworkInterface"
	OpModifyNetworkInterfaceAttribute = "ModifyNetworkInterfaceAttribute"
	OpDetachNetworkInterface          = "DetachNetworkInterface"
	OpDeleteNetworkInterface          = "DeleteNetworkInterface"
	OpAssignPrivateIPAddresses        = "AssignPrivateIpAddresses"
	OpUnassignPrivateIPAddresses      = "UnassignPrivateIpAddresses"
	OpAssignIPv6Addresses             = "AssignIpv6Addresses"
	OpUnassignIPv6Addresses           = "UnassignIpv6Addresses"
	OpDescribeSubnets                 = "DescribeSubnets"
	OpDescribeInstanceTypes           = "DescribeInstanceTypes"
	OpCreateTags                      = "CreateTags"
)

// ENI statuses as EC2 reports them.
const (
	StatusAvailable = "available"
	StatusInUse     = "in-use"
)

// ENI interface types. "interface" is an ordinary ENI.
const (
	InterfaceTypeInterface = "interface"
	InterfaceTypeTrunk     = "trunk"
	InterfaceTypeEFA       = "efa"
)

// Instance states the simulator knows.
const (
	InstanceRunning    = "running"
	InstanceStopped    = "stopped"
	InstanceTerminated = "terminated"
)

// DefaultUnattachedAddressLimit caps the addresses (the primary included)
// of an ENI that is not attached to any instance; it is the largest
// per-interface limit of any instance type.
const DefaultUnattachedAddressLimit = 50

// Config configures a simulated region.
type Config struct {
	// Region defaults to "us-west-2".
	Region string
	// AccountID defaults to "123456789012".
	AccountID string
	// Clock drives latency, throttling, timestamps and metadata lag.
	// Defaults to a VirtualClock starting at 2024-01-01T00:00:00Z, so a
	// simulator never sleeps for real unless asked to (RealClock).
	Clock ports.Clock
	// Latency per EC2 operation name (OpAttachNetworkInterface, ...).
	// Missing operations take no time. See DefaultLatencies.
	Latency map[string]time.Duration
	// IMDSDelay is how long a change in EC2 takes to show in the metadata
	// view of the instance.
	IMDSDelay time.Duration
	// InstanceTypes resolves instance type limits (normally limits.Lookup).
	InstanceTypes func(name string) (limits.InstanceType, bool)
	// Seed makes generated ids (ENIs, attachments, MACs, request ids)
	// deterministic: the same seed and the same calls give the same ids.
	Seed uint64
	// UnattachedAddressLimit caps the IPv4 addresses (primary included) and
	// the IPv6 prefixes an ENI may hold while not attached. Defaults to
	// DefaultUnattachedAddressLimit.
	UnattachedAddressLimit int
}

// DefaultLatencies returns typical EC2 response times per operation, as
// observed from within a region. Callers own the returned map.
func DefaultLatencies() map[string]time.Duration {
	return map[string]time.Duration{
		OpDescribeInstances:               150 * time.Millisecond,
		OpDescribeNetworkInterfaces:       150 * time.Millisecond,
		OpCreateNetworkInterface:          300 * time.Millisecond,
		OpAttachNetworkInterface:          2500 * time.Millisecond,
		OpModifyNetworkInterfaceAttribute: 150 * time.Millisecond,
		OpDetachNetworkInterface:          1 * time.Second,
		OpDeleteNetworkInterface:          300 * time.Millisecond,
		OpAssignPrivateIPAddresses:        300 * time.Millisecond,
		OpUnassignPrivateIPAddresses:      200 * time.Millisecond,
		OpAssignIPv6Addresses:             300 * time.Millisecond,
		OpUnassignIPv6Addresses:           200 * time.Millisecond,
		OpDescribeSubnets:                 120 * time.Millisecond,
		OpDescribeInstanceTypes:           200 * time.Millisecond,
		OpCreateTags:                      100 * time.Millisecond,
	}
}

type vpc struct {
	id     string
	cidrs  []netip.Prefix
	cidrs6 []netip.Prefix
}

type subnet struct {
	seq  int
	info core.Subnet // AvailableIPs is computed on read
	v4   *pool4
	v6   *pool6 // nil without an IPv6 block
}

type attachment struct {
	id                  string
	inst                *instance
	device, card        int
	deleteOnTermination bool
}

type eni struct {
	seq           int
	id            core.ENIID
	mac           string
	description   string
	subnet        *subnet
	primaryIP     netip.Addr
	secondary     []netip.Addr
	prefixes      []netip.Prefix
	prefixes6     []netip.Prefix
	sgs           []string
	tags          map[string]string
	interfaceType string
	createdAt     time.Time
	att           *attachment // nil while available
}

func (e *eni) status() string {
	if e.att != nil {
		return StatusInUse
	}
	return StatusAvailable
}

// imdsView is what the metadata service shows from visibleAt on.
type imdsView struct {
	visibleAt time.Time
	enis      []core.ENI
}

type instance struct {
	id      core.InstanceID
	typ     limits.InstanceType
	subnet  *subnet
	primary *eni
	state   string
	enis    map[core.ENIID]*eni // attached ENIs
	tags    map[string]string
	imds    []imdsView // ordered by creation
}

// Cloud is the simulated EC2 region. It is safe for concurrent use; the
// latency of a call is spent without holding the state lock.
type Cloud struct {
	clock ports.Clock
	cfg   Config

	mu          sync.Mutex
	ids         *rand.Rand
	reqIDs      *rand.Rand
	seq         int
	vpcs        map[string]*vpc
	subnets     map[core.SubnetID]*subnet
	enis        map[core.ENIID]*eni
	attachments map[string]*eni
	instances   map[core.InstanceID]*instance
	imdsDelay   time.Duration

	calls    map[string]int
	latency  map[string]time.Duration
	faults   map[string][]fault
	throttle bucket
}

var (
	_ ports.Cloud    = (*Cloud)(nil)
	_ ports.Metadata = (*Metadata)(nil)
)

// New returns an empty region. Add VPCs, subnets and instances with AddVPC,
// AddSubnet and LaunchInstance.
func New(cfg Config) *Cloud {
	if cfg.Region == "" {
		cfg.Region = "us-west-2"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "123456789012"
	}
	if cfg.Clock == nil {
		cfg.Clock = NewVirtualClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	if cfg.UnattachedAddressLimit <= 0 {
		cfg.UnattachedAddressLimit = DefaultUnattachedAddressLimit
	}
	c := &Cloud{
		clock:       cfg.Clock,
		cfg:         cfg,
		ids:         rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		reqIDs:      rand.New(rand.NewPCG(cfg.Seed, 0xc2b2ae3d27d4eb4f)),
		vpcs:        map[string]*vpc{},
		subnets:     map[core.SubnetID]*subnet{},
		enis:        map[core.ENIID]*eni{},
		attachments: map[string]*eni{},
		instances:   map[core.InstanceID]*instance{},
		imdsDelay:   cfg.IMDSDelay,
		calls:       map[string]int{},
		latency:     maps.Clone(cfg.Latency),
		faults:      map[string][]fault{},
	}
	if c.latency == nil {
		c.latency = map[string]time.Duration{}
	}
	return c
}

// Region returns the simulated region.
func (c *Cloud) Region() string { return c.cfg.Region }

// Clock returns the clock the simulator runs on.
func (c *Cloud) Clock() ports.Clock { return c.clock }

// SetIMDSDelay changes the metadata propagation delay for later changes.
func (c *Cloud) SetIMDSDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.imdsDelay = d
}

// newID returns prefix followed by 17 hex digits, like EC2's long ids.
func (c *Cloud) newID(prefix string, taken func(string) bool) string {
	for {
		id := fmt.Sprintf("%s0%016x", prefix, c.ids.Uint64())
		if taken == nil || !taken(id) {
			return id
		}
	}
}

func (c *Cloud) newMAC() string {
	v := c.ids.Uint64()
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (c *Cloud) newRequestID() string {
	a, b := c.reqIDs.Uint64(), c.reqIDs.Uint64()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

func (c *Cloud) nextSeq() int {
	c.seq++
	return c.seq
}

// AddVPC creates a VPC. CIDRs may mix IPv4 blocks (a VPC may have several)
// and IPv6 blocks.
func (c *Cloud) AddVPC(id string, cidrs ...netip.Prefix) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		return fmt.Errorf("add VPC: empty id: %w", core.ErrInvalidParameter)
	}
	if _, ok := c.vpcs[id]; ok {
		return fmt.Errorf("add VPC %s: %w", id, core.ErrDuplicate)
	}
	v := &vpc{id: id}
	c.vpcs[id] = v
	for _, p := range cidrs {
		if err := c.addVPCCIDRLocked(v, p); err != nil {
			delete(c.vpcs, id)
			return err
		}
	}
	return nil
}

// AddVPCCIDR associates another CIDR block with a VPC, as an operator does
// when the VPC runs out of addresses.
func (c *Cloud) AddVPCCIDR(id string, cidr netip.Prefix) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vpcs[id]
	if !ok {
		return fmt.Errorf("add CIDR to VPC %s: %w", id, core.ErrNotFound)
	}
	return c.addVPCCIDRLocked(v, cidr)
}

func (c *Cloud) addVPCCIDRLocked(v *vpc, p netip.Prefix) error {
	if !p.IsValid() {
		return fmt.Errorf("add CIDR to VPC %s: invalid prefix: %w", v.id, core.ErrInvalidParameter)
	}
	p = p.Masked()
	list := &v.cidrs
	if p.Addr().Is6() {
		list = &v.cidrs6
	} else if p.Bits() < 16 || p.Bits() > 28 {
		return fmt.Errorf("add CIDR %s to VPC %s: IPv4 blocks must be /16 to /28: %w", p, v.id, core.ErrInvalidParameter)
	}
	for _, q := range *list {
		if q.Overlaps(p) {
			return fmt.Errorf("add CIDR %s to VPC %s: overlaps %s: %w", p, v.id, q, core.ErrInvalidParameter)
		}
	}
	*list = append(*list, p)
	return nil
}

// AddSubnet creates a subnet in an existing VPC and returns it as
// DescribeSubnets would. An empty ID is generated; an empty availability
// zone defaults to the region's "a" zone. The IPv4 CIDR must lie within one
// of the VPC's blocks and be /16 to /28; the optional IPv6 CIDR must be a
// /64 within one of the VPC's IPv6 blocks. Subnets of a VPC may not overlap.
func (c *Cloud) AddSubnet(s core.Subnet) (core.Subnet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.vpcs[s.VPCID]
	if !ok {
		return core.Subnet{}, fmt.Errorf("add subnet: VPC %q: %w", s.VPCID, core.ErrNotFound)
	}
	if !s.CIDR.IsValid() || !s.CIDR.Addr().Is4() || s.CIDR.Bits() < 16 || s.CIDR.Bits() > 28 {
		return core.Subnet{}, fmt.Errorf("add subnet: IPv4 CIDR %s must be /16 to /28: %w", s.CIDR, core.ErrInvalidParameter)
	}
	s.CIDR = s.CIDR.Masked()
	if !slices.ContainsFunc(v.cidrs, func(p netip.Prefix) bool { return p.Bits() <= s.CIDR.Bits() && p.Contains(s.CIDR.Addr()) }) {
		return core.Subnet{}, fmt.Errorf("add subnet: %s is outside VPC %s: %w", s.CIDR, v.id, core.ErrInvalidParameter)
	}
	if s.IPv6CIDR.IsValid() {
		s.IPv6CIDR = s.IPv6CIDR.Masked()
		if !s.IPv6CIDR.Addr().Is6() || s.IPv6CIDR.Bits() != 64 {
			return core.Subnet{}, fmt.Errorf("add subnet: IPv6 CIDR %s must be a /64: %w", s.IPv6CIDR, core.ErrInvalidParameter)
		}
		if !slices.ContainsFunc(v.cidrs6, func(p netip.Prefix) bool { return p.Bits() <= 64 && p.Contains(s.IPv6CIDR.Addr()) }) {
			return core.Subnet{}, fmt.Errorf("add subnet: %s is outside VPC %s: %w", s.IPv6CIDR, v.id, core.ErrInvalidParameter)
		}
	}
	for _, o := range c.subnets {
		if o.info.VPCID != v.id {
			continue
		}
		if o.info.CIDR.Overlaps(s.CIDR) || (s.IPv6CIDR.IsValid() && o.info.IPv6CIDR.IsValid() && o.info.IPv6CIDR.Overlaps(s.IPv6CIDR)) {
			return core.Subnet{}, fmt.Errorf("add subnet: %s overlaps subnet %s: %w", s.CIDR, o.info.ID, core.ErrInvalidParameter)
		}
	}
	if s.ID == "" {
		s.ID = core.SubnetID(c.newID("subnet-", func(id string) bool { return c.subnets[core.SubnetID(id)] != nil }))
	} else if _, dup := c.subnets[s.ID]; dup {
		return core.Subnet{}, fmt.Errorf("add subnet %s: %w", s.ID, core.ErrDuplicate)
	}
	if s.AvailabilityZone == "" {
		s.AvailabilityZone = c.cfg.Region + "a"
	}
	s.Tags = maps.Clone(s.Tags)
	s.AvailableIPs = 0
	sn := &subnet{seq: c.nextSeq(), info: s, v4: newPool4(s.CIDR)}
	if s.IPv6CIDR.IsValid() {
		sn.v6 = newPool6(s.IPv6CIDR)
	}
	c.subnets[s.ID] = sn
	return c.subnetView(sn), nil
}

// LaunchSpec describes an instance to launch.
type LaunchSpec struct {
	// ID is generated when empty.
	ID       core.InstanceID
	Type     string
	SubnetID core.SubnetID
	// AvailabilityZone must match the subnet's when set.
	AvailabilityZone string
	SecurityGroups   []string
	// PrimaryIP picks the primary address; the lowest free one otherwise.
	PrimaryIP netip.Addr
}

// LaunchInstance starts a running instance with its primary ENI (device 0 on
// the type's default network card, deleted on termination). The instance's
// metadata view shows the primary ENI at once.
func (c *Cloud) LaunchInstance(spec LaunchSpec) (core.Instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "RunInstances"
	typ, ok := c.lookupType(spec.Type)
	if !ok {
		return core.Instance{}, c.stamp(op, fail(CodeInvalidInstanceType, fmt.Sprintf("unknown instance type %q", spec.Type)))
	}
	if typ.Name == "" {
		typ.Name = spec.Type
	}
	sn, ok := c.subnets[spec.SubnetID]
	if !ok {
		return core.Instance{}, c.stamp(op, fail(CodeSubnetNotFound, fmt.Sprintf("the subnet ID '%s' does not exist", spec.SubnetID)))
	}
	if spec.AvailabilityZone != "" && spec.AvailabilityZone != sn.info.AvailabilityZone {
		return core.Instance{}, c.stamp(op, fail(CodeInvalidParameterValue,
			fmt.Sprintf("subnet %s is in %s, not %s", sn.info.ID, sn.info.AvailabilityZone, spec.AvailabilityZone)))
	}
	if spec.ID == "" {
		spec.ID = core.InstanceID(c.newID("i-", func(id string) bool { return c.instances[core.InstanceID(id)] != nil }))
	} else if _, dup := c.instances[spec.ID]; dup {
		return core.Instance{}, c.stamp(op, fail(CodeInvalidParameterValue, fmt.Sprintf("instance %s already exists", spec.ID)))
	}
	now := c.clock.Now()
	e, apiErr := c.createENILocked(ports.CreateENIRequest{SubnetID: sn.info.ID, SecurityGroups: spec.SecurityGroups}, spec.PrimaryIP, now)
	if apiErr != nil {
		return core.Instance{}, c.stamp(op, apiErr)
	}
	inst := &instance{id: spec.ID, typ: typ, subnet: sn, primary: e, state: InstanceRunning, enis: map[core.ENIID]*eni{}}
	c.instances[inst.id] = inst
	c.attachLocked(e, inst, 0, typ.DefaultNetworkCard)
	e.att.deleteOnTermination = true
	inst.imds = []imdsView{{visibleAt: now, enis: c.imdsENIs(inst)}}
	return c.instanceView(inst), nil
}

// TerminateInstance terminates an instance: attached ENIs flagged
// DeleteOnTermination are deleted and their addresses returned to the
// subnet; the others are detached and stay "available" (leaked, from the
// node's point of view).
func (c *Cloud) TerminateInstance(id core.InstanceID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.instances[id]
	if !ok || inst.state == InstanceTerminated {
		return c.stamp("TerminateInstances", fail(CodeInstanceNotFound, fmt.Sprintf("the instance ID '%s' does not exist", id)))
	}
	for _, e := range inst.attachedSorted() {
		dot := e.att.deleteOnTermination
		c.detachLocked(e)
		if dot {
			c.deleteLocked(e)
		}
	}
	inst.state = InstanceTerminated
	inst.imds = nil
	return nil
}

// SetInstanceState changes an instance's state (running, stopped); only
// running instances accept attachments. Terminate with TerminateInstance.
func (c *Cloud) SetInstanceState(id core.InstanceID, state string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.instances[id]
	if !ok || inst.state == InstanceTerminated {
		return fmt.Errorf("set state of %s: %w", id, core.ErrNotFound)
	}
	if state != InstanceRunning && state != InstanceStopped {
		return fmt.Errorf("set state of %s to %q: %w", id, state, core.ErrInvalidParameter)
	}
	inst.state = state
	return nil
}

// ENISpec describes an ENI created out of band (by an operator, another
// controller or a previous run), bypassing call counting, latency, faults
// and throttling.
type ENISpec struct {
	ports.CreateENIRequest
	// InterfaceType is InterfaceTypeInterface (default), InterfaceTypeTrunk
	// or InterfaceTypeEFA.
	InterfaceType string
	// Instance, when set, attaches the ENI at Device on Card.
	Instance            core.InstanceID
	Device, Card        int
	DeleteOnTermination bool
}

// AddENI creates (and optionally attaches) an ENI out of band, with the
// same checks as CreateENI and AttachENI. Use it for untagged, no_manage,
// trunk or EFA interfaces and for ENIs leaked by an earlier run.
func (c *Cloud) AddENI(spec ENISpec) (core.ENI, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	const op = "AddENI"
	switch spec.InterfaceType {
	case "", InterfaceTypeInterface, InterfaceTypeTrunk, InterfaceTypeEFA:
	default:
		return core.ENI{}, c.stamp(op, fail(CodeInvalidParameterValue, fmt.Sprintf("unknown interface type %q", spec.InterfaceType)))
	}
	var inst *instance
	if spec.Instance != "" {
		var apiErr *APIError
		if inst, apiErr = c.runningInstance(spec.Instance); apiErr != nil {
			return core.ENI{}, c.stamp(op, apiErr)
		}
	}
	now := c.clock.Now()
	e, apiErr := c.createENILocked(spec.CreateENIRequest, netip.Addr{}, now)
	if apiErr != nil {
		return core.ENI{}, c.stamp(op, apiErr)
	}
	if spec.InterfaceType != "" {
		e.interfaceType = spec.InterfaceType
	}
	if inst != nil {
		if apiErr := c.checkAttach(e, inst, spec.Device, spec.Card); apiErr != nil {
			c.deleteLocked(e)
			return core.ENI{}, c.stamp(op, apiErr)
		}
		c.attachLocked(e, inst, spec.Device, spec.Card)
		e.att.deleteOnTermination = spec.DeleteOnTermination
		c.touch(inst, now)
	}
	return c.eniView(e), nil
}

// AssignOutOfBand assigns secondary addresses and /28 prefixes to an ENI as
// if someone else had called AssignPrivateIpAddresses; it is not counted
// and takes no time, but it obeys every limit and lags in metadata.
func (c *Cloud) AssignOutOfBand(id core.ENIID, ips, prefixes int) (ports.Assigned, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.enis[id]
	if !ok {
		return ports.Assigned{}, c.stamp("AssignOutOfBand", eniNotFound(id))
	}
	got, apiErr := c.assignV4Locked(e, ips, prefixes, c.clock.Now())
	if apiErr != nil {
		return ports.Assigned{}, c.stamp("AssignOutOfBand", apiErr)
	}
	return got, nil
}

// UnassignOutOfBand removes secondary addresses and prefixes from an ENI
// behind the node's back (uncounted, no latency, lagging in metadata).
func (c *Cloud) UnassignOutOfBand(id core.ENIID, ips []netip.Addr, prefixes []netip.Prefix) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.enis[id]
	if !ok {
		return c.stamp("UnassignOutOfBand", eniNotFound(id))
	}
	if apiErr := c.unassignV4Locked(e, ips, prefixes, c.clock.Now()); apiErr != nil {
		return c.stamp("UnassignOutOfBand", apiErr)
	}
	return nil
}

// ReserveAddresses marks addresses of a subnet as used by something outside
// the simulation (other tenants, load balancers). It fails without change
// when an address is outside the subnet, reserved by EC2 or already used.
func (c *Cloud) ReserveAddresses(id core.SubnetID, addrs ...netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn, ok := c.subnets[id]
	if !ok {
		return fmt.Errorf("reserve addresses: subnet %s: %w", id, core.ErrNotFound)
	}
	for i, a := range addrs {
		if !sn.v4.take(a) {
			for _, b := range addrs[:i] {
				sn.v4.release(b)
			}
			return fmt.Errorf("reserve %s in subnet %s: outside, reserved or in use: %w", a, id, core.ErrInvalidParameter)
		}
	}
	return nil
}

// ReleaseAddresses undoes ReserveAddresses.
func (c *Cloud) ReleaseAddresses(id core.SubnetID, addrs ...netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn, ok := c.subnets[id]
	if !ok {
		return fmt.Errorf("release addresses: subnet %s: %w", id, core.ErrNotFound)
	}
	for _, a := range addrs {
		if c.ownerOf(sn, a) != nil {
			return fmt.Errorf("release %s in subnet %s: held by an ENI: %w", a, id, core.ErrInvalidParameter)
		}
	}
	for _, a := range addrs {
		sn.v4.release(a)
	}
	return nil
}

// FragmentSubnet reserves one address in every aligned /28 block that is
// still entirely free, so that no /28 prefix can be delegated while most
// single addresses remain available. It returns how many addresses it
// reserved.
func (c *Cloud) FragmentSubnet(id core.SubnetID) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn, ok := c.subnets[id]
	if !ok {
		return 0, fmt.Errorf("fragment subnet %s: %w", id, core.ErrNotFound)
	}
	n := 0
	for off := 0; off+blockSize <= sn.v4.size; off += blockSize {
		if sn.v4.blockFree(off) {
			sn.v4.mark(off + blockSize/2)
			n++
		}
	}
	return n, nil
}

// ownerOf returns the ENI holding address a of the subnet, if any.
func (c *Cloud) ownerOf(sn *subnet, a netip.Addr) *eni {
	for _, e := range c.enis {
		if e.subnet != sn {
			continue
		}
		if e.primaryIP == a || slices.Contains(e.secondary, a) ||
			slices.ContainsFunc(e.prefixes, func(p netip.Prefix) bool { return p.Contains(a) }) {
			return e
		}
	}
	return nil
}

// ENI returns an ENI as DescribeNetworkInterfaces would, without counting a
// call.
func (c *Cloud) ENI(id core.ENIID) (core.ENI, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.enis[id]
	if !ok {
		return core.ENI{}, false
	}
	return c.eniView(e), true
}

// ENIsOf returns the ENIs attached to an instance in (card, device) order,
// without counting a call.
func (c *Cloud) ENIsOf(id core.InstanceID) []core.ENI {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.instances[id]
	if !ok {
		return nil
	}
	var out []core.ENI
	for _, e := range inst.attachedSorted() {
		out = append(out, c.eniView(e))
	}
	return out
}

// Instance returns an instance as DescribeInstances would, without counting
// a call. Terminated instances are not found.
func (c *Cloud) Instance(id core.InstanceID) (core.Instance, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	inst, ok := c.instances[id]
	if !ok || inst.state == InstanceTerminated {
		return core.Instance{}, false
	}
	return c.instanceView(inst), true
}

// SubnetFree returns the number of free IPv4 addresses of a subnet (what
// DescribeSubnets reports as available), or -1 for an unknown subnet.
func (c *Cloud) SubnetFree(id core.SubnetID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn, ok := c.subnets[id]
	if !ok {
		return -1
	}
	return sn.v4.free
}

// SubnetFreePrefixes returns the number of aligned /28 blocks of a subnet
// that could still be delegated, or -1 for an unknown subnet.
func (c *Cloud) SubnetFreePrefixes(id core.SubnetID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	sn, ok := c.subnets[id]
	if !ok {
		return -1
	}
	return sn.v4.freeBlocks()
}

// ENICount returns how many ENIs exist in the region (attached or not).
func (c *Cloud) ENICount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.enis)
}

func (c *Cloud) lookupType(name string) (limits.InstanceType, bool) {
	if c.cfg.InstanceTypes == nil || name == "" {
		return limits.InstanceType{}, false
	}
	return c.cfg.InstanceTypes(name)
}

func (inst *instance) attachedSorted() []*eni {
	out := slices.Collect(maps.Values(inst.enis))
	slices.SortFunc(out, func(a, b *eni) int {
		if a.att.card != b.att.card {
			return a.att.card - b.att.card
		}
		return a.att.device - b.att.device
	})
	return out
}

// stamp fills in the operation and a request id.
func (c *Cloud) stamp(op string, e *APIError) *APIError {
	e.Operation = op
	e.RequestID = c.newRequestID()
	return e
}
