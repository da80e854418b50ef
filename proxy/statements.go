package proxy

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
)

// portalInfo is what a Bind set up, for the audit record of its Execute.
type portalInfo struct {
	query  string
	params [][]byte
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
	name, err := p.connStatement(def, true)
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
	return p.connStatement(def, false)
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
