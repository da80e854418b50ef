package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"log/slog"

	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/backend"
	"github.com/pgshield/pgshield/tlsterm"
)

// session is one client connection, from accept to close.
type session struct {
	srv *Server
	id  string
	// raw is the accepted connection; client wraps it once TLS is up.
	raw    net.Conn
	client *tls.Conn
	log    *slog.Logger
	peer   tlsterm.Peer
	grant  *auth.Grant
	key    cancelKey

	mu sync.Mutex
	// backend is the server connection; set once logged in. Guarded by mu.
	backend *backend.Conn
	// ended is set by the first end call; endErr is what the client is told
	// (nil: nothing, the client left or said goodbye). Guarded by mu.
	ended  bool
	endErr *clientError
}

// run serves the session until it ends. It closes every connection it opened.
func (s *session) run(ctx context.Context) {
	defer s.raw.Close()
	start := s.srv.opts.Now()
	s.raw.SetDeadline(start.Add(s.srv.opts.StartupTimeout))

	ctx, cancel := context.WithTimeout(ctx, s.srv.opts.StartupTimeout)
	fe, err := s.startup(ctx)
	cancel()
	if err != nil {
		s.closeBackend()
		return
	}
	defer s.srv.cancels.unregister(s.key.pid)
	s.raw.SetDeadline(time.Time{})
	s.log.Info("session started", "user", s.grant.User, "database", s.grant.Database,
		"backend_pid", s.backend.PID, "tls", tls.VersionName(s.peer.TLSVersion), "resumed", s.peer.Resumed)
	s.relay(fe)
	s.log.Info("session ended", "duration", s.srv.opts.Now().Sub(start).Round(time.Millisecond))
}

// end records why the session ends and unblocks its goroutines; the first
// reason wins. The backend reader then tells the client, if reason says so.
func (s *session) end(reason *clientError) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.endErr = true, reason
	be := s.backend
	s.mu.Unlock()
	if be != nil {
		be.Close()
	} else {
		s.raw.Close()
	}
	// Whatever still has to reach the client gets a bounded time to do it.
	s.raw.SetWriteDeadline(s.srv.opts.Now().Add(2 * time.Second))
}

func (s *session) endReason() *clientError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

func (s *session) closeBackend() {
	s.mu.Lock()
	be := s.backend
	s.mu.Unlock()
	if be != nil {
		be.Close()
	}
}

// setBackend installs a logged-in backend, unless the session already ended.
func (s *session) setBackend(be *backend.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.backend = be
	return true
}

// cancelQuery forwards a client's CancelRequest to the backend serving it.
func (s *session) cancelQuery(ctx context.Context) {
	s.mu.Lock()
	be := s.backend
	s.mu.Unlock()
	if be == nil {
		return
	}
	if err := s.srv.opts.Backend.Cancel(ctx, be.PID, be.SecretKey); err != nil {
		s.log.Warn("cancel request failed", "err", err)
		return
	}
	s.log.Info("query cancelled", "identity", s.peer.Identity, "backend_pid", be.PID)
}

// newStartupReader returns the pre-TLS reader; small, because only startup
// packets pass through it before TLS takes the raw connection over.
func newStartupReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 512) }

var errRefused = errors.New("refused")
