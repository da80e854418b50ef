package proxy

import (
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
)

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

// settled sends what collected, waits until the connection has answered
// everything, attaches one if none is, and returns its transaction status.
func (p *clientPump) settled() (byte, error) {
	if err := p.flush(); err != nil {
		return 0, err
	}
	attached, status, err := p.idle()
	if err != nil {
		return 0, err
	}
	if !attached {
		if err := p.attach(); err != nil {
			return 0, err
		}
		status = 'I'
	}
	return status, nil
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
	status, err := p.settled()
	if err != nil {
		return err
	}
	if status != 'I' {
		return nil // inside a block: the role was set when it began
	}
	return p.enforce()
}

// enforce queues the enforcement statement for this session's identity.
func (p *clientPump) enforce() error {
	s := p.s
	variant, wire, err := s.enforcement()
	if err != nil {
		return fatal(codeInternal, "pgshield cannot encode its enforcement statement")
	}
	if variant == 0 {
		return nil
	}
	s.mu.Lock()
	bc := s.attached
	prepare := bc.enforced&(1<<variant) == 0
	bc.enforced |= 1 << variant
	if prepare {
		s.queue = append(s.queue, expectation{msg: 'P', own: true})
	}
	s.queue = append(s.queue, expectation{msg: 'B', own: true}, expectation{msg: 'E', own: true})
	s.mu.Unlock()
	if prepare {
		if err := p.add(&pgproto3.Parse{Name: enforcementName(variant), Query: enforcementSQL(variant)}); err != nil {
			return err
		}
	}
	p.buf = append(p.buf, wire...)
	return nil
}

// injectSession switches the session (not a transaction) to the identity's
// role ahead of a standalone statement. A failure ends the session: the
// statement would otherwise run as whatever role the session had.
func (p *clientPump) injectSession() error {
	p.started = true
	status, err := p.settled()
	if err != nil {
		return err
	}
	if status != 'I' {
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
