package emulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
)

// DefaultAccountID is the account the emulator reports as owner of
// everything, unless Config.AccountID says otherwise.
const DefaultAccountID = "123456789012"

// Config configures a Server.
type Config struct {
	// Cloud is the simulated region served over HTTP. Required.
	Cloud *memory.Cloud
	// Instance is the instance whose metadata Start serves, and the first
	// instance tracked for attach hooks and for DescribeInstances without
	// ids. Optional when no metadata listener is started.
	Instance core.InstanceID
	// Log receives one debug line per request and one line per failed EC2
	// action. Defaults to discarding.
	Log *slog.Logger
	// AccountID is reported as owner id and in the identity document
	// (memory.Cloud does not expose its own). Defaults to DefaultAccountID.
	AccountID string
	// OnAttach is called for every ENI newly seen attached to a tracked
	// instance: once in New for the ENIs attached already (the primary
	// included, marked Primary), then after each served action or Sync that
	// attached one. It runs before the response is written; it must not
	// call back into the Server.
	OnAttach func(core.ENI)
	// OnDetach is called with the last known view of every ENI that
	// disappeared from a tracked instance (detached, deleted with it).
	OnDetach func(core.ENI)
	// AllowNonLoopback lets Start and StartIMDS listen on addresses other
	// than loopback (for example 169.254.169.254 inside a test network
	// namespace). The emulator has no authentication, so it is off by
	// default.
	AllowNonLoopback bool
}

// Server serves one simulated region over HTTP.
type Server struct {
	cfg   Config
	cloud *memory.Cloud
	log   *slog.Logger
	// now reads wall-clock time for metadata token lifetimes; tests
	// replace it.
	now func() time.Time

	mu           sync.Mutex
	reqIDs       *rand.Rand
	clientTokens map[string]core.ENIID
	tracked      []core.InstanceID
	imds         map[core.InstanceID]*imdsHandler
	servers      []*http.Server
	closed       bool

	// syncMu serialises hook diffs; attached is the last observed state.
	syncMu   sync.Mutex
	attached map[core.InstanceID]map[core.ENIID]core.ENI
}

// New returns a server for the region. It tracks cfg.Instance (if set) and
// reports the ENIs attached to it to OnAttach before returning.
func New(cfg Config) (*Server, error) {
	if cfg.Cloud == nil {
		return nil, fmt.Errorf("new emulator: Config.Cloud is required: %w", core.ErrInvalidParameter)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	s := &Server{
		cfg:          cfg,
		cloud:        cfg.Cloud,
		log:          cfg.Log,
		now:          time.Now,
		reqIDs:       rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		clientTokens: map[string]core.ENIID{},
		imds:         map[core.InstanceID]*imdsHandler{},
		attached:     map[core.InstanceID]map[core.ENIID]core.ENI{},
	}
	if cfg.Instance != "" {
		s.Track(cfg.Instance)
	}
	return s, nil
}

// Track adds instances to those whose attachments feed the hooks and that
// DescribeInstances lists when called without ids. Instances named in an
// AttachNetworkInterface request or given to IMDSHandler are tracked
// automatically.
func (s *Server) Track(ids ...core.InstanceID) {
	s.mu.Lock()
	for _, id := range ids {
		if id != "" && !slices.Contains(s.tracked, id) {
			s.tracked = append(s.tracked, id)
		}
	}
	s.mu.Unlock()
	s.Sync()
}

func (s *Server) trackedInstances() []core.InstanceID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tracked)
}

// Sync compares the attached ENIs of every tracked instance with what the
// server saw last and calls OnAttach and OnDetach for the differences. The
// server calls it itself after every action that may change attachments;
// call it after changing the cloud out of band (memory.Cloud.AddENI,
// TerminateInstance, ...).
func (s *Server) Sync() {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	for _, id := range s.trackedInstances() {
		now := map[core.ENIID]core.ENI{}
		for _, e := range s.cloud.ENIsOf(id) {
			now[e.ID] = e
		}
		before := s.attached[id]
		for _, e := range sortedENIs(before) {
			if n, ok := now[e.ID]; !ok || n.AttachmentID != e.AttachmentID {
				s.log.Debug("eni detached", "instance", string(id), "eni", string(e.ID), "mac", e.MAC)
				if s.cfg.OnDetach != nil {
					s.cfg.OnDetach(e)
				}
			}
		}
		for _, e := range sortedENIs(now) {
			if b, ok := before[e.ID]; !ok || b.AttachmentID != e.AttachmentID {
				s.log.Debug("eni attached", "instance", string(id), "eni", string(e.ID), "mac", e.MAC, "device", e.DeviceNumber)
				if s.cfg.OnAttach != nil {
					s.cfg.OnAttach(e)
				}
			}
		}
		s.attached[id] = now
	}
}

// sortedENIs orders ENIs by (card, device) so hooks fire deterministically.
func sortedENIs(m map[core.ENIID]core.ENI) []core.ENI {
	out := make([]core.ENI, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b core.ENI) int {
		return cmp.Or(cmp.Compare(a.NetworkCard, b.NetworkCard), cmp.Compare(a.DeviceNumber, b.DeviceNumber), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func (s *Server) newRequestID() string {
	s.mu.Lock()
	a, b := s.reqIDs.Uint64(), s.reqIDs.Uint64()
	s.mu.Unlock()
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// Start listens on ec2Addr and imdsAddr (host:port on loopback; port 0
// picks a free one) and serves the EC2 API and the metadata of
// Config.Instance until ctx ends or Close is called. An empty imdsAddr
// starts no metadata listener. It returns the base URLs to give the SDK.
func (s *Server) Start(ctx context.Context, ec2Addr, imdsAddr string) (ec2URL, imdsURL string, err error) {
	if imdsAddr != "" && s.cfg.Instance == "" {
		return "", "", fmt.Errorf("start emulator: a metadata listener needs Config.Instance: %w", core.ErrInvalidParameter)
	}
	ec2URL, err = s.serve(ctx, "ec2", ec2Addr, s.EC2Handler())
	if err != nil {
		return "", "", err
	}
	if imdsAddr != "" {
		imdsURL, err = s.StartIMDS(ctx, s.cfg.Instance, imdsAddr)
		if err != nil {
			s.Close()
			return "", "", err
		}
	}
	return ec2URL, imdsURL, nil
}

// StartIMDS serves the metadata of another instance on its own listener,
// until ctx ends or Close is called, and returns its base URL.
func (s *Server) StartIMDS(ctx context.Context, instance core.InstanceID, addr string) (string, error) {
	if instance == "" {
		return "", fmt.Errorf("start metadata listener: empty instance id: %w", core.ErrInvalidParameter)
	}
	return s.serve(ctx, "imds", addr, s.IMDSHandler(instance))
}

func (s *Server) serve(ctx context.Context, name, addr string, h http.Handler) (string, error) {
	if err := s.checkAddr(addr); err != nil {
		return "", fmt.Errorf("start %s listener: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("start %s listener on %s: %w", name, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return "", fmt.Errorf("start %s listener: server closed: %w", name, core.ErrInvalidState)
	}
	s.servers = append(s.servers, srv)
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener failed", "listener", name, "addr", ln.Addr().String(), "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	u := "http://" + ln.Addr().String()
	s.log.Info("listening", "listener", name, "url", u)
	return u, nil
}

func (s *Server) checkAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w: %w", addr, err, core.ErrInvalidParameter)
	}
	if s.cfg.AllowNonLoopback || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("address %q is not on loopback (set Config.AllowNonLoopback to serve elsewhere): %w", addr, core.ErrInvalidParameter)
	}
	return nil
}

// Close stops every listener. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	s.closed = true
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close emulator: %w", err)
	}
	return nil
}
