package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/firewall"
)

// reservedPrefix names pgshield's own prepared statements; clients may not
// use it.
const reservedPrefix = "__pgshield"

// enforceStatement is the prepared statement that puts a transaction under
// the identity's role and identity setting.
const enforceStatement = reservedPrefix + "_enforce"

// clientPump forwards client messages to the backend, whole and bounded. On
// the way it asks the firewall about every statement text, replaces a denied
// one with a marker the backend fails on (so the backend's own state machine
// aborts the transaction exactly as for any failed statement), and, at the
// start of every transaction, injects pgshield's enforcement statement ahead
// of the client's first message, pipelined, with no extra round trip.
type clientPump struct {
	s  *session
	fe *pgproto3.Backend
	be io.Writer
	tx *txState
	// fw is nil when the firewall is off.
	fw firewall.Checker
	// enforceSQL is the enforcement statement's text; empty: no injection.
	enforceSQL string
	// token makes denial markers recognizable in the backend's errors.
	token string

	// The fields below belong to the pump goroutine.
	buf []byte
	// prepared: the enforcement statement exists on the backend. reprepare:
	// a client DEALLOCATE may have dropped it.
	prepared, reprepare bool
	// injected: this cycle (since the last Query or Sync) was dealt with.
	injected bool
	// discarding: a denied extended-protocol message was replaced by a
	// marker; like the backend, skip everything until the client's Sync.
	discarding bool
	// resetAfterSync: this cycle runs under a session-level role (for a
	// statement PostgreSQL refuses in a transaction); reset it after Sync.
	resetAfterSync bool
}

func newClientPump(s *session, fe *pgproto3.Backend, be io.Writer, tx *txState) *clientPump {
	var tok [12]byte
	rand.Read(tok[:])
	return &clientPump{
		s: s, fe: fe, be: be, tx: tx,
		fw:         s.srv.opts.Firewall,
		enforceSQL: s.enforceSQL(),
		token:      "pgshield_denied_" + hex.EncodeToString(tok[:]),
		buf:        make([]byte, 0, 8<<10),
	}
}

func (p *clientPump) run() { p.s.end(endFor(p.pump())) }

func (p *clientPump) pump() error {
	for {
		msg, err := p.fe.Receive()
		if err != nil {
			return err
		}
		if err := p.handle(msg); err != nil {
			return err
		}
	}
}

func (p *clientPump) handle(msg pgproto3.FrontendMessage) error {
	switch m := msg.(type) {
	case *pgproto3.Terminate:
		if err := p.add(m); err != nil {
			return err
		}
		if err := p.flush(); err != nil {
			return err
		}
		return errTerminate
	case *pgproto3.Sync:
		p.discarding = false
		return p.boundary(m)
	case *pgproto3.Flush:
		if err := p.add(m); err != nil {
			return err
		}
		return p.flush()
	case *pgproto3.Query:
		if p.discarding {
			return nil
		}
		v, ok := p.check(m.String, "")
		if !ok {
			return p.denySimple(v)
		}
		if v.Standalone && !p.injected {
			return p.standaloneQuery(m, v)
		}
		if err := p.inject(true); err != nil {
			return err
		}
		return p.boundary(m)
	case *pgproto3.FunctionCall:
		if p.discarding {
			return nil
		}
		return p.denySimple(firewall.Verdict{Rule: "function_call", Reason: "the FunctionCall protocol message is not allowed through pgshield"})
	case *pgproto3.Parse:
		if p.discarding {
			return nil
		}
		if reserved(m.Name) {
			return p.denyExtended(reservedVerdict())
		}
		v, ok := p.check(m.Query, m.Name)
		if !ok {
			return p.denyExtended(v)
		}
		if v.Standalone && !p.injected {
			if p.s.grant.Rule.ReadOnly {
				return p.denyExtended(readOnlyVerdict())
			}
			if err := p.injectSession(); err != nil {
				return err
			}
			p.resetAfterSync = true
			return p.add(m)
		}
		if err := p.inject(false); err != nil {
			return err
		}
		return p.add(m)
	case *pgproto3.Bind:
		if p.discarding {
			return nil
		}
		if reserved(m.PreparedStatement) {
			return p.denyExtended(reservedVerdict())
		}
		if err := p.inject(false); err != nil {
			return err
		}
		return p.add(m)
	case *pgproto3.Execute, *pgproto3.Describe:
		if p.discarding {
			return nil
		}
		if d, ok := m.(*pgproto3.Describe); ok && d.ObjectType == 'S' && reserved(d.Name) {
			return p.denyExtended(reservedVerdict())
		}
		if err := p.inject(false); err != nil {
			return err
		}
		return p.add(m)
	case *pgproto3.Close:
		if p.discarding {
			return nil
		}
		if m.ObjectType == 'S' && reserved(m.Name) {
			return p.denyExtended(reservedVerdict())
		}
		return p.add(m)
	default: // CopyData, CopyDone, CopyFail
		if p.discarding {
			return nil
		}
		if err := p.add(m); err != nil {
			return err
		}
		if needsFlush(m) || len(p.buf) >= flushAt {
			return p.flush()
		}
		return nil
	}
}

func reserved(name string) bool { return strings.HasPrefix(name, reservedPrefix) }

func reservedVerdict() firewall.Verdict {
	return firewall.Verdict{Rule: "reserved_name", Reason: "statement names starting with " + reservedPrefix + " are reserved"}
}

// check asks the firewall about a statement text; name is the prepared
// statement's name for Parse ("" for a Query or the unnamed statement).
func (p *clientPump) check(sql, name string) (firewall.Verdict, bool) {
	if p.fw == nil {
		return firewall.Verdict{Allowed: true}, true
	}
	var v firewall.Verdict
	if name != "" {
		v = p.fw.CheckParse(name, sql)
	} else {
		v = p.fw.Check(sql)
	}
	if v.Allowed && v.Session&firewall.Deallocate != 0 {
		p.reprepare = true
	}
	if !v.Allowed {
		p.s.log.Warn("statement denied", "rule", v.Rule, "role", p.s.grant.Rule.Role)
	}
	return v, v.Allowed
}

// denialMessage is what the client sees for a denied statement.
func denialMessage(v firewall.Verdict) []byte {
	ce := &clientError{severity: "ERROR", code: firewall.DeniedSQLState, message: v.Reason,
		detail: "pgshield firewall rule: " + v.Rule}
	return ce.encode()
}

// denySimple replaces a denied Query (or FunctionCall) with a marker Query:
// the backend fails on it, aborting the transaction as any failed statement
// would, and answers with ReadyForQuery; the reader swaps in the denial.
func (p *clientPump) denySimple(v firewall.Verdict) error {
	p.tx.addDenial(denial{token: []byte(p.token), msg: denialMessage(v)})
	return p.boundary(&pgproto3.Query{String: p.token})
}

// denyExtended replaces a denied extended-protocol message with a Parse the
// backend fails on; the backend then skips everything up to the client's
// Sync, and so does the pump.
func (p *clientPump) denyExtended(v firewall.Verdict) error {
	p.tx.addDenial(denial{token: []byte(p.token), msg: denialMessage(v)})
	p.discarding = true
	return p.add(&pgproto3.Parse{Name: reservedPrefix + "_denied", Query: p.token})
}

// inject puts the enforcement statement ahead of the first message of a
// transaction. Only when every earlier boundary is answered is the
// backend's status known; a client that pipelines past a transaction end
// waits here for that answer (the price of never guessing).
func (p *clientPump) inject(simple bool) error {
	if p.injected || p.enforceSQL == "" {
		return nil
	}
	p.injected = true
	if err := p.flush(); err != nil {
		return err
	}
	status, ok := p.tx.idleStatus()
	if !ok {
		return errBackendWrite
	}
	if status != 'I' {
		return nil // inside a block: the role was set when it began
	}
	n := 3 // BindComplete, DataRow, CommandComplete
	if p.reprepare && p.prepared {
		p.add(&pgproto3.Close{ObjectType: 'S', Name: enforceStatement})
		n++
		p.prepared = false
	}
	if !p.prepared {
		p.add(&pgproto3.Parse{Name: enforceStatement, Query: p.enforceSQL})
		n++
		p.prepared, p.reprepare = true, false
	}
	p.add(&pgproto3.Bind{PreparedStatement: enforceStatement})
	p.add(&pgproto3.Execute{})
	onErr := injectRecover
	if simple {
		onErr = injectRecoverSimple
	}
	p.tx.arm(dropWindow{after: p.tx.boundaries(), n: int32(n), onError: onErr})
	return nil
}

// boundary sends a message that ends a cycle (Query, Sync) and everything
// collected before it.
func (p *clientPump) boundary(m pgproto3.FrontendMessage) error {
	if err := p.add(m); err != nil {
		return err
	}
	p.tx.sentBoundary()
	p.injected = false
	if p.resetAfterSync {
		p.resetAfterSync = false
		p.resetSession()
	}
	return p.flush()
}

// standaloneQuery runs a statement PostgreSQL refuses inside a transaction
// or pipeline (VACUUM, CREATE INDEX CONCURRENTLY …) under a session-level
// role that is reset right after it: a transaction-scoped role cannot reach
// it.
func (p *clientPump) standaloneQuery(m *pgproto3.Query, v firewall.Verdict) error {
	if p.s.grant.Rule.ReadOnly {
		return p.denySimple(readOnlyVerdict())
	}
	if err := p.injectSession(); err != nil {
		return err
	}
	p.resetAfterSync = true
	return p.boundary(m)
}

func readOnlyVerdict() firewall.Verdict {
	return firewall.Verdict{Rule: "read_only_identity", Reason: "this identity is read-only; the statement cannot run in a read-only transaction"}
}

// injectSession switches the session (not a transaction) to the identity's
// role ahead of a standalone statement. A failure ends the session: the
// statement would otherwise run as whatever role the session had.
func (p *clientPump) injectSession() error {
	sql, n := p.s.sessionRoleSQL()
	p.injected = true
	if sql == "" {
		return nil
	}
	if err := p.flush(); err != nil {
		return err
	}
	status, ok := p.tx.idleStatus()
	if !ok {
		return errBackendWrite
	}
	if status != 'I' {
		return nil // PostgreSQL refuses the statement inside a block itself
	}
	p.tx.arm(dropWindow{after: p.tx.boundaries(), n: int32(n), onError: injectFatal})
	p.add(&pgproto3.Query{String: sql})
	p.tx.sentBoundary()
	return nil
}

// resetSession puts the session back on the authenticator's default role
// once the standalone statement's cycle is answered.
func (p *clientPump) resetSession() {
	sql, n := p.s.sessionResetSQL()
	if sql == "" {
		return
	}
	p.tx.arm(dropWindow{after: p.tx.boundaries(), n: int32(n), onError: injectFatal})
	p.add(&pgproto3.Query{String: sql})
	p.tx.sentBoundary()
}

func (p *clientPump) add(m pgproto3.FrontendMessage) error {
	var err error
	if p.buf, err = m.Encode(p.buf); err != nil {
		return fatal(codeProtocolViolation, "invalid message from client")
	}
	return nil
}

func (p *clientPump) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	if _, err := p.be.Write(p.buf); err != nil {
		return fmt.Errorf("%w: %w", errBackendWrite, err)
	}
	if cap(p.buf) > 1<<20 {
		p.buf = make([]byte, 0, 8<<10) // let a huge message's buffer go
	}
	p.buf = p.buf[:0]
	return nil
}
