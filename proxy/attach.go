package proxy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/metrics"
)

// syncedParams are the parameters a client may set at start-up that
// pgshield carries to every connection the client is served by.
var syncedParams = []string{"application_name", "client_encoding", "DateStyle", "IntervalStyle", "TimeZone"}

// canonicalParam maps a startup parameter name to the server's spelling.
func canonicalParam(name string) string {
	for _, p := range syncedParams {
		if strings.EqualFold(p, name) {
			return p
		}
	}
	return name
}

// attach takes a connection from the pool for the session, starts its
// reader, and brings its parameters to the client's view. Called by the
// pump with no connection attached.
func (p *clientPump) attach() error {
	s := p.s
	ctx := s.srv.ctx // ends at Close; a fresh context per attach cost more than the wait itself
	s.mu.Lock()
	s.waiting = true
	s.mu.Unlock()
	s.mconn.SetState(metrics.StateWaiting)
	bc, err := s.pool.acquire(ctx)
	s.mu.Lock()
	s.waiting = false
	s.mu.Unlock()
	if err != nil {
		return poolError(err)
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		s.pool.release(bc)
		return errBackendWrite
	}
	bc.attachedTo = s.id
	s.attached = bc
	s.status = 'I'
	sync := p.paramSyncLocked(bc)
	s.readers++
	s.mu.Unlock()
	go backendReader{s: s, bc: bc}.run()
	if sync != "" {
		return p.sendOwn(expectation{msg: 'Q', own: true, onErr: injectFatal}, &pgproto3.Query{String: sync})
	}
	return nil
}

// poolError is what the client sees when no connection could be had.
func poolError(err error) error {
	if errors.Is(err, errPoolTimeout) {
		return fatal(codeTooManyConnections, "pgshield: no database connection became free in time (query_wait_timeout)")
	}
	return fatal(codeUnableToConnect, "pgshield cannot reach the database")
}

// paramSyncLocked returns the SET statements that bring bc's reported
// parameters to the client's view ("" when they agree).
func (p *clientPump) paramSyncLocked(bc *backendConn) string {
	var sets []string
	for _, name := range syncedParams {
		want, ok := p.s.view[name]
		if !ok || bc.params[name] == want {
			continue
		}
		sets = append(sets, "SET "+name+" = "+quoteLiteral(want))
	}
	sort.Strings(sets)
	return strings.Join(sets, "; ")
}

// sendOwn queues pgshield's own message on the attached connection.
func (p *clientPump) sendOwn(e expectation, m pgproto3.FrontendMessage) error {
	return p.send([]expectation{e}, m)
}

// send queues messages for the attached connection, attaching one first if
// needed. Expectations are queued under the session lock together with the
// check that a connection is attached, so the reader cannot hand it back
// to the pool between the two.
func (p *clientPump) send(es []expectation, msgs ...pgproto3.FrontendMessage) error {
	s := p.s
	for {
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			return errBackendWrite
		}
		if s.attached != nil {
			s.queue = append(s.queue, es...)
			s.mu.Unlock()
			for _, m := range msgs {
				if err := p.add(m); err != nil {
					return err
				}
			}
			return nil
		}
		s.mu.Unlock()
		if err := p.attach(); err != nil {
			return err
		}
	}
}

// idle waits until the attached connection (if any) has answered
// everything and returns whether one is attached and its status.
func (p *clientPump) idle() (attached bool, status byte, err error) {
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.queue) > 0 && !s.ended {
		s.cond.Wait()
	}
	if s.ended {
		return false, 0, errBackendWrite
	}
	return s.attached != nil, s.status, nil
}

// connStatement returns def's name on the attached connection (attaching
// one if needed) and queues, ahead of the client's message, what the
// connection needs first: a Close of an evicted statement, and then either
// a Parse of def when it lacks it (for a Bind or Describe; its answer is
// swallowed, its error is the client's) or, for the client's own Parse, a
// Close of the copy it has, so that the Parse really parses and answers.
func (p *clientPump) connStatement(def stmtDef, forParse bool) (string, error) {
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
		name, prepare, evict := bc.statement(def.key, int(bc.pool.maxPrepared.Load()))
		var es []expectation
		var msgs []pgproto3.FrontendMessage
		if evict != "" {
			es = append(es, expectation{msg: 'C', own: true, onErr: injectForward})
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: evict})
		}
		switch {
		case forParse && !prepare:
			es = append(es, expectation{msg: 'C', own: true, onErr: injectForward})
			msgs = append(msgs, &pgproto3.Close{ObjectType: 'S', Name: name})
		case !forParse && prepare:
			es = append(es, expectation{msg: 'P', own: true, onErr: injectForward, forgetKey: def.key})
			msgs = append(msgs, &pgproto3.Parse{Name: name, Query: def.query, ParameterOIDs: def.paramOIDs})
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

// statementKey identifies a statement across clients: the same text with
// the same parameter types, run as the same role, shares one prepared
// statement per connection.
func (s *session) statementKey(query string, oids []uint32) string {
	return fmt.Sprintf("%s\x00%s\x00%v", s.grant.Rule.Role, query, oids)
}
