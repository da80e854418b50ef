package proxy

import "strings"

// Role modes (config role_mode).
const (
	// RoleModeSetLocal: one authenticator login; each transaction runs as
	// the identity's role.
	RoleModeSetLocal = "set_local"
	// RoleModeLogin: the backend login is the identity's role itself.
	RoleModeLogin = "login"
)

// enforceSQL is the statement that opens every transaction of this
// session: set_config(…, true) is SET LOCAL, scoped to the transaction, and
// needs no transaction block (SET LOCAL outside one would only warn). The
// values are the session's own, so a client that executes the statement
// itself gains nothing.
func (s *session) enforceSQL() string {
	opts := s.srv.opts
	var parts []string
	if opts.RoleMode == RoleModeSetLocal {
		parts = append(parts, "pg_catalog.set_config('role', "+quoteLiteral(s.grant.Rule.Role)+", true)")
	}
	if opts.IdentitySetting != "" {
		parts = append(parts, "pg_catalog.set_config("+quoteLiteral(opts.IdentitySetting)+", "+quoteLiteral(s.peer.Identity)+", true)")
	}
	if s.grant.Rule.ReadOnly {
		parts = append(parts, "pg_catalog.set_config('transaction_read_only', 'on', true)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "SELECT " + strings.Join(parts, ", ")
}

// quoteLiteral quotes s as an SQL string literal. The backend connection
// runs with standard_conforming_strings on (checked at login), so doubling
// quotes is the whole job; identities and role names hold no NUL.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sessionRoleSQL switches the session itself to the identity's role and
// identity, for a standalone statement; n counts the messages it answers
// with (a CommandComplete per statement and ReadyForQuery).
func (s *session) sessionRoleSQL() (sql string, n int) {
	opts := s.srv.opts
	var stmts []string
	if opts.RoleMode == RoleModeSetLocal {
		stmts = append(stmts, "SET SESSION ROLE "+quoteIdent(s.grant.Rule.Role))
	}
	if opts.IdentitySetting != "" {
		stmts = append(stmts, "SET "+opts.IdentitySetting+" = "+quoteLiteral(s.peer.Identity))
	}
	if len(stmts) == 0 {
		return "", 0
	}
	return strings.Join(stmts, "; "), len(stmts) + 1
}

// sessionResetSQL undoes sessionRoleSQL: RESET ROLE lands on the
// authenticator's default role (init-db makes it a role with no privileges).
func (s *session) sessionResetSQL() (sql string, n int) {
	opts := s.srv.opts
	var stmts []string
	if opts.RoleMode == RoleModeSetLocal {
		stmts = append(stmts, "RESET ROLE")
	}
	if opts.IdentitySetting != "" {
		stmts = append(stmts, "RESET "+opts.IdentitySetting)
	}
	if len(stmts) == 0 {
		return "", 0
	}
	return strings.Join(stmts, "; "), len(stmts) + 1
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
