package ports

import (
	"context"
	"net/netip"

	"github.com/vpc-cni/vpc-cni/core"
)

// ENINetwork is what the host needs to route pods of one secondary ENI.
type ENINetwork struct {
	ID  core.ENIID
	MAC string
	// DeviceNumber and NetworkCard give the route table (core.RouteTableFor).
	DeviceNumber int
	NetworkCard  int
	RouteTable   int
	// PrimaryIP is the ENI's own address; SubnetCIDR its subnet. The
	// gateway is the subnet's first host address.
	PrimaryIP  netip.Addr
	SubnetCIDR netip.Prefix
	Gateway    netip.Addr
	MTU        int
}

// HostConfig is the node-wide routing setup ipamd applies at start and
// keeps in place.
type HostConfig struct {
	// PrimaryInterface is the link carrying the primary ENI (eth0), found by
	// PrimaryMAC when empty.
	PrimaryInterface string
	PrimaryMAC       string
	PrimaryIP        netip.Addr
	MTU              int
	// ConnmarkRule adds the rule "fwmark <Mark>/<Mark> lookup main" at
	// priority 1024 (NodePort support or on-node SNAT).
	ConnmarkRule bool
	Mark         uint32
	// ExternalServiceCIDRs get "to <cidr> lookup main" at priority 1535.
	ExternalServiceCIDRs []netip.Prefix
	// NodePortSupport sets loose reverse-path filtering on the primary
	// interface.
	NodePortSupport bool
}

// HostNetwork is ipamd's host-level datapath: the primary interface, one
// route table and source rule per secondary ENI, node-wide rules. Every
// method is idempotent and level-triggered: calling it again repairs
// whatever something else removed, and "already exists" is success.
type HostNetwork interface {
	SetupHost(ctx context.Context, cfg HostConfig) error
	// PrimaryInterface is the name of the link SetupHost last found
	// carrying the primary ENI (by PrimaryMAC: "eth0", "ens5", ...), ""
	// before it found one.
	PrimaryInterface() string
	SetupENI(ctx context.Context, eni ENINetwork) error
	TeardownENI(ctx context.Context, eni ENINetwork) error
	// HostVeths returns the names of the node's veths that are named as
	// pods' host veths are (a prefix of 1 to 4 characters, then 11 hex
	// digits from the pod), whatever the prefix: the veth prefix setting
	// may have changed since a running pod was wired. ipamd treats a pod
	// whose veth is not listed as gone.
	HostVeths(ctx context.Context) (map[string]bool, error)
	// SyncPodRules puts back what is missing of each listed pod's node
	// side: "to <addr> lookup main" at 512, "from <addr> lookup <table>"
	// at 1536 unless the table is main, and the route "<addr> dev <veth>
	// scope link" in main. A pod whose host veth is absent or down is
	// skipped (its ADD or DEL is under way and the plugin finishes the
	// job). It only adds: nothing is deleted, neither for listed pods nor
	// for addresses not listed (an ADD may be in flight), and a route to
	// the address through another link is left alone. A pod that cannot be
	// repaired does not stop the others; the error joins every failure.
	SyncPodRules(ctx context.Context, pods []PodRoute) error
	// Render prints the state this adapter owns (rules, routes, link
	// settings) in a stable text form, for tests and operators.
	Render(ctx context.Context) (string, error)
}

// PodRoute is what the node needs to route to and from one wired pod.
type PodRoute struct {
	Addr netip.Addr
	// RouteTable is the table of the pod's ENI: 254 (main) for the
	// primary ENI, which needs no from-pod rule.
	RouteTable int
	// HostVeth is the host end of the pod's veth (<prefix><hash>).
	HostVeth string
}

// PodSpec is one pod interface to wire.
type PodSpec struct {
	ContainerID string
	// Netns is the path of the pod's network namespace.
	Netns string
	// IfName is the interface inside the pod (eth0).
	IfName string
	// HostVeth is the host-side veth name (<prefix><hash>).
	HostVeth string
	Addr     netip.Addr
	MTU      int
	// RouteTable is the ENI's table for traffic from the pod; 254 (main)
	// for the primary ENI, in which case no from-pod rule is added.
	RouteTable int
}

// PodResult describes what was wired.
type PodResult struct {
	HostVeth     string
	HostMAC      string
	ContainerMAC string
}

// PodNetwork wires pods: veth pair, pod address and routes, static ARP
// entry for the gateway, host route and policy rules. Setup is idempotent
// (a retried ADD converges); Teardown succeeds for anything already gone.
type PodNetwork interface {
	// PreparePod does the part of SetupPod that does not depend on the
	// pod's address, so it can run while the address is still being
	// asked for: the veth pair (created, or reused when both ends already
	// are each other's peer) with HostVeth, IfName and MTU, both ends up,
	// the pod's routes through the link-local gateway and its neighbour
	// entry. p.Addr and p.RouteTable are ignored (they may be unset). It is
	// idempotent; an address left on a reused pair stays until SetupPod.
	// A SetupPod that follows for the same Netns, IfName, HostVeth and MTU
	// only adds the address-dependent steps; SetupPod alone still does
	// everything. TeardownPod without an address removes a prepared pair.
	PreparePod(ctx context.Context, p PodSpec) (PodResult, error)
	SetupPod(ctx context.Context, p PodSpec) (PodResult, error)
	TeardownPod(ctx context.Context, p PodSpec) error
	CheckPod(ctx context.Context, p PodSpec) error
}

// SNATMode is how the SNAT rule randomises source ports.
type SNATMode string

const (
	SNATRandomFully SNATMode = "prng"       // --random-fully (falls back to --random)
	SNATRandom      SNATMode = "hashrandom" // --random
	SNATNone        SNATMode = "none"
)

// FirewallConfig is the desired node-wide packet filtering and NAT state.
type FirewallConfig struct {
	// ExternalSNAT: the node does no SNAT at all (a NAT gateway does).
	ExternalSNAT bool
	// PrimaryIP is the SNAT source; PrimaryInterface the node's main link.
	PrimaryIP        netip.Addr
	PrimaryInterface string
	// VPCCIDRs and ExcludeCIDRs are destinations that are not SNATed.
	VPCCIDRs      []netip.Prefix
	ExcludeCIDRs  []netip.Prefix
	RandomizeSNAT SNATMode
	// VethPrefix matches pod host veths ("eni" → "eni+").
	VethPrefix string
	// Mark is the connmark bit (0x80 by default).
	Mark uint32
	// NodePortSupport adds the mangle rules that send replies of NodePort
	// traffic back through the primary interface.
	NodePortSupport bool
}

// Firewall programs SNAT and connmark rules. Apply is level-triggered: it
// makes the backend hold exactly the desired rules (adding missing ones,
// removing stale ones it owns) and is safe to call periodically.
type Firewall interface {
	Name() string
	Apply(ctx context.Context, cfg FirewallConfig) error
	// Teardown removes everything this backend owns.
	Teardown(ctx context.Context) error
	// Render prints the rules this backend owns, stable and sorted, in the
	// backend's native syntax (iptables-save or nft list lines).
	Render(ctx context.Context) (string, error)
}
