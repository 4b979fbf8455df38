package introspection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vpc-cni/vpc-cni/adapters/httpserve"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
)

// DefaultAddress is upstream's bind address.
const DefaultAddress = "127.0.0.1:61679"

// Timeout bounds reading a request and writing a response.
const Timeout = 5 * time.Second

// State is what /v1/enis and /v1/pods render.
type State struct {
	// ENIs are the pool's ENIs with their blocks.
	ENIs []datastore.ENIView
	// Assignments are the pod addresses.
	Assignments []datastore.Assignment
	// Cooldowns are addresses released recently.
	Cooldowns []core.Cooldown
}

// StateSource supplies the state at request time.
type StateSource interface {
	IntrospectionState() State
}

// StateFunc adapts a function to StateSource.
type StateFunc func() State

// IntrospectionState calls f.
func (f StateFunc) IntrospectionState() State { return f() }

// ErrNoAPIServer is what ENIConfigName returns when the agent has no
// Kubernetes client.
var ErrNoAPIServer = errors.New("no API server")

// Config configures a Server.
type Config struct {
	// Address is host:port or unix:<path>; DefaultAddress when empty.
	Address string
	// NetworkSettings and IPAMDSettings are the bodies of
	// /v1/networkutils-env-settings and /v1/ipamd-env-settings.
	NetworkSettings map[string]any
	IPAMDSettings   map[string]any
	// ENIConfigName returns the node's ENIConfig name; nil answers 404
	// with ErrNoAPIServer.
	ENIConfigName func(ctx context.Context) (string, error)
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
}

// Server is the introspection HTTP server.
type Server struct {
	cfg Config
	src StateSource
	log *slog.Logger
	mux *http.ServeMux
	// http runs the listener with the 5 s timeouts upstream uses.
	http *httpserve.Server
}

// Paths lists the endpoints, as / reports them.
var Paths = []string{"/v1/enis", "/v1/pods", "/v1/eni-configs", "/v1/networkutils-env-settings", "/v1/ipamd-env-settings"}

// New builds a server. It does not listen; Start does.
func New(cfg Config, src StateSource) (*Server, error) {
	if src == nil {
		return nil, fmt.Errorf("introspection needs a state source: %w", core.ErrInvalidParameter)
	}
	if cfg.Address == "" {
		cfg.Address = DefaultAddress
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, src: src, log: log, mux: http.NewServeMux(), http: httpserve.New("introspection", Timeout, log)}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, map[string][]string{"AvailableCommands": Paths})
	})
	s.mux.HandleFunc("GET /v1/enis", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, RenderENIs(s.src.IntrospectionState()))
	})
	s.mux.HandleFunc("GET /v1/pods", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, RenderPods(s.src.IntrospectionState()))
	})
	s.mux.HandleFunc("GET /v1/networkutils-env-settings", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, nonNil(cfg.NetworkSettings))
	})
	s.mux.HandleFunc("GET /v1/ipamd-env-settings", func(w http.ResponseWriter, _ *http.Request) {
		s.writeJSON(w, nonNil(cfg.IPAMDSettings))
	})
	s.mux.HandleFunc("GET /v1/eni-configs", s.eniConfigs)
	return s, nil
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Handler serves every path (with request logging).
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("introspection request", "method", r.Method, "uri", r.RequestURI, "remote", r.RemoteAddr)
		s.mux.ServeHTTP(w, r)
	})
}

func (s *Server) eniConfigs(w http.ResponseWriter, r *http.Request) {
	get := s.cfg.ENIConfigName
	if get == nil {
		get = func(context.Context) (string, error) { return "", ErrNoAPIServer }
	}
	name, err := get(r.Context())
	if err != nil {
		s.log.Debug("ENIConfig lookup failed", "error", err)
		http.Error(w, fmt.Sprintf("ENIConfig of this node: %v", err), http.StatusNotFound)
		return
	}
	s.writeJSON(w, name)
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode introspection response", "error", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(b); err != nil {
		s.log.Debug("write introspection response", "error", err)
	}
}

// Start listens on Config.Address and serves in the background.
func (s *Server) Start() error {
	ln, err := listen(s.cfg.Address)
	if err != nil {
		return err
	}
	return s.http.Start(ln, s.Handler())
}

// Addr is the listening address (nil before Start).
func (s *Server) Addr() net.Addr { return s.http.Addr() }

// Stop shuts the server down, waiting for requests in flight until ctx
// ends. A unix socket is removed (closing its listener unlinks it).
func (s *Server) Stop(ctx context.Context) error { return s.http.Stop(ctx) }

// listen opens host:port or unix:<path>. A stale socket file left by a
// crash is replaced; anything else in the way is an error.
func listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen for introspection on %s: %w", addr, err)
		}
		return ln, nil
	}
	if path == "" || !filepath.IsAbs(path) {
		return nil, fmt.Errorf("introspection socket %q must be an absolute path: %w", path, core.ErrInvalidParameter)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("introspection socket %s exists and is not a socket: %w", path, core.ErrInvalidState)
		}
		if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("introspection socket %s: another server is listening on it: %w", path, core.ErrInvalidState)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale introspection socket %s: %w", path, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create introspection socket directory: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen for introspection on %s: %w", addr, err)
	}
	return ln, nil
}

// sortedAssignments returns a copy sorted by address.
func sortedAssignments(in []datastore.Assignment) []datastore.Assignment {
	out := append([]datastore.Assignment(nil), in...)
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Less(out[j].Addr) })
	return out
}
