package proxy

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Role modes (config role_mode).
const (
	// RoleModeSetLocal: one authenticator login; each transaction runs as
	// the identity's role.
	RoleModeSetLocal = "set_local"
	// RoleModeLogin: the backend login is the identity's role itself.
	RoleModeLogin = "login"
)

// Enforcement statement variants: which settings it makes.
const (
	enforceRole     = 1 << 0
	enforceIdentity = 1 << 1
	enforceReadOnly = 1 << 2
)

// enforcement returns which enforcement statement this session needs and
// the Bind and Execute that run it, encoded: the same bytes for every
// transaction of the session, so they are built once. The statement is
// prepared once per connection and shared by every session on it; its
// values are bind parameters, so nothing is quoted, and a client that
// executed it could only set its own session's values (and the firewall
// refuses reserved names anyway).
func (s *session) enforcement() (variant int, wire []byte, err error) {
	if s.enfReady {
		return s.enfVariant, s.enfWire, nil
	}
	opts := &s.srv.opts
	var params [][]byte
	if opts.RoleMode == RoleModeSetLocal {
		variant |= enforceRole
		params = append(params, []byte(s.grant.Rule.Role))
	}
	if opts.IdentitySetting != "" {
		variant |= enforceIdentity
		params = append(params, []byte(opts.IdentitySetting), []byte(s.peer.Identity))
	}
	if s.grant.Rule.ReadOnly {
		variant |= enforceReadOnly
	}
	if variant != 0 {
		wire, err = (&pgproto3.Bind{PreparedStatement: enforcementName(variant), Parameters: params}).Encode(nil)
		if err == nil {
			wire, err = (&pgproto3.Execute{}).Encode(wire)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	s.enfReady, s.enfVariant, s.enfWire = true, variant, wire
	return variant, wire, nil
}

// enforcementName names the prepared enforcement statement of variant.
func enforcementName(variant int) string {
	return fmt.Sprintf("%s_enforce%d", reservedPrefix, variant)
}

// enforcementSQL is the statement that opens every transaction:
// set_config(…, true) is SET LOCAL, scoped to the transaction, and needs no
// transaction block (SET LOCAL outside one would only warn). The
// materialized CTE makes the settings take effect while the statement
// returns no row, so its whole answer is one CommandComplete.
func enforcementSQL(variant int) string {
	var cols []string
	n := 0
	param := func() string {
		n++
		return "$" + string(rune('0'+n))
	}
	if variant&enforceRole != 0 {
		cols = append(cols, "pg_catalog.set_config('role', "+param()+", true)")
	}
	if variant&enforceIdentity != 0 {
		name := param()
		cols = append(cols, "pg_catalog.set_config("+name+", "+param()+", true)")
	}
	if variant&enforceReadOnly != 0 {
		cols = append(cols, "pg_catalog.set_config('transaction_read_only', 'on', true)")
	}
	for i := range cols {
		cols[i] += " AS c" + string(rune('0'+i))
	}
	return "WITH s AS MATERIALIZED (SELECT " + strings.Join(cols, ", ") + ") SELECT FROM s WHERE s.c0 IS NULL"
}

// sessionRoleSQL switches the session itself to the identity's role and
// identity, for a standalone statement.
func (s *session) sessionRoleSQL() string {
	opts := &s.srv.opts
	var stmts []string
	if opts.RoleMode == RoleModeSetLocal {
		stmts = append(stmts, "SET SESSION ROLE "+quoteIdent(s.grant.Rule.Role))
	}
	if opts.IdentitySetting != "" {
		stmts = append(stmts, "SET "+opts.IdentitySetting+" = "+quoteLiteral(s.peer.Identity))
	}
	return strings.Join(stmts, "; ")
}

// sessionResetSQL undoes sessionRoleSQL: RESET ROLE lands on the
// authenticator's default role (init-db makes it a role with no privileges).
func (s *session) sessionResetSQL() string {
	opts := &s.srv.opts
	var stmts []string
	if opts.RoleMode == RoleModeSetLocal {
		stmts = append(stmts, "RESET ROLE")
	}
	if opts.IdentitySetting != "" {
		stmts = append(stmts, "RESET "+opts.IdentitySetting)
	}
	return strings.Join(stmts, "; ")
}

// quoteLiteral quotes s as an SQL string literal. Backend connections run
// with standard_conforming_strings on (checked at login).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
