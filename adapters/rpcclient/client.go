package rpcclient

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/vpc-cni/vpc-cni/adapters/lazyctx"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
)

// DefaultSocketPath is where ipamd listens, as upstream since v1.22.
const DefaultSocketPath = "/var/run/aws-node/ipamd.sock"

// Config says where ipamd is and how long to wait for it.
type Config struct {
	// SocketPath is ipamd's unix socket (DefaultSocketPath when empty).
	SocketPath string
	// Dialer opens the connection; nil is the direct transport (see
	// direct.go), adapters/rpcclient/grpcconn.Dial is grpc-go's.
	Dialer Dialer
	// DialTimeout bounds grpcconn's connect and HTTP/2 handshake (2 s
	// when zero). The direct transport needs no bound: connecting a unix
	// socket succeeds or fails at once, and so does a missing socket.
	DialTimeout time.Duration
	// CallTimeout bounds each RPC (10 s when zero); a shorter deadline on
	// the caller's context wins.
	CallTimeout time.Duration
	// ClientVersion is sent in every request that carries one. ipamd
	// refuses requests from another release (ErrVersionMismatch).
	ClientVersion string
}

func (c Config) withDefaults() Config {
	if c.SocketPath == "" {
		c.SocketPath = DefaultSocketPath
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	return c
}

// Conn carries unary gRPC calls to ipamd: method is the full method name
// ("/rpc.CNIBackend/AddNetwork"). An error carrying a gRPC status should be
// made with StatusError, so the client maps it to its sentinels.
type Conn interface {
	Invoke(ctx context.Context, method string, req, resp proto.Message) error
	Close() error
}

// OverlapConn is a Conn that can run other work while ipamd handles a
// call: InvokeWhile calls while once the request has been sent, then reads
// the reply. while runs on the calling goroutine, with the connection busy
// (it must not make calls on it); it is not called when the call fails
// before the request went out.
type OverlapConn interface {
	Conn
	InvokeWhile(ctx context.Context, method string, req, resp proto.Message, while func()) error
}

// Dialer opens a Conn to ipamd's socket at path (absolute, existing)
// within timeout. Errors for a socket that refuses connections should wrap
// ErrUnavailable.
type Dialer func(ctx context.Context, path string, timeout time.Duration) (Conn, error)

// The full gRPC method names the client calls (the tests check them
// against the generated stubs, which this package does not import so that
// the plugin does not link grpc-go).
const (
	methodAddNetwork      = "/rpc.CNIBackend/AddNetwork"
	methodDelNetwork      = "/rpc.CNIBackend/DelNetwork"
	methodListAllocations = "/rpc.IPAMAdmin/ListAllocations"
	methodHealthCheck     = "/grpc.health.v1.Health/Check"
)

// Client is a connection to ipamd. It is safe for concurrent use (calls
// over the direct transport take turns); Close it when done.
type Client struct {
	cfg Config
	t   Conn
}

// New connects to ipamd. It returns an error wrapping ErrUnavailable when the
// socket is missing or refuses connections, or (grpcconn) does not finish
// the handshake within cfg.DialTimeout.
func New(cfg Config) (*Client, error) {
	return connect(context.Background(), cfg)
}

// Dial connects to ipamd at socketPath within timeout (or ctx's deadline,
// whichever comes first); requests carry no client version.
func Dial(ctx context.Context, socketPath string, timeout time.Duration) (*Client, error) {
	return connect(ctx, Config{SocketPath: socketPath, DialTimeout: timeout})
}

// DialConfig is New bounded by ctx as well.
func DialConfig(ctx context.Context, cfg Config) (*Client, error) {
	return connect(ctx, cfg)
}

func connect(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	path := cfg.SocketPath
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("resolve ipamd socket path %q: %w", path, err)
		}
		path = abs
	}
	// A missing socket is the common case (aws-node not running); say so
	// plainly instead of as a connection error.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("connect to ipamd at %s: %w: %v", path, ErrUnavailable, err)
	}
	dial := cfg.Dialer
	if dial == nil {
		dial = func(ctx context.Context, path string, timeout time.Duration) (Conn, error) {
			// A unix socket connects at once or fails: the direct
			// transport has nothing to bound with the timeout.
			return dialDirect(ctx, path, "vpc-cni/"+cfg.ClientVersion)
		}
	}
	t, err := dial(ctx, path, cfg.DialTimeout)
	if err != nil {
		return nil, fmt.Errorf("connect to ipamd at %s: %w", path, err)
	}
	return &Client{cfg: cfg, t: t}, nil
}

// Close releases the connection.
func (c *Client) Close() error {
	if err := c.t.Close(); err != nil {
		return fmt.Errorf("close ipamd connection: %w", err)
	}
	return nil
}

// SocketPath is the socket this client talks to.
func (c *Client) SocketPath() string { return c.cfg.SocketPath }

// PodKey identifies one pod interface, the IPAM key of the CNI spec.
type PodKey struct {
	NetworkName string
	ContainerID string
	IfName      string
}

// Pod names the Kubernetes pod behind a request.
type Pod struct {
	Name             string
	Namespace        string
	InfraContainerID string
	UID              string
}

// AddRequest asks ipamd for the addresses of one pod interface.
type AddRequest struct {
	Key   PodKey
	Pod   Pod
	Netns string
	// MultiNIC asks for one address on every managed network card.
	MultiNIC bool
}

// IPAllocation is one address ipamd gave (or took back from) a pod.
type IPAllocation struct {
	// Addr is the IPv4 or IPv6 address.
	Addr netip.Addr
	// DeviceNumber is the ENI's device number (-1 for branch ENIs).
	DeviceNumber int
	// RouteTable is the host table for traffic from the pod; 0 means
	// ipamd did not say (older servers, branch ENIs).
	RouteTable int
}

// AddReply is ipamd's answer to AddNetwork.
type AddReply struct {
	// Success false means ipamd had no address for the pod; gRPC errors
	// are returned as errors instead.
	Success         bool
	Allocations     []IPAllocation
	UseExternalSNAT bool
	VPCCIDRs        []netip.Prefix
	// VLAN, PodENIMAC, PodENIGateway and ParentIfIndex describe a branch
	// ENI (security groups for pods); VLAN 0 means an ordinary pod.
	VLAN              int
	PodENIMAC         string
	PodENIGateway     netip.Addr
	ParentIfIndex     int
	NetworkPolicyMode string
}

// DelRequest asks ipamd to release a pod interface's addresses.
type DelRequest struct {
	Key    PodKey
	Pod    Pod
	Reason string
}

// DelReply is ipamd's answer to DelNetwork.
type DelReply struct {
	Success           bool
	Allocations       []IPAllocation
	VLAN              int
	NetworkPolicyMode string
}

// Allocation is one pod interface ipamd holds addresses for.
type Allocation struct {
	Key  PodKey
	Pod  Pod
	IPv4 netip.Addr
	IPv6 netip.Addr
}

// AddNetwork asks ipamd for an address. Errors wrap ErrVersionMismatch,
// ErrUnavailable, core.ErrNoAvailableAddress or carry ipamd's message.
func (c *Client) AddNetwork(ctx context.Context, r AddRequest) (AddReply, error) {
	return c.AddNetworkWhile(ctx, r, nil)
}

// AddNetworkWhile is AddNetwork that runs while (unless nil) as ipamd
// works on the request: on an OverlapConn (the direct transport) after
// sending it and before reading the reply, so that the caller's work and
// ipamd's overlap without a second goroutine, and not at all when the
// request could not be sent (the connection broken, the context done); on
// any other Conn before the call. while runs at most once, on the calling
// goroutine.
func (c *Client) AddNetworkWhile(ctx context.Context, r AddRequest, while func()) (AddReply, error) {
	ctx, cancel := lazyctx.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp := new(pb.AddNetworkReply)
	err := c.invokeWhile(ctx, methodAddNetwork, &pb.AddNetworkRequest{
		ClientVersion:              c.cfg.ClientVersion,
		K8S_POD_NAME:               r.Pod.Name,
		K8S_POD_NAMESPACE:          r.Pod.Namespace,
		K8S_POD_INFRA_CONTAINER_ID: r.Pod.InfraContainerID,
		ContainerID:                r.Key.ContainerID,
		IfName:                     r.Key.IfName,
		NetworkName:                r.Key.NetworkName,
		Netns:                      r.Netns,
		RequiresMultiNICAttachment: r.MultiNIC,
	}, resp, while)
	if err != nil {
		return AddReply{}, fmt.Errorf("call AddNetwork: %w", mapError(err))
	}
	allocs, err := allocations(resp.GetIPAllocationMetadata())
	if err != nil {
		return AddReply{}, fmt.Errorf("read AddNetwork reply: %w", err)
	}
	out := AddReply{
		Success:           resp.GetSuccess(),
		Allocations:       allocs,
		UseExternalSNAT:   resp.GetUseExternalSNAT(),
		VLAN:              int(resp.GetPodVlanId()),
		PodENIMAC:         resp.GetPodENIMAC(),
		ParentIfIndex:     int(resp.GetParentIfIndex()),
		NetworkPolicyMode: resp.GetNetworkPolicyMode(),
	}
	for _, list := range [][]string{resp.GetVPCv4CIDRs(), resp.GetVPCv6CIDRs()} {
		for _, s := range list {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return AddReply{}, fmt.Errorf("read AddNetwork reply: VPC CIDR %q: %w", s, err)
			}
			out.VPCCIDRs = append(out.VPCCIDRs, p)
		}
	}
	if gw := resp.GetPodENISubnetGW(); gw != "" {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return AddReply{}, fmt.Errorf("read AddNetwork reply: branch ENI gateway %q: %w", gw, err)
		}
		out.PodENIGateway = a
	}
	return out, nil
}

// invokeWhile makes a call, running while (unless nil) as described at
// AddNetworkWhile.
func (c *Client) invokeWhile(ctx context.Context, method string, req, resp proto.Message, while func()) error {
	if while == nil {
		return c.t.Invoke(ctx, method, req, resp)
	}
	if oc, ok := c.t.(OverlapConn); ok {
		return oc.InvokeWhile(ctx, method, req, resp, while)
	}
	while()
	return c.t.Invoke(ctx, method, req, resp)
}

// DelNetwork asks ipamd to release a pod interface. An unknown key is an
// error wrapping core.ErrUnknownPod.
func (c *Client) DelNetwork(ctx context.Context, r DelRequest) (DelReply, error) {
	ctx, cancel := lazyctx.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp := new(pb.DelNetworkReply)
	err := c.t.Invoke(ctx, methodDelNetwork, &pb.DelNetworkRequest{
		ClientVersion:              c.cfg.ClientVersion,
		K8S_POD_NAME:               r.Pod.Name,
		K8S_POD_NAMESPACE:          r.Pod.Namespace,
		K8S_POD_INFRA_CONTAINER_ID: r.Pod.InfraContainerID,
		K8S_POD_UID:                r.Pod.UID,
		Reason:                     r.Reason,
		ContainerID:                r.Key.ContainerID,
		IfName:                     r.Key.IfName,
		NetworkName:                r.Key.NetworkName,
	}, resp)
	if err != nil {
		return DelReply{}, fmt.Errorf("call DelNetwork: %w", mapError(err))
	}
	allocs, err := allocations(resp.GetIPAllocationMetadata())
	if err != nil {
		return DelReply{}, fmt.Errorf("read DelNetwork reply: %w", err)
	}
	return DelReply{
		Success:           resp.GetSuccess(),
		Allocations:       allocs,
		VLAN:              int(resp.GetPodVlanId()),
		NetworkPolicyMode: resp.GetNetworkPolicyMode(),
	}, nil
}

// ListAllocations returns the pod interfaces ipamd holds addresses for in
// the named network (all networks when empty). An upstream ipamd does not
// have this call: the error then wraps ErrUnimplemented.
func (c *Client) ListAllocations(ctx context.Context, networkName string) ([]Allocation, error) {
	ctx, cancel := lazyctx.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp := new(pb.ListAllocationsReply)
	err := c.t.Invoke(ctx, methodListAllocations, &pb.ListAllocationsRequest{
		ClientVersion: c.cfg.ClientVersion,
		NetworkName:   networkName,
	}, resp)
	if err != nil {
		return nil, fmt.Errorf("call ListAllocations: %w", mapError(err))
	}
	out := make([]Allocation, 0, len(resp.GetAllocations()))
	for _, a := range resp.GetAllocations() {
		al := Allocation{
			Key: PodKey{NetworkName: a.GetNetworkName(), ContainerID: a.GetContainerID(), IfName: a.GetIfName()},
			Pod: Pod{Name: a.GetK8S_POD_NAME(), Namespace: a.GetK8S_POD_NAMESPACE()},
		}
		var err error
		if al.IPv4, err = optionalAddr(a.GetIPv4Addr()); err != nil {
			return nil, fmt.Errorf("read ListAllocations reply: container %s: %w", a.GetContainerID(), err)
		}
		if al.IPv6, err = optionalAddr(a.GetIPv6Addr()); err != nil {
			return nil, fmt.Errorf("read ListAllocations reply: container %s: %w", a.GetContainerID(), err)
		}
		out = append(out, al)
	}
	return out, nil
}

// HealthStatus is a grpc.health.v1 serving status.
type HealthStatus string

const (
	Serving        HealthStatus = "SERVING"
	NotServing     HealthStatus = "NOT_SERVING"
	ServiceUnknown HealthStatus = "SERVICE_UNKNOWN"
	StatusUnknown  HealthStatus = "UNKNOWN"
)

// Health asks ipamd's grpc.health.v1 service about a service name ("" is
// the server as a whole). A name the server does not know is reported as
// ServiceUnknown without an error.
func (c *Client) Health(ctx context.Context, service string) (HealthStatus, error) {
	ctx, cancel := lazyctx.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	resp := new(pb.HealthCheckResponse)
	err := c.t.Invoke(ctx, methodHealthCheck, &pb.HealthCheckRequest{Service: service}, resp)
	if err != nil {
		if code, _, ok := statusOf(err); ok && code == codes.NotFound {
			return ServiceUnknown, nil
		}
		return StatusUnknown, fmt.Errorf("check health of %q: %w", service, mapError(err))
	}
	switch resp.GetStatus() {
	case pb.HealthCheckResponse_SERVING:
		return Serving, nil
	case pb.HealthCheckResponse_NOT_SERVING:
		return NotServing, nil
	case pb.HealthCheckResponse_SERVICE_UNKNOWN:
		return ServiceUnknown, nil
	default:
		return StatusUnknown, nil
	}
}

func allocations(in []*pb.IPAllocationMetadata) ([]IPAllocation, error) {
	out := make([]IPAllocation, 0, len(in))
	for _, m := range in {
		s := m.GetIPv4Addr()
		if s == "" {
			s = m.GetIPv6Addr()
		}
		if s == "" {
			return nil, fmt.Errorf("allocation without an address (device %d)", m.GetDeviceNumber())
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("allocation address %q: %w", s, err)
		}
		a = a.Unmap() // an IPv4 address written in its IPv6-mapped form is IPv4
		out = append(out, IPAllocation{Addr: a, DeviceNumber: int(m.GetDeviceNumber()), RouteTable: int(m.GetRouteTableId())})
	}
	return out, nil
}

func optionalAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("address %q: %w", s, err)
	}
	return a, nil
}
