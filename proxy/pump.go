package proxy

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
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
	fe *pgproto3.Backend
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

// portalInfo is what a Bind set up, for the audit record of its Execute.
type portalInfo struct {
	query  string
	params [][]byte
}

func newClientPump(s *session, fe *pgproto3.Backend) *clientPump {
	return &clientPump{s: s, fe: fe, fw: s.srv.opts.Firewall, portals: map[string]portalInfo{}}
}

func (p *clientPump) pump() error {
	for {
		if err := p.setReadDeadline(); err != nil {
			return err
		}
		if p.isAttached() {
			p.s.mconn.SetState(metrics.StateActive)
		} else {
			p.s.mconn.SetState(metrics.StateIdle)
			// An idle client holds no write buffer: with thousands of them
			// connected, that is most of a session's memory after TLS's.
			p.buf = nil
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

// setReadDeadline applies the idle timeouts while nothing is outstanding.
func (p *clientPump) setReadDeadline() error {
	s, o := p.s, &p.s.srv.opts
	if s.client == nil {
		return nil // unit tests drive the pump without a client connection
	}
	s.mu.Lock()
	outstanding, status := len(s.queue) > 0, s.status
	s.mu.Unlock()
	var d time.Duration
	switch {
	case outstanding:
	case (status == 'T' || status == 'E') && o.IdleTransactionTimeout > 0:
		d = o.IdleTransactionTimeout
	case o.ClientIdleTimeout > 0:
		d = o.ClientIdleTimeout
	}
	if d == 0 {
		return s.client.SetReadDeadline(time.Time{})
	}
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

// execute records the statement a portal runs, with its parameters, and
// sends the Execute.
func (p *clientPump) execute(m *pgproto3.Execute) error {
	if err := p.startCycle(); err != nil {
		return err
	}
	e := expectation{msg: 'E', started: p.now()}
	if p.s.srv.opts.Audit != nil {
		info := p.portals[m.Portal]
		seq, err := p.s.record(&audit.Record{Kind: audit.KindStatement, Action: "execute", Statement: info.query, Params: info.params})
		if err != nil {
			return p.denyExtendedWith(auditRefusal)
		}
		e.auditSeq, e.started = seq, p.now()
	}
	return p.send([]expectation{e}, m)
}

// query handles a simple Query.
func (p *clientPump) query(m *pgproto3.Query) error {
	v, ok := p.check(m.String, "")
	if !ok {
		p.auditDenied(v, "query", m.String)
		return p.denySimple(v)
	}
	if handled, err := p.sessionEffects(v, m.String, true); handled || err != nil {
		return err
	}
	standalone := v.Standalone && !p.started
	if standalone {
		if p.s.grant.Rule.ReadOnly {
			return p.denySimple(readOnlyVerdict())
		}
		if err := p.injectSession(); err != nil {
			return err
		}
		p.resetAfter = true
	} else if err := p.startCycle(); err != nil {
		return err
	}
	// Recorded once a connection is attached (so the record names its
	// backend) and before the Query leaves: nothing is flushed until the
	// boundary below.
	seq, err := p.s.record(&audit.Record{Kind: audit.KindStatement, Action: "query", Statement: m.String})
	if err != nil {
		return p.denySimpleWith(auditRefusal)
	}
	return p.boundary(expectation{msg: 'Q', auditSeq: seq, started: p.now()}, m)
}

func (p *clientPump) now() time.Time { return p.s.srv.opts.Now() }

// auditDenied records a statement the firewall refused. It runs nothing,
// so a failing log does not change the outcome.
func (p *clientPump) auditDenied(v firewall.Verdict, action, sql string) {
	p.s.record(&audit.Record{Kind: audit.KindDenied, Action: action, Statement: sql, Reason: v.Rule, SQLState: firewall.DeniedSQLState})
}

// parse handles a Parse: unnamed statements pass; named ones are recorded
// for the session and given this connection's name.
func (p *clientPump) parse(m *pgproto3.Parse) error {
	if strings.HasPrefix(m.Name, reservedPrefix) {
		return p.undeferThen(func() error { return p.denyExtended(reservedVerdict()) })
	}
	v, ok := p.check(m.Query, m.Name)
	if !ok {
		p.auditDenied(v, "parse", m.Query)
		return p.undeferThen(func() error { return p.denyExtended(v) })
	}
	if _, err := p.s.record(&audit.Record{Kind: audit.KindStatement, Action: "parse", Statement: m.Query}); err != nil {
		return p.undeferThen(func() error { return p.denyExtendedWith(auditRefusal) })
	}
	if m.Name == "" {
		p.lastUnnamed = m.Query
	}
	if v.Session != 0 || v.Standalone {
		if err := p.undefer(); err != nil {
			return err
		}
	}
	if handled, err := p.sessionEffects(v, m.Query, false); handled || err != nil {
		return err
	}
	s := p.s
	if m.Name != "" {
		s.mu.Lock()
		_, exists := s.stmts[m.Name]
		s.mu.Unlock()
		if exists {
			if err := p.undefer(); err != nil {
				return err
			}
			return p.emulateError('P', "42P05", fmt.Sprintf("prepared statement %q already exists", m.Name))
		}
	}
	if m.Name != "" && !v.Standalone && v.Session == 0 && (len(p.deferred) > 0 || !p.started && !p.isAttached()) {
		def := stmtDef{query: m.Query, paramOIDs: m.ParameterOIDs, key: s.statementKey(m.Query, m.ParameterOIDs)}
		s.mu.Lock()
		s.stmts[m.Name] = def
		s.mu.Unlock()
		cp := *m
		p.deferred = append(p.deferred, &cp)
		return nil
	}
	if err := p.undefer(); err != nil {
		return err
	}
	if v.Standalone && !p.started {
		if p.s.grant.Rule.ReadOnly {
			return p.denyExtended(readOnlyVerdict())
		}
		if err := p.injectSession(); err != nil {
			return err
		}
		p.resetAfter = true
	} else if err := p.startCycle(); err != nil {
		return err
	}
	if m.Name == "" {
		return p.send([]expectation{{msg: 'P'}}, m)
	}
	def := stmtDef{query: m.Query, paramOIDs: m.ParameterOIDs, key: s.statementKey(m.Query, m.ParameterOIDs)}
	s.mu.Lock()
	s.stmts[m.Name] = def
	s.mu.Unlock()
	return p.parseOnConn(m, def)
}

// parseOnConn sends a client's named Parse to the attached connection
// under the connection's name for it. The parse always happens there: the
// client expects its answer, and its errors, in this cycle.
func (p *clientPump) parseOnConn(m *pgproto3.Parse, def stmtDef) error {
	name, err := p.connStatementForParse(def)
	if err != nil {
		return err
	}
	return p.send([]expectation{{msg: 'P', clientName: m.Name, forgetKey: def.key}},
		&pgproto3.Parse{Name: name, Query: m.Query, ParameterOIDs: m.ParameterOIDs})
}

func (p *clientPump) isAttached() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.attached != nil
}

// answerDeferred answers a cycle of deferred Parses and its Sync: a
// ParseComplete each and ReadyForQuery. No reader runs (no connection is
// attached), so the pump may write to the client itself.
func (p *clientPump) answerDeferred() error {
	p.s.waitReaders()
	var b []byte
	for range p.deferred {
		b, _ = (&pgproto3.ParseComplete{}).Encode(b)
	}
	b, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(b)
	p.deferred = p.deferred[:0]
	p.started = false
	if _, err := p.s.client.Write(b); err != nil {
		return err
	}
	return nil
}

// undeferThen undefers, then runs fn.
func (p *clientPump) undeferThen(fn func() error) error {
	if err := p.undefer(); err != nil {
		return err
	}
	return fn()
}

// undefer sends deferred Parses to a connection after all: the cycle
// turned out to need one.
func (p *clientPump) undefer() error {
	if len(p.deferred) == 0 {
		return nil
	}
	list := p.deferred
	p.deferred = nil
	if err := p.startCycle(); err != nil {
		return err
	}
	for _, m := range list {
		p.s.mu.Lock()
		def, ok := p.s.stmts[m.Name]
		p.s.mu.Unlock()
		if !ok {
			continue
		}
		if err := p.parseOnConn(m, def); err != nil {
			return err
		}
	}
	return nil
}

// connStatementForParse returns the connection's name for def, closing an
// older copy first so the client's Parse is answered by a real parse.
func (p *clientPump) connStatementForParse(def stmtDef) (string, error) {
	s := p.s
	for {
		s.mu.Lock()
		bc := s.attached
		if bc == nil {
			s.mu.Unlock()
			if err := p.attach(); err != nil {
				return "", err
			}
			continue
		}
		name, prepare, evict := bc.statement(def.key, bc.pool.settings.MaxPrepared)
		var es []expectation
		var msgs []pgproto3.FrontendMessage
		if evict != "" {
			es = append(es, expectation{msg: 'C', own: true, onErr: injectForward})
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: evict})
		}
		if !prepare {
			es = append(es, expectation{msg: 'C', own: true, onErr: injectForward})
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: name})
		}
		s.queue = append(s.queue, es...)
		s.mu.Unlock()
		for _, m := range msgs {
			if err := p.add(m); err != nil {
				return "", err
			}
		}
		return name, nil
	}
}

// bind maps the client's statement to the connection's, preparing it
// there first if this connection has not seen it.
func (p *clientPump) bind(m *pgproto3.Bind) error {
	if strings.HasPrefix(m.PreparedStatement, reservedPrefix) {
		return p.denyExtended(reservedVerdict())
	}
	if err := p.startCycle(); err != nil {
		return err
	}
	if p.s.srv.opts.Audit != nil {
		params := make([][]byte, len(m.Parameters))
		for i, v := range m.Parameters {
			if v != nil {
				params[i] = append([]byte{}, v...)
			}
		}
		query := p.lastUnnamed
		if m.PreparedStatement != "" {
			p.s.mu.Lock()
			query = p.s.stmts[m.PreparedStatement].query
			p.s.mu.Unlock()
		}
		p.portals[m.DestinationPortal] = portalInfo{query: query, params: params}
	}
	if m.PreparedStatement != "" {
		name, err := p.mapStatement(m.PreparedStatement)
		if err != nil || name == "" {
			return err
		}
		mapped := *m
		mapped.PreparedStatement = name
		return p.send([]expectation{{msg: 'B'}}, &mapped)
	}
	return p.send([]expectation{{msg: 'B'}}, m)
}

func (p *clientPump) describe(m *pgproto3.Describe) error {
	if err := p.startCycle(); err != nil {
		return err
	}
	if m.ObjectType == 'S' && m.Name != "" {
		if strings.HasPrefix(m.Name, reservedPrefix) {
			return p.denyExtended(reservedVerdict())
		}
		name, err := p.mapStatement(m.Name)
		if err != nil || name == "" {
			return err
		}
		return p.send([]expectation{{msg: 'D', describeStatement: true}}, &pgproto3.Describe{ObjectType: 'S', Name: name})
	}
	return p.send([]expectation{{msg: 'D', describeStatement: m.ObjectType == 'S'}}, m)
}

// mapStatement returns the connection's name for the client's statement;
// "" (with the error already arranged) when the client has no such statement.
func (p *clientPump) mapStatement(clientName string) (string, error) {
	s := p.s
	s.mu.Lock()
	def, ok := s.stmts[clientName]
	s.mu.Unlock()
	if !ok {
		return "", p.emulateError('B', "26000", fmt.Sprintf("prepared statement %q does not exist", clientName))
	}
	return p.ensureStatement(def)
}

// closeMsg: closing a statement forgets the client's name; the
// connection keeps its copy for the next client that needs it.
func (p *clientPump) closeMsg(m *pgproto3.Close) error {
	if m.ObjectType == 'S' && m.Name != "" {
		if strings.HasPrefix(m.Name, reservedPrefix) {
			return p.denyExtended(reservedVerdict())
		}
		s := p.s
		s.mu.Lock()
		delete(s.stmts, m.Name)
		s.mu.Unlock()
		// Closing a statement that does not exist is not an error: the
		// backend answers CloseComplete, which is what the client expects.
		return p.send([]expectation{{msg: 'C'}}, &pgproto3.Close{ObjectType: 'S', Name: reservedPrefix + "_none"})
	}
	return p.send([]expectation{{msg: 'C'}}, m)
}

func reservedVerdict() firewall.Verdict {
	return firewall.Verdict{Rule: "reserved_name", Reason: "statement names starting with " + reservedPrefix + " are reserved"}
}

func readOnlyVerdict() firewall.Verdict {
	return firewall.Verdict{Rule: "read_only_identity", Reason: "this identity is read-only; the statement cannot run in a read-only transaction"}
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
	if !v.Allowed {
		p.s.log.Warn("statement denied", "rule", v.Rule, "role", p.s.grant.Rule.Role)
		p.s.pool.counters.denied.Add(1)
		p.s.srv.opts.Metrics.FirewallDenial(v.Rule)
	} else {
		p.s.pool.counters.statements.Add(1)
	}
	return v, v.Allowed
}

// pinningEffects are session state that cannot follow a client to another
// connection.
const pinningEffects = firewall.SessionSet | firewall.Listen | firewall.TempTable | firewall.AdvisoryLock |
	firewall.SQLPrepare | firewall.HoldCursor

var deallocateRE = regexp.MustCompile(`(?is)^\s*deallocate\s+(?:prepare\s+)?(all|[a-z_][a-z0-9_$]*|"(?:[^"]|"")+")\s*;?\s*$`)

// sessionEffects applies what a statement does beyond its transaction. In
// transaction mode, state that cannot move pins the client to its
// connection (or is refused, as configured); DEALLOCATE of protocol-level
// statements is answered by pgshield, which owns the names.
func (p *clientPump) sessionEffects(v firewall.Verdict, sql string, simple bool) (bool, error) {
	s := p.s
	if v.Session == 0 || s.mode != PoolModeTransaction {
		return false, nil
	}
	if v.Session&firewall.Deallocate != 0 && simple && v.Statements == 1 {
		if mt := deallocateRE.FindStringSubmatch(sql); mt != nil {
			if _, err := s.record(&audit.Record{Kind: audit.KindStatement, Action: "query", Statement: sql}); err != nil {
				return true, p.denySimpleWith(auditRefusal)
			}
			return true, p.deallocate(mt[1])
		}
	}
	if v.Session&(pinningEffects|firewall.Deallocate) == 0 {
		return false, nil
	}
	s.mu.Lock()
	already := s.pinned
	s.mu.Unlock()
	if already {
		return false, nil
	}
	if s.srv.opts.SessionState == SessionStateRefuse {
		ce := &clientError{severity: "ERROR", code: "0A000",
			message: fmt.Sprintf("%s keeps session state, which transaction pooling cannot carry (pool.session_state: refuse)", v.Session)}
		if simple {
			return true, p.denySimpleWith(ce.encode())
		}
		return true, p.denyExtendedWith(ce.encode())
	}
	s.mu.Lock()
	s.pinned, s.pinnedByClient = true, true
	s.mu.Unlock()
	s.log.Info("session pinned to its backend connection", "effects", v.Session.String())
	s.pool.metrics.PinStart()
	return false, nil
}

// deallocate answers DEALLOCATE name / ALL for protocol-level statements:
// the client's names live in pgshield, the connection keeps its copies.
func (p *clientPump) deallocate(target string) error {
	s := p.s
	s.mu.Lock()
	if strings.EqualFold(target, "all") {
		s.stmts = map[string]stmtDef{}
		s.mu.Unlock()
		return p.emptyQueryAs("DEALLOCATE ALL")
	}
	name := target
	if strings.HasPrefix(name, `"`) {
		name = strings.ReplaceAll(name[1:len(name)-1], `""`, `"`)
	} else {
		name = strings.ToLower(name)
	}
	_, ok := s.stmts[name]
	delete(s.stmts, name)
	s.mu.Unlock()
	if !ok {
		ce := &clientError{severity: "ERROR", code: "26000", message: fmt.Sprintf("prepared statement %q does not exist", name)}
		return p.denySimpleWith(ce.encode())
	}
	return p.emptyQueryAs("DEALLOCATE")
}

// emptyQueryAs sends an empty Query and turns its EmptyQueryResponse into
// CommandComplete with tag: a statement pgshield answered itself.
func (p *clientPump) emptyQueryAs(tag string) error {
	if err := p.startCycle(); err != nil {
		return err
	}
	cc, _ := (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(nil)
	return p.boundary(expectation{msg: 'Q', replaceEmpty: cc}, &pgproto3.Query{String: ""})
}

// denialMessage is what the client sees for a denied statement.
func denialMessage(v firewall.Verdict) []byte {
	ce := &clientError{severity: "ERROR", code: firewall.DeniedSQLState, message: v.Reason,
		detail: "pgshield firewall rule: " + v.Rule}
	return ce.encode()
}

// marker is a statement the backend fails on at once (a syntax error): it
// stands where a denied statement was, so the backend aborts exactly what
// that statement's failure would have aborted.
const marker = "pgshield_denied"

// denySimple replaces a denied Query (or FunctionCall) with a marker Query.
func (p *clientPump) denySimple(v firewall.Verdict) error { return p.denySimpleWith(denialMessage(v)) }

func (p *clientPump) denySimpleWith(msg []byte) error {
	if err := p.ensureAttached(); err != nil {
		return err
	}
	return p.boundary(expectation{msg: 'Q', replaceError: msg}, &pgproto3.Query{String: marker})
}

// denyExtended replaces a denied extended-protocol message with a marker
// Parse; the backend then skips everything up to the client's Sync, and so
// does the pump.
func (p *clientPump) denyExtended(v firewall.Verdict) error {
	return p.denyExtendedWith(denialMessage(v))
}

func (p *clientPump) denyExtendedWith(msg []byte) error {
	p.discarding = true
	return p.send([]expectation{{msg: 'P', replaceError: msg}},
		&pgproto3.Parse{Name: reservedPrefix + "_denied", Query: marker})
}

// emulateError answers a message with an error PostgreSQL would have sent
// (the client's statement names live in pgshield).
func (p *clientPump) emulateError(msg byte, code, text string) error {
	ce := &clientError{severity: "ERROR", code: code, message: text}
	return p.denyExtendedWith(ce.encode())
}

func (p *clientPump) ensureAttached() error {
	s := p.s
	s.mu.Lock()
	attached := s.attached != nil
	s.mu.Unlock()
	if attached {
		return nil
	}
	return p.attach()
}

// startCycle queues the enforcement statement ahead of the first message
// of a transaction. The connection's status is only known once everything
// sent before is answered: a client that pipelines past a transaction end
// waits here for that answer, the price of never guessing.
func (p *clientPump) startCycle() error {
	if p.started {
		return nil
	}
	p.started = true
	if err := p.flush(); err != nil {
		return err
	}
	attached, status, err := p.idle()
	if err != nil {
		return err
	}
	if !attached {
		if err := p.attach(); err != nil {
			return err
		}
		status = 'I'
	}
	if status != 'I' {
		return nil // inside a block: the role was set when it began
	}
	return p.enforce()
}

// enforce queues the enforcement statement for this session's identity.
func (p *clientPump) enforce() error {
	s := p.s
	variant, params := s.enforcement()
	if variant == 0 {
		return nil
	}
	name := fmt.Sprintf("%s_enforce%d", reservedPrefix, variant)
	s.mu.Lock()
	bc := s.attached
	prepare := bc.enforced&(1<<variant) == 0
	bc.enforced |= 1 << variant
	es := []expectation{{msg: 'B', own: true}, {msg: 'E', own: true}}
	if prepare {
		es = append([]expectation{{msg: 'P', own: true}}, es...)
	}
	s.queue = append(s.queue, es...)
	s.mu.Unlock()
	if prepare {
		p.add(&pgproto3.Parse{Name: name, Query: enforcementSQL(variant)})
	}
	p.add(&pgproto3.Bind{PreparedStatement: name, Parameters: params})
	return p.add(&pgproto3.Execute{})
}

// injectSession switches the session (not a transaction) to the identity's
// role ahead of a standalone statement. A failure ends the session: the
// statement would otherwise run as whatever role the session had.
func (p *clientPump) injectSession() error {
	p.started = true
	if err := p.flush(); err != nil {
		return err
	}
	attached, status, err := p.idle()
	if err != nil {
		return err
	}
	if !attached {
		if err := p.attach(); err != nil {
			return err
		}
	} else if status != 'I' {
		return nil // PostgreSQL refuses the statement inside a block itself
	}
	sql := p.s.sessionRoleSQL()
	if sql == "" {
		return nil
	}
	p.s.mu.Lock()
	p.s.pinned = true // the connection holds a session-level role until reset
	p.s.mu.Unlock()
	return p.sendOwn(expectation{msg: 'Q', own: true, onErr: injectFatal}, &pgproto3.Query{String: sql})
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
