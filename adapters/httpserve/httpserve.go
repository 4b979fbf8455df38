// Package httpserve runs one small HTTP server in the background with a
// clean start/stop life cycle. The read-only endpoints of ipamd
// (introspection, metrics) share it so their start, address and graceful
// shutdown behave the same way.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// Server serves one handler on one listener.
type Server struct {
	name    string
	timeout time.Duration
	log     *slog.Logger

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// New returns a server named name (used in logs and errors) whose requests
// time out after timeout.
func New(name string, timeout time.Duration, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{name: name, timeout: timeout, log: log}
}

// Start serves h on ln in the background. A server starts once.
func (s *Server) Start(ln net.Listener, h http.Handler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = ln.Close()
		return fmt.Errorf("start %s server: already started: %w", s.name, core.ErrInvalidState)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: h, ReadTimeout: s.timeout, ReadHeaderTimeout: s.timeout, WriteTimeout: s.timeout}
	srv := s.srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(s.name+" server stopped", "address", ln.Addr().String(), "error", err)
		}
	}()
	s.log.Info("serving "+s.name, "address", ln.Addr().String())
	return nil
}

// Addr is the listening address (nil before Start).
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stop shuts the server down, waiting for requests in flight until ctx
// ends. Stopping a server that never started is a no-op.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("stop %s server: %w", s.name, err)
	}
	return nil
}
