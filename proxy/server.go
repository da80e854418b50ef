package proxy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/backend"
	"github.com/pgshield/pgshield/firewall"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/pgwire"
	"github.com/pgshield/pgshield/tlsterm"
)

// Backend opens and cancels backend sessions. *backend.Connector is one.
type Backend interface {
	Connect(ctx context.Context, database, role string, params map[string]string) (*backend.Conn, error)
	Cancel(ctx context.Context, pid uint32, key []byte) error
}

// Options configures a Server. Required: TLS, Auth, Backend.
type Options struct {
	// TLS terminates client TLS and verifies client certificates.
	TLS tlsterm.Handshaker
	// Auth decides whether a verified identity may open the session it asks for.
	Auth auth.Verifier
	// Backend logs into the database.
	Backend Backend
	// Logger receives structured logs; discarded when nil.
	Logger *slog.Logger
	// StartupTimeout bounds accept to first ReadyForQuery; 15s when zero.
	StartupTimeout time.Duration
	// MaxMessageBytes caps one client message; 64 MiB when zero.
	MaxMessageBytes int
	// Rand is the source of cancel keys; crypto/rand when nil.
	Rand io.Reader
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Firewall decides which statements may reach the backend; nil: off.
	Firewall firewall.Checker
	// RoleMode is RoleModeSetLocal (the default) or RoleModeLogin.
	RoleMode string
	// IdentitySetting is the custom setting carrying the identity in every
	// transaction; empty: none.
	IdentitySetting string
	// Pool is the default pool settings; PoolOverrides replace them per
	// database.
	Pool          PoolSettings
	PoolOverrides map[string]PoolSettings
	// SessionState is what transaction mode does with session state a
	// client creates: SessionStatePin (default) or SessionStateRefuse.
	SessionState string
	// IdleTransactionTimeout ends a session idle inside a transaction;
	// ClientIdleTimeout one idle outside. Zero: never.
	IdleTransactionTimeout time.Duration
	ClientIdleTimeout      time.Duration
	// Audit records every statement before it is forwarded, and sessions'
	// connects, refusals and disconnects; nil: no audit log.
	Audit audit.Sink
	// Metrics receives every count and latency; a no-op when nil.
	Metrics *metrics.Metrics
	// Edge holds the throttle, limits and allow-lists; SetEdge replaces it.
	Edge Edge
	// InstanceID (0..15) is carried in proxy-issued cancel keys; Peers maps
	// other instances to their listen address, for cancel forwarding.
	InstanceID int
	Peers      map[int]string
	// LoginName names the authenticator's pool in metrics ("" for pools of
	// role_mode login, which are named after the role).
	LoginName string
	// AdminIdentities may open the virtual database AdminDatabase, whose
	// sessions Admin serves. Any other identity gets 42501 there.
	AdminIdentities []string
	Admin           func(ctx context.Context, fe *pgproto3.Backend, w io.Writer, identity string) error
	// MaxClientConn caps client connections (53300 beyond); 1000 when zero.
	MaxClientConn int
	// MaxDBConnections caps backend connections over all pools; zero: none.
	MaxDBConnections int
}

// AdminDatabase is the virtual database of the admin console.
const AdminDatabase = "pgshield"

// What transaction mode does with session state (config pool.session_state).
const (
	SessionStatePin    = "pin"
	SessionStateRefuse = "refuse"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Server accepts and serves pgshield clients.
type Server struct {
	opts    Options
	log     *slog.Logger
	cancels *cancelRegistry
	// ctx is cancelled by Close; every session's work derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	nextID atomic.Uint64
	// dbConns counts backend connections for MaxDBConnections.
	dbConns atomic.Int64
	// maintDone closes when the pool maintenance goroutine has stopped.
	maintDone chan struct{}
	closeOnce sync.Once

	// auth and edgeCfg are swapped by a reload; sessions read them at
	// start-up.
	auth    atomic.Pointer[authHolder]
	edgeCfg atomic.Pointer[Edge]
	// poolsMu guards pools.
	poolsMu sync.Mutex
	pools   map[poolKey]*pool

	mu sync.Mutex
	// listeners, sessions and closing are guarded by mu.
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	closing   bool
	// wg counts session goroutines.
	wg sync.WaitGroup
}

// New validates opts and returns a Server that serves nothing until Serve.
func New(opts Options) (*Server, error) {
	if opts.TLS == nil || opts.Auth == nil || opts.Backend == nil {
		return nil, errors.New("proxy: TLS, Auth and Backend are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartupTimeout == 0 {
		opts.StartupTimeout = 15 * time.Second
	}
	if opts.MaxMessageBytes == 0 {
		opts.MaxMessageBytes = 64 << 20
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch opts.RoleMode {
	case "":
		opts.RoleMode = RoleModeSetLocal
	case RoleModeSetLocal, RoleModeLogin:
	default:
		return nil, fmt.Errorf("proxy: unknown role mode %q", opts.RoleMode)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewNoop()
	}
	if opts.MaxClientConn == 0 {
		opts.MaxClientConn = 1000
	}
	if opts.SessionState == "" {
		opts.SessionState = SessionStatePin
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{
		pools:     map[poolKey]*pool{},
		opts:      opts,
		log:       opts.Logger,
		cancels:   newCancelRegistry(opts.Rand),
		ctx:       ctx,
		cancel:    cancel,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
	}
	srv.auth.Store(&authHolder{opts.Auth})
	e := opts.Edge
	srv.edgeCfg.Store(&e)
	srv.cancels.instance = uint32(opts.InstanceID)
	srv.maintDone = make(chan struct{})
	go srv.maintain()
	return srv, nil
}

// authHolder boxes an auth.Verifier for atomic.Pointer.
type authHolder struct{ auth.Verifier }

// SetAuth replaces the identity rules for sessions that start from now on.
func (s *Server) SetAuth(v auth.Verifier) { s.auth.Store(&authHolder{v}) }

// SetEdge replaces the throttle, limits and allow-lists.
func (s *Server) SetEdge(e Edge) { s.edgeCfg.Store(&e) }

func (s *Server) edge() *Edge { return s.edgeCfg.Load() }

// SetPoolSettings replaces the pool settings; pools that exist adopt the
// new size and timeouts at once (a smaller size shrinks as connections come
// back), new pools are created with them.
func (s *Server) SetPoolSettings(def PoolSettings, overrides map[string]PoolSettings) {
	s.poolsMu.Lock()
	s.opts.Pool, s.opts.PoolOverrides = def, overrides
	pools := make([]*pool, 0, len(s.pools))
	for _, p := range s.pools {
		pools = append(pools, p)
	}
	s.poolsMu.Unlock()
	for _, p := range pools {
		settings := def
		if o, ok := overrides[p.key.database]; ok {
			settings = o
		}
		p.setSettings(settings)
	}
}

// poolFor returns the pool for key, creating it on first use.
func (s *Server) poolFor(key poolKey) *pool {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if p, ok := s.pools[key]; ok {
		return p
	}
	settings := s.opts.Pool
	if o, ok := s.opts.PoolOverrides[key.database]; ok {
		settings = o
	}
	p := newPool(key, settings, func(ctx context.Context) (*backend.Conn, error) {
		if max := s.opts.MaxDBConnections; max > 0 {
			if s.dbConns.Add(1) > int64(max) {
				s.dbConns.Add(-1)
				return nil, &backend.LoginError{SQLState: codeTooManyConnections,
					ClientMessage: "pgshield: max_db_connections reached", Err: errors.New("max_db_connections reached")}
			}
		}
		c, err := s.opts.Backend.Connect(ctx, key.database, key.role, nil)
		if err != nil && s.opts.MaxDBConnections > 0 {
			s.dbConns.Add(-1)
		}
		if err != nil {
			s.opts.Metrics.BackendConnectError(connectReason(err))
		} else {
			s.opts.Metrics.BackendConnect()
		}
		return c, err
	}, s.opts.Now)
	p.onClose = func() {
		if s.opts.MaxDBConnections > 0 {
			s.dbConns.Add(-1)
		}
	}
	p.metrics = s.opts.Metrics.Pool(key.metricName(s.opts.LoginName))
	s.pools[key] = p
	return p
}

// Pools reports every pool, for SHOW POOLS and metrics.
func (s *Server) Pools() []PoolStats {
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	out := make([]PoolStats, 0, len(s.pools))
	for _, p := range s.pools {
		out = append(out, p.stats())
	}
	return out
}

// maintain runs pool housekeeping every few seconds until Close. The
// Server owns this goroutine; maintDone closes when it has stopped.
func (s *Server) maintain() {
	defer close(s.maintDone)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.poolsMu.Lock()
		pools := make([]*pool, 0, len(s.pools))
		for _, p := range s.pools {
			pools = append(pools, p)
		}
		s.poolsMu.Unlock()
		for _, p := range pools {
			p.maintain(s.ctx)
			st := p.stats()
			p.metrics.SetStats(metrics.PoolStats{Size: st.Size, InUse: st.Open - st.Idle, Idle: st.Idle, Waiting: st.Waiting})
		}
	}
}

// closePools stops maintenance and closes every idle connection.
func (s *Server) closePools() {
	s.cancel()
	<-s.maintDone
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	for _, p := range s.pools {
		p.close()
	}
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// ErrServerClosed then. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		raw, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("proxy: accept: %w", err)
		}
		backoff = 0
		sess := s.newSession(raw)
		if sess == nil {
			raw.Close()
			continue
		}
		go func() {
			fe := sess.establish(s.ctx)
			if fe == nil {
				s.forget(sess)
				s.wg.Done()
				return
			}
			go func() { // a fresh stack for the session's life (see establish)
				defer s.wg.Done()
				defer s.forget(sess)
				sess.serve(fe)
			}()
		}()
	}
}

func (s *Server) newSession(raw net.Conn) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	if len(s.sessions) >= s.opts.MaxClientConn {
		sendError(raw, fatal(codeTooManyConnections, "sorry, too many clients already (pgshield max_client_conn)"))
		s.log.Warn("client refused", "reason", "too_many_connections", "client_addr", raw.RemoteAddr().String())
		return nil
	}
	id := fmt.Sprintf("%08x", s.nextID.Add(1))
	addr := raw.RemoteAddr().String()
	sess := &session{
		srv:  s,
		id:   id,
		raw:  raw,
		addr: addr,
		log:  s.log.With("session", id, "client_addr", addr),
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return sess
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Sessions reports how many client connections are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// stopAccepting closes every listener and refuses new sessions.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, waits for sessions to end until ctx is done, then
// ends the remaining ones with 57P01 and waits for them to go.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.closeOnce.Do(s.closePools)
		return nil
	case <-ctx.Done():
	}
	s.terminateAll(fatal(codeAdminShutdown, "terminating connection because pgshield is shutting down"))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		// Sessions stuck writing to a dead client: closing the raw
		// connections below unblocks them.
		s.closeAllRaw()
		<-done
	}
	s.closeOnce.Do(s.closePools)
	return ctx.Err()
}

// Close ends every session at once and stops accepting. Idempotent.
func (s *Server) Close() error {
	s.stopAccepting()
	s.terminateAll(fatal(codeAdminShutdown, "terminating connection because pgshield is shutting down"))
	s.closeAllRaw()
	s.wg.Wait()
	s.closeOnce.Do(s.closePools)
	return nil
}

func (s *Server) terminateAll(reason *pgwire.Error) {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		list = append(list, sess)
	}
	s.mu.Unlock()
	for _, sess := range list {
		sess.end(reason)
	}
}

func (s *Server) closeAllRaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sess := range s.sessions {
		sess.raw.Close()
	}
}
