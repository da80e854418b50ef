package proxy

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/firewall"
	"github.com/pgshield/pgshield/metrics"
)

// reservedPrefix names pgshield's own prepared statements; clients may not
// use it, by protocol or in SQL.
const reservedPrefix = "__pgshield"

// clientPump reads client messages and sends them to the attached backend
// connection, whole and bounded. On the way it asks the firewall about
// every statement text, replaces a denied one with a marker the backend
// fails on (so the backend's own state machine aborts the transaction
// exactly as for any failed statement), maps the client's statement names
// to the connection's, and at the start of every transaction queues
// pgshield's enforcement statement ahead of the client's first message,
// pipelined, with no extra round trip.
type clientPump struct {
	s  *session
	fe *msgReader
	// fw is nil when the firewall is off.
	fw firewall.Checker

	// The fields below belong to the pump goroutine.
	buf []byte
	// started: this cycle (since the last Query or Sync) has begun.
	started bool
	// discarding: a denied extended-protocol message was replaced by a
	// marker; like the backend, skip everything until the client's Sync.
	discarding bool
	// resetAfter: this cycle runs under a session-level role (for a
	// statement PostgreSQL refuses in a transaction); reset it after.
	resetAfter bool
	// deadlineSet: an idle timeout's read deadline is on the connection.
	deadlineSet bool
	// deferred are named Parses of a cycle that so far holds nothing else,
	// received with no connection attached: if a Sync follows, pgshield
	// answers them itself and prepares the statements where they are first
	// used, so a client preparing statements one by one (libpq's PQprepare)
	// never waits for a connection it does not need.
	deferred []*pgproto3.Parse
	// lastUnnamed is the unnamed statement's text and portals what each
	// portal runs, for the audit log.
	lastUnnamed string
	portals     map[string]portalInfo
}

func newClientPump(s *session, fe *msgReader) *clientPump {
	return &clientPump{s: s, fe: fe, fw: s.srv.opts.Firewall, portals: map[string]portalInfo{}}
}

func (p *clientPump) pump() error {
	for {
		attached, outstanding, status := p.state()
		if attached {
			p.s.mconn.SetState(metrics.StateActive)
		} else {
			p.s.mconn.SetState(metrics.StateIdle)
			// An idle client holds neither a write nor a read buffer: with
			// thousands of them connected, that is most of a session's
			// memory after TLS's.
			p.buf = nil
			if p.fe != nil {
				p.fe.release()
			}
		}
		if err := p.setReadDeadline(outstanding, status); err != nil {
			return err
		}
		msg, err := p.fe.Receive()
		if err != nil {
			return p.readError(err)
		}
		if err := p.handle(msg); err != nil {
			return err
		}
	}
}

// state reads, under one lock, what the next read depends on.
func (p *clientPump) state() (attached, outstanding bool, status byte) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attached != nil, len(s.queue) > 0, s.status
}

// setReadDeadline applies the idle timeouts while nothing is outstanding.
// With no timeout configured it touches the connection only to clear a
// deadline it set before: nothing per message on the common path.
func (p *clientPump) setReadDeadline(outstanding bool, status byte) error {
	s, o := p.s, &p.s.srv.opts
	if s.client == nil {
		return nil // unit tests drive the pump without a client connection
	}
	var d time.Duration
	switch {
	case outstanding:
	case (status == 'T' || status == 'E') && o.IdleTransactionTimeout > 0:
		d = o.IdleTransactionTimeout
	case o.ClientIdleTimeout > 0:
		d = o.ClientIdleTimeout
	}
	if d == 0 {
		if !p.deadlineSet {
			return nil
		}
		p.deadlineSet = false
		return s.client.SetReadDeadline(time.Time{})
	}
	p.deadlineSet = true
	return s.client.SetReadDeadline(time.Now().Add(d))
}

func (p *clientPump) readError(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s := p.s
		s.mu.Lock()
		status := s.status
		s.mu.Unlock()
		if status == 'T' || status == 'E' {
			return fatal("25P03", "terminating connection due to idle-in-transaction timeout")
		}
		return fatal("57P05", "terminating connection due to idle-session timeout")
	}
	return err
}

func (p *clientPump) handle(msg pgproto3.FrontendMessage) error {
	if len(p.deferred) > 0 {
		switch m := msg.(type) {
		case *pgproto3.Sync:
			return p.answerDeferred()
		case *pgproto3.Parse:
			if m.Name != "" && !strings.HasPrefix(m.Name, reservedPrefix) {
				break // may be deferred too
			}
			if err := p.undefer(); err != nil {
				return err
			}
		default:
			if err := p.undefer(); err != nil {
				return err
			}
		}
	}
	switch m := msg.(type) {
	case *pgproto3.Terminate:
		return errTerminate
	case *pgproto3.Flush:
		if err := p.flushIfAttached(m); err != nil {
			return err
		}
		return nil
	case *pgproto3.Sync:
		p.discarding = false
		return p.boundary(expectation{msg: 'S'}, m)
	}
	if p.discarding {
		return nil // like the backend after an error: skip until Sync
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		return p.query(m)
	case *pgproto3.FunctionCall:
		v := firewall.Verdict{Rule: "function_call", Reason: "the FunctionCall protocol message is not allowed through pgshield"}
		p.auditDenied(v, "function_call", "")
		return p.denySimple(v)
	case *pgproto3.Parse:
		return p.parse(m)
	case *pgproto3.Bind:
		return p.bind(m)
	case *pgproto3.Describe:
		return p.describe(m)
	case *pgproto3.Execute:
		return p.execute(m)
	case *pgproto3.Close:
		return p.closeMsg(m)
	default: // CopyData, CopyDone, CopyFail: part of a COPY already queued
		if cd, ok := m.(*pgproto3.CopyData); ok && p.s.srv.opts.Audit != nil {
			p.s.copyIn.Add(int64(len(cd.Data)))
		}
		if err := p.add(m); err != nil {
			return err
		}
		switch m.(type) {
		case *pgproto3.CopyDone, *pgproto3.CopyFail:
			return p.flush()
		}
		if len(p.buf) >= flushAt {
			return p.flush()
		}
		return nil
	}
}

// boundary sends a message that ends a cycle (Query, Sync) and everything
// collected before it.
func (p *clientPump) boundary(e expectation, m pgproto3.FrontendMessage) error {
	if err := p.send([]expectation{e}, m); err != nil {
		return err
	}
	p.started = false
	if p.resetAfter {
		p.resetAfter = false
		if sql := p.s.sessionResetSQL(); sql != "" {
			if err := p.sendOwn(expectation{msg: 'Q', own: true, onErr: injectFatal}, &pgproto3.Query{String: sql}); err != nil {
				return err
			}
			p.s.mu.Lock()
			p.s.pinned = p.s.pinnedByClient
			p.s.mu.Unlock()
		}
	}
	return p.flush()
}

// flushIfAttached passes a Flush on when a connection is attached (with
// none attached there is nothing to flush).
func (p *clientPump) flushIfAttached(m *pgproto3.Flush) error {
	s := p.s
	s.mu.Lock()
	attached := s.attached != nil
	s.mu.Unlock()
	if !attached {
		return nil
	}
	if err := p.add(m); err != nil {
		return err
	}
	return p.flush()
}

func (p *clientPump) add(m pgproto3.FrontendMessage) error {
	var err error
	if p.buf, err = m.Encode(p.buf); err != nil {
		return fatal(codeProtocolViolation, "invalid message from client")
	}
	return nil
}

// flush writes what collected to the attached connection. Everything in
// the buffer has an expectation queued, so the connection cannot have been
// handed back to the pool in between.
func (p *clientPump) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	s := p.s
	s.mu.Lock()
	bc := s.attached
	s.mu.Unlock()
	if bc == nil {
		return fmt.Errorf("%w: no connection attached", errBackendWrite)
	}
	if err := bc.write(p.buf); err != nil {
		return fmt.Errorf("%w: %w", errBackendWrite, err)
	}
	if cap(p.buf) > 64<<10 {
		p.buf = nil // let a huge message's buffer go
	}
	p.buf = p.buf[:0]
	return nil
}
