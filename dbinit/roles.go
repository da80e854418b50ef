package dbinit

import (
	"context"
	"fmt"
	"strings"
)

// pg16 is the first server_version_num with per-grant INHERIT and SET options.
const pg16 = 160000

// roleSpec is the attribute set a managed role must have. Attributes not
// listed (INHERIT on mapped roles) are left alone.
type roleSpec struct {
	name      string
	login     bool
	noInherit bool
}

// mappedRoles returns the plan's mapped role names in plan order.
func (r *run) mappedRoles() []string {
	names := make([]string, len(r.plan.Roles))
	for i, role := range r.plan.Roles {
		names[i] = role.Name
	}
	return names
}

// allRoles is every role the plan manages.
func (r *run) allRoles() []string {
	return append([]string{r.plan.authenticator(), r.plan.noAccessRole()}, r.mappedRoles()...)
}

func (r *run) roles(ctx context.Context) error {
	specs := []roleSpec{
		{name: r.plan.authenticator(), login: true, noInherit: true},
		{name: r.plan.noAccessRole(), noInherit: true},
	}
	for _, m := range r.mappedRoles() {
		specs = append(specs, roleSpec{name: m})
	}
	for _, s := range specs {
		if err := r.ensureRole(ctx, s); err != nil {
			return err
		}
	}
	if err := r.ensurePassword(ctx); err != nil {
		return err
	}
	// A new authenticator session, and RESET ROLE, land on the no-access role.
	auth, noaccess := r.plan.authenticator(), r.plan.noAccessRole()
	rows, err := r.query(ctx, `SELECT coalesce(array_to_string(rolconfig, E'\n'), '') FROM pg_roles WHERE rolname = $1`, auth)
	if err != nil {
		return err
	}
	if !containsLine(rows[0][0], "role="+noaccess) {
		return r.exec(ctx, fmt.Sprintf("make new %s sessions start as %s", auth, noaccess),
			fmt.Sprintf("ALTER ROLE %s SET role = %s", ident(auth), quoteLiteral(noaccess)))
	}
	return nil
}

func containsLine(s, line string) bool {
	for l := range strings.SplitSeq(s, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// ensureRole creates the role or alters only the attributes that differ.
func (r *run) ensureRole(ctx context.Context, s roleSpec) error {
	rows, err := r.query(ctx, `SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolreplication,
		rolcanlogin, rolinherit FROM pg_roles WHERE rolname = $1`, s.name)
	if err != nil {
		return err
	}
	want := []struct {
		on, off string
		value   bool
		care    bool
	}{
		{"SUPERUSER", "NOSUPERUSER", false, true},
		{"CREATEDB", "NOCREATEDB", false, true},
		{"CREATEROLE", "NOCREATEROLE", false, true},
		{"BYPASSRLS", "NOBYPASSRLS", false, true},
		{"REPLICATION", "NOREPLICATION", false, true},
		{"LOGIN", "NOLOGIN", s.login, true},
		{"INHERIT", "NOINHERIT", false, s.noInherit},
	}
	var attrs []string
	for i, w := range want {
		if !w.care {
			continue
		}
		if len(rows) == 1 && (rows[0][i] == "t") == w.value {
			continue
		}
		if w.value {
			attrs = append(attrs, w.on)
		} else {
			attrs = append(attrs, w.off)
		}
	}
	if len(rows) == 0 {
		return r.exec(ctx, "create role "+s.name,
			fmt.Sprintf("CREATE ROLE %s WITH %s", ident(s.name), strings.Join(attrs, " ")))
	}
	if len(attrs) == 0 {
		return nil
	}
	return r.exec(ctx, fmt.Sprintf("set %s on role %s", strings.Join(attrs, " "), s.name),
		fmt.Sprintf("ALTER ROLE %s WITH %s", ident(s.name), strings.Join(attrs, " ")))
}

// ensurePassword sets the authenticator's password when one is given and
// the stored verifier was not made from it. Only a fresh SCRAM verifier is
// sent, so the plaintext never reaches the server or its logs.
func (r *run) ensurePassword(ctx context.Context) error {
	if r.password == "" {
		return nil
	}
	auth := r.plan.authenticator()
	rows, err := r.query(ctx, `SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = $1`, auth)
	if err != nil {
		return err
	}
	if len(rows) == 1 && scramMatches(rows[0][0], r.password) {
		return nil
	}
	verifier, err := scramVerifier(r.password)
	if err != nil {
		return err
	}
	stmt := fmt.Sprintf("ALTER ROLE %s WITH PASSWORD ", ident(auth))
	return r.execSecret(ctx, "set password of "+auth, stmt+quoteLiteral(verifier), stmt+"'***'")
}

// memberships makes the authenticator a member of exactly the no-access
// role and the mapped roles: able to SET ROLE, inheriting nothing, with no
// ADMIN option.
func (r *run) memberships(ctx context.Context) error {
	auth := r.plan.authenticator()
	opts := "false, true"
	if r.report.ServerVersion >= pg16 {
		opts = "m.inherit_option, m.set_option"
	}
	rows, err := r.query(ctx, `SELECT g.rolname, m.admin_option, `+opts+`
		FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
		WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1`, auth)
	if err != nil {
		return err
	}
	type member struct{ admin, inherit, set bool }
	have := map[string]member{}
	for _, row := range rows {
		have[row[0]] = member{admin: row[1] == "t", inherit: row[2] == "t", set: row[3] == "t"}
	}
	wanted := map[string]bool{}
	for _, role := range append([]string{r.plan.noAccessRole()}, r.mappedRoles()...) {
		wanted[role] = true
		m, ok := have[role]
		if !ok || m.inherit || !m.set {
			stmt := fmt.Sprintf("GRANT %s TO %s", ident(role), ident(auth))
			if r.report.ServerVersion >= pg16 {
				stmt += " WITH INHERIT FALSE, SET TRUE"
			}
			if err := r.exec(ctx, fmt.Sprintf("let %s SET ROLE %s", auth, role), stmt); err != nil {
				return err
			}
		}
		if m.admin {
			if err := r.exec(ctx, fmt.Sprintf("drop %s's ADMIN option on %s", auth, role),
				fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", ident(role), ident(auth))); err != nil {
				return err
			}
		}
	}
	for _, row := range rows {
		if !wanted[row[0]] {
			if err := r.exec(ctx, fmt.Sprintf("remove %s from role %s (not in plan)", auth, row[0]),
				fmt.Sprintf("REVOKE %s FROM %s", ident(row[0]), ident(auth))); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkOwnership refuses to continue when a managed role owns anything:
// an owner's rights cannot be revoked, so GRANTs would not bound it.
func (r *run) checkOwnership(ctx context.Context) error {
	rows, err := r.query(ctx, `SELECT g.rolname, count(*) FROM pg_shdepend d JOIN pg_roles g ON g.oid = d.refobjid
		WHERE d.refclassid = 'pg_authid'::regclass AND d.deptype = 'o' AND g.rolname = ANY($1::text[])
		GROUP BY 1 ORDER BY 1`, textArray(r.allRoles()))
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		return fmt.Errorf("dbinit: role %s owns %s object(s); reassign them (REASSIGN OWNED BY) and re-run", rows[0][0], rows[0][1])
	}
	return nil
}
