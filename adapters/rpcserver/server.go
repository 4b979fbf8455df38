package rpcserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Defaults and well-known names.
const (
	DefaultSocket = "/var/run/aws-node/ipamd.sock"
	// SocketMode lets root and the socket's group call the agent.
	SocketMode os.FileMode = 0o660
	// DirMode is the mode of a socket directory Start creates.
	DirMode os.FileMode = 0o755
	// HealthServiceAWSNode is the service name upstream sets SERVING.
	HealthServiceAWSNode = "grpc.health.v1.aws-node"
	// HealthServiceAddresses is SERVING while an ADD can succeed.
	HealthServiceAddresses = "vpc-cni.addresses"
	// DefaultHealthInterval is how often health statuses are refreshed
	// when nothing else refreshes them.
	DefaultHealthInterval = 5 * time.Second
)

// NodeInfo is what the network policy agent asks the agent about the node.
type NodeInfo struct {
	InstanceID      core.InstanceID
	Region          string
	IPv4            netip.Addr
	IPv6            netip.Addr
	MultiNICEnabled bool
}

// Config configures a Server.
type Config struct {
	// Socket is the unix socket path; DefaultSocket when empty.
	Socket string
	// Version is the agent's version, compared with each request's
	// ClientVersion.
	Version string
	// ExternalSNAT is AWS_VPC_K8S_CNI_EXTERNALSNAT.
	ExternalSNAT bool
	// ExcludeSNATCIDRs is AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS, returned with
	// the VPC CIDRs when the node does SNAT.
	ExcludeSNATCIDRs []netip.Prefix
	// NetworkPolicyMode is NETWORK_POLICY_ENFORCING_MODE, passed to the
	// plugin with each reply.
	NetworkPolicyMode string
	// NodeInfo, when set, enables rpc.ConfigServerBackend.
	NodeInfo func() NodeInfo
	// HealthInterval is how often health statuses are refreshed;
	// DefaultHealthInterval when zero, never when negative.
	HealthInterval time.Duration
	// Observer receives request counts; nil ignores them.
	Observer ports.CNIRequestObserver
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
}

// Server serves the plugin contract on a unix socket.
type Server struct {
	cfg    Config
	ipam   ports.PodIPAM
	log    *slog.Logger
	health *health.Server
	grpc   *grpc.Server

	warnEmptyVersion sync.Once
	// shutdown is closed when Stop begins; it ends health watches, which
	// would otherwise hold a graceful stop forever.
	shutdown chan struct{}

	mu       sync.Mutex
	ln       net.Listener
	stop     chan struct{}
	done     sync.WaitGroup
	stopped  bool
	lastNode healthpb.HealthCheckResponse_ServingStatus
	lastAddr healthpb.HealthCheckResponse_ServingStatus
}

var (
	_ rpcgrpc.CNIBackendServer          = (*cniBackend)(nil)
	_ rpcgrpc.IPAMAdminServer           = (*ipamAdmin)(nil)
	_ rpcgrpc.ConfigServerBackendServer = (*configServer)(nil)
)

// New builds a server. It touches nothing on disk; Start listens.
func New(cfg Config, ipam ports.PodIPAM) (*Server, error) {
	if ipam == nil {
		return nil, fmt.Errorf("gRPC server needs the pod IPAM port: %w", core.ErrInvalidParameter)
	}
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if !filepath.IsAbs(cfg.Socket) {
		return nil, fmt.Errorf("gRPC socket path %q must be absolute: %w", cfg.Socket, core.ErrInvalidParameter)
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = DefaultHealthInterval
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, ipam: ipam, log: log, health: health.NewServer(), grpc: grpc.NewServer(serverOptions...), shutdown: make(chan struct{})}
	// The health server starts with "" SERVING; nothing is served until
	// the node is ready.
	for _, name := range []string{"", HealthServiceAWSNode, HealthServiceAddresses} {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	s.lastNode, s.lastAddr = healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	rpcgrpc.RegisterCNIBackendServer(s.grpc, &cniBackend{s: s})
	rpcgrpc.RegisterIPAMAdminServer(s.grpc, &ipamAdmin{s: s})
	if cfg.NodeInfo != nil {
		rpcgrpc.RegisterConfigServerBackendServer(s.grpc, &configServer{s: s})
	}
	healthpb.RegisterHealthServer(s.grpc, &stoppableHealth{Server: s.health, shutdown: s.shutdown})
	return s, nil
}

// Socket returns the socket path.
func (s *Server) Socket() string { return s.cfg.Socket }

// Start listens on the socket and serves in the background until Stop.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.stopped {
		return fmt.Errorf("start gRPC server on %s: already started: %w", s.cfg.Socket, core.ErrInvalidState)
	}
	ln, err := listenUnix(s.cfg.Socket)
	if err != nil {
		return err
	}
	s.ln = ln
	s.stop = make(chan struct{})
	s.refreshLocked()
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		if err := s.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("gRPC server stopped", "socket", s.cfg.Socket, "error", err)
		}
	}()
	if s.cfg.HealthInterval > 0 {
		s.done.Add(1)
		go s.refreshLoop(s.stop)
	}
	s.log.Info("serving CNI requests", "socket", s.cfg.Socket, "version", s.cfg.Version)
	return nil
}

func (s *Server) refreshLoop(stop <-chan struct{}) {
	defer s.done.Done()
	t := time.NewTicker(s.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.Refresh()
		}
	}
}

// Stop stops serving: in-flight requests finish until ctx ends, then the
// rest are cut. The socket file is removed.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.ln != nil
	if started {
		close(s.stop)
	}
	s.mu.Unlock()
	s.health.Shutdown()
	close(s.shutdown)
	finished := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(finished)
	}()
	select {
	case <-finished:
	case <-ctx.Done():
		s.grpc.Stop()
		<-finished
	}
	s.done.Wait()
	if started {
		if err := os.Remove(s.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove gRPC socket %s: %w", s.cfg.Socket, err)
		}
	}
	return nil
}

// Refresh sets the health statuses from the pod IPAM port now.
func (s *Server) Refresh() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked()
}

func (s *Server) refreshLocked() {
	if s.stopped {
		return
	}
	node, addr := healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	if s.ipam.Ready() {
		node = healthpb.HealthCheckResponse_SERVING
		if s.ipam.CanServe() {
			addr = healthpb.HealthCheckResponse_SERVING
		}
	}
	if node != s.lastNode {
		s.health.SetServingStatus("", node)
		s.health.SetServingStatus(HealthServiceAWSNode, node)
		s.log.Info("health changed", "service", HealthServiceAWSNode, "status", node.String())
		s.lastNode = node
	}
	if addr != s.lastAddr {
		s.health.SetServingStatus(HealthServiceAddresses, addr)
		s.log.Info("health changed", "service", HealthServiceAddresses, "status", addr.String())
		s.lastAddr = addr
	}
}

// listenUnix prepares the socket's directory, clears a stale socket and
// listens with mode SocketMode.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
		return nil, fmt.Errorf("create gRPC socket directory %s: %w", filepath.Dir(path), err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("gRPC socket path %s exists and is not a socket (%s): %w", path, fi.Mode().Type(), core.ErrInvalidState)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("gRPC socket %s: another agent is serving on it: %w", path, core.ErrInvalidState)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale gRPC socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on gRPC socket %s: %w", path, err)
	}
	// Listen creates the socket with the umask's mode; set ours.
	if err := os.Chmod(path, SocketMode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("set mode %o on gRPC socket %s: %w", SocketMode, path, err)
	}
	return ln, nil
}

// stoppableHealth ends Watch streams when the server shuts down, so a
// client watching health (grpc-health-probe does not, but others may)
// cannot hold a graceful stop open.
type stoppableHealth struct {
	*health.Server
	shutdown <-chan struct{}
}

func (h *stoppableHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-h.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, watchStream{Health_WatchServer: stream, ctx: ctx})
	select {
	case <-h.shutdown:
		return status.Error(codes.Unavailable, "ipamd is shutting down")
	default:
		return err
	}
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }

// serverOptions suit a server whose clients are local processes making a
// call or two per connection (the plugin is executed once per pod):
//   - A fixed stream window turns off grpc-go's bandwidth estimation,
//     which answers a connection's first data with a PING the plugin must
//     read and acknowledge; 1 MiB is far more than any message here. The
//     connection window stays at HTTP/2's initial 64 KiB: a larger one is
//     announced with a WINDOW_UPDATE frame on every new connection, one
//     more frame for the plugin to read.
//   - Small read and write buffers: grpc-go allocates 32 KiB of each per
//     connection, for messages of a few hundred bytes.
var serverOptions = []grpc.ServerOption{
	grpc.StaticStreamWindowSize(1 << 20),
	grpc.ReadBufferSize(4 << 10),
	grpc.WriteBufferSize(4 << 10),
}
