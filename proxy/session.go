package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/pgwire"
	"github.com/pgshield/pgshield/tlsterm"
)

// session is one client connection, from accept to close.
type session struct {
	srv *Server
	id  string
	// raw is the accepted connection; client wraps it once TLS is up.
	raw net.Conn
	// addr is raw's remote address (the PROXY header's source when there
	// was one, read before accept returned), formatted once: every audit
	// record carries it.
	addr   string
	client *tls.Conn
	log    *slog.Logger
	peer   tlsterm.Peer
	grant  *auth.Grant
	key    cancelKey
	pool   *pool
	mode   string // PoolModeTransaction or PoolModeSession
	// releaseIdentity gives back the identity's connection slot; nil when
	// none was taken.
	releaseIdentity func()
	// enfReady, enfVariant and enfWire memoize enforcement(); the pump
	// goroutine alone uses them.
	enfReady   bool
	enfVariant int
	enfWire    []byte
	// mconn is the connection's metrics state, owned by the session's
	// goroutine; mid is its identity's series, safe from any goroutine.
	mconn metrics.Conn
	mid   *metrics.Identity
	start time.Time

	mu   sync.Mutex
	cond *sync.Cond
	// The fields below are guarded by mu.
	//
	// attached is the backend connection serving the session now, nil
	// between transactions in transaction mode.
	attached *backendConn
	// queue holds what attached still has to answer, in order.
	queue []expectation
	// status is the transaction status of the last ReadyForQuery.
	status byte
	// pinned: the client holds session state that cannot move to another
	// connection; it keeps its connection until it leaves. pinnedByClient
	// is the client's part (pinned is also set while pgshield runs a
	// standalone statement under a session-level role).
	pinned, pinnedByClient bool
	// view is the client's idea of the reported parameters.
	view map[string]string
	// stmts are the client's named prepared statements.
	stmts map[string]stmtDef
	// copyIn counts COPY FROM STDIN bytes the client sent, for the audit
	// record; the reader takes it when the COPY completes.
	copyIn atomic.Int64
	// waiting: the pump waits for a connection from the pool.
	waiting bool
	// readers counts running backendReaders (0 or 1).
	readers int
	// sawFatal: the backend sent a FATAL error, which the client has.
	sawFatal bool
	// ended is set by the first end call; endErr is what the client is told
	// (nil: nothing, the client left or said goodbye).
	ended  bool
	endErr *pgwire.Error
}

// stmtDef is a client's named statement, as it parsed it.
type stmtDef struct {
	query     string
	paramOIDs []uint32
	key       string
}

// establish runs the session's TLS handshake and start-up on the accepting
// goroutine. It returns the client's message reader once the session is
// established; nil when it ended there, having closed what it opened.
// The caller then runs serve on a new goroutine and lets this one exit:
// the handshake (certificate parsing and verification) grows a goroutine's
// stack well past the ~2 KiB a session waiting for its client uses, and a
// parked stack shrinks only by half per GC cycle, of which a server
// holding idle clients runs few. Relaying on the handshake's goroutine
// kept that memory for the session's life (~5 KiB per idle client).
func (s *session) establish(ctx context.Context) *msgReader {
	s.mconn = s.srv.opts.Metrics.OpenConn()
	s.cond = sync.NewCond(&s.mu)
	s.status = 'I'
	s.stmts = map[string]stmtDef{}
	s.start = s.srv.opts.Now()
	s.raw.SetDeadline(s.start.Add(s.srv.opts.StartupTimeout))

	ctx, cancel := context.WithTimeout(ctx, s.srv.opts.StartupTimeout)
	fe, err := s.startup(ctx)
	cancel()
	if err != nil {
		s.end(nil)
		s.waitReaders()
		s.close()
		return nil
	}
	s.raw.SetDeadline(time.Time{})
	return fe
}

// serve relays an established session until it ends, then closes every
// connection it opened.
func (s *session) serve(fe *msgReader) {
	defer s.close()
	s.log.Info("session started", "user", s.grant.User, "database", s.grant.Database, "role", s.grant.Rule.Role,
		"pool_mode", s.mode, "tls", tls.VersionName(s.peer.TLSVersion), "resumed", s.peer.Resumed)
	s.mid = s.srv.opts.Metrics.Identity(s.grant.Rule.Pattern)
	s.mconn.SetIdentity(s.mid)
	s.mconn.SetState(metrics.StateIdle)
	s.relay(fe)
	if s.pinnedByClient {
		s.pool.metrics.PinEnd()
	}
	d := s.srv.opts.Now().Sub(s.start)
	s.record(&audit.Record{Kind: audit.KindDisconnect, DurationUS: d.Microseconds()})
	s.log.Info("session ended", "duration", d.Round(time.Millisecond))
}

// close releases what establish opened: the cancel key (also when start-up
// failed after issuing it), the identity's connection slot, the connection
// metric and the client's socket.
func (s *session) close() {
	s.srv.cancels.unregister(s)
	if s.releaseIdentity != nil {
		s.releaseIdentity()
	}
	s.mconn.Close()
	s.raw.Close()
}

// end records why the session ends and unblocks its goroutines; the first
// reason wins. A backend still attached is closed: it may be mid-transaction
// or hold session state, and is never handed on.
func (s *session) end(reason *pgwire.Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(reason)
}

func (s *session) endLocked(reason *pgwire.Error) {
	if s.ended {
		return
	}
	s.ended, s.endErr = true, reason
	if s.attached != nil {
		s.attached.dirty = true
		s.attached.Close() // the reader sees the error and discards it
	} else {
		// No reader will tell the client; do it here, bounded.
		if reason != nil && s.client != nil {
			s.client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			sendError(s.client, reason)
		}
		if s.client != nil {
			s.client.Close()
		}
		s.raw.Close()
	}
	s.raw.SetWriteDeadline(time.Now().Add(2 * time.Second))
	s.cond.Broadcast()
}

func (s *session) endReason() *pgwire.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endErr
}

// readerDone is called by a backendReader as it stops.
func (s *session) readerDone() {
	s.mu.Lock()
	s.readers--
	s.mu.Unlock()
	s.cond.Broadcast()
}

// waitReaders waits until no backendReader runs.
func (s *session) waitReaders() {
	s.mu.Lock()
	for s.readers > 0 {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

// popLocked removes the first n expectations.
func (s *session) popLocked(n int) {
	s.queue = s.queue[n:]
	if len(s.queue) == 0 {
		s.queue = s.queue[:0:0]
		s.cond.Broadcast()
	}
}

// skipToSyncLocked drops the expectations the backend will skip after an
// error in the extended protocol: everything before the next Sync.
func (s *session) skipToSyncLocked() {
	n := 0
	for n < len(s.queue) && s.queue[n].msg != 'S' {
		if s.queue[n].clientName != "" {
			delete(s.stmts, s.queue[n].clientName)
		}
		if s.queue[n].forgetKey != "" && s.attached != nil {
			s.attached.forget(s.queue[n].forgetKey)
		}
		n++
	}
	s.popLocked(n)
}

// releasableLocked reports whether the attached connection can go back to
// the pool: transaction mode, nothing outstanding, not in a transaction,
// no session state pinning it.
func (s *session) releasableLocked() bool {
	return s.mode == PoolModeTransaction && len(s.queue) == 0 && s.status == 'I' && !s.pinned && !s.ended
}

// detachLocked ends the attachment; the reader hands the connection back.
func (s *session) detachLocked() {
	s.attached = nil
	s.cond.Broadcast()
}

// cancelQuery forwards a client's CancelRequest to the backend serving it
// right now. The session lock is held while the cancel is sent, so the
// connection cannot move to another client in the meantime.
func (s *session) cancelQuery(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	bc := s.attached
	if bc == nil || len(s.queue) == 0 {
		s.log.Info("cancel request: nothing running")
		return
	}
	if err := s.srv.opts.Backend.Cancel(ctx, bc.PID, bc.SecretKey); err != nil {
		s.log.Warn("cancel request failed", "err", err)
		return
	}
	s.log.Info("query cancelled", "backend_pid", bc.PID)
}

var errRefused = errors.New("refused")
