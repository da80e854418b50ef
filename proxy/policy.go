package proxy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/firewall"
	"github.com/pgshield/pgshield/pgwire"
)

// auditDenied records a statement the firewall refused. It runs nothing,
// so a failing log does not change the outcome.
func (p *clientPump) auditDenied(v firewall.Verdict, action, sql string) {
	p.s.record(&audit.Record{Kind: audit.KindDenied, Action: action, Statement: sql, Reason: v.Rule, SQLState: firewall.DeniedSQLState})
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
		ce := &pgwire.Error{Severity: "ERROR", Code: "0A000",
			Message: fmt.Sprintf("%s keeps session state, which transaction pooling cannot carry (pool.session_state: refuse)", v.Session)}
		if simple {
			return true, p.denySimpleWith(ce.Encode())
		}
		return true, p.denyExtendedWith(ce.Encode())
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
		ce := &pgwire.Error{Severity: "ERROR", Code: "26000", Message: fmt.Sprintf("prepared statement %q does not exist", name)}
		return p.denySimpleWith(ce.Encode())
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
	ce := &pgwire.Error{Severity: "ERROR", Code: firewall.DeniedSQLState, Message: v.Reason,
		Detail: "pgshield firewall rule: " + v.Rule}
	return ce.Encode()
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
	ce := &pgwire.Error{Severity: "ERROR", Code: code, Message: text}
	return p.denyExtendedWith(ce.Encode())
}
