package dbinit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// public is how the ACL maps below name the PUBLIC pseudo-role.
const public = ""

// acl is what one object grants: grantee → privilege → grantable. The
// owner's implicit rights are left out: they cannot be revoked usefully.
type acl struct {
	owner string
	privs map[string]map[string]bool
}

// aclSources are the catalog rows each object kind's ACL lives in, with the
// default ACL PostgreSQL applies when the column is NULL.
var aclSources = map[string]string{
	"DATABASE": `SELECT datdba AS owner, coalesce(datacl, acldefault('d', datdba)) AS acl FROM pg_database WHERE datname = $1`,
	"SCHEMA":   `SELECT nspowner, coalesce(nspacl, acldefault('n', nspowner)) FROM pg_namespace WHERE nspname = $1`,
	"TABLE":    `SELECT relowner, coalesce(relacl, acldefault('r', relowner)) FROM pg_class WHERE oid = $1::regclass`,
	"SEQUENCE": `SELECT relowner, coalesce(relacl, acldefault('s', relowner)) FROM pg_class WHERE oid = $1::regclass`,
}

// readACL loads the ACL of the object of kind named key (a database or
// schema name, or a quoted relation name).
func (r *run) readACL(ctx context.Context, kind, key string) (*acl, error) {
	rows, err := r.query(ctx, `SELECT pg_get_userbyid(o.owner), a.grantee = 0, coalesce(g.rolname, ''),
		coalesce(a.privilege_type, ''), coalesce(a.is_grantable, false)
		FROM (`+aclSources[kind]+`) o(owner, acl)
		LEFT JOIN LATERAL aclexplode(o.acl) a ON a.grantee <> o.owner
		LEFT JOIN pg_roles g ON g.oid = a.grantee`, key)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("dbinit: %s %s does not exist", strings.ToLower(kind), key)
	}
	a := &acl{owner: rows[0][0], privs: map[string]map[string]bool{}}
	for _, row := range rows {
		if row[3] == "" {
			continue // no entries besides the owner's
		}
		grantee := row[2]
		if row[1] == "t" {
			grantee = public
		}
		if a.privs[grantee] == nil {
			a.privs[grantee] = map[string]bool{}
		}
		a.privs[grantee][row[3]] = row[4] == "t"
	}
	return a, nil
}

// target is one object whose ACL a run converges.
type target struct {
	kind  string // DATABASE, SCHEMA, TABLE or SEQUENCE
	key   string // for readACL
	sql   string // quoted name for GRANT and REVOKE
	label string // for summaries
}

// convergeACL grants each managed grantee exactly desired[grantee] and
// revokes everything else it holds, grant options included. Grantees not in
// managed are left alone: the plan only speaks for its own roles.
func (r *run) convergeACL(ctx context.Context, t target, managed []string, desired map[string][]string) error {
	a, err := r.readACL(ctx, t.kind, t.key)
	if err != nil {
		return err
	}
	for _, g := range managed {
		if g != public && a.owner == g {
			return fmt.Errorf("dbinit: %s is owned by managed role %s; owners keep every privilege, so change its owner", t.label, g)
		}
	}
	for _, g := range managed {
		have := a.privs[g]
		var grant, revoke, revokeOption []string
		for _, p := range desired[g] {
			grantable, ok := have[p]
			if !ok {
				grant = append(grant, p)
			} else if grantable {
				revokeOption = append(revokeOption, p)
			}
		}
		for p := range have {
			if !slices.Contains(desired[g], p) {
				revoke = append(revoke, p)
			}
		}
		who, whoSQL := g, ident(g)
		if g == public {
			who, whoSQL = "PUBLIC", "PUBLIC"
		}
		on := fmt.Sprintf("ON %s %s", t.kind, t.sql)
		steps := []struct {
			privs           []string
			summary, format string
		}{
			{grant, "grant %s %s to %s", "GRANT %s %s TO %s"},
			{revoke, "revoke %s %s from %s", "REVOKE %s %s FROM %s"},
			{revokeOption, "revoke grant option for %s %s from %s", "REVOKE GRANT OPTION FOR %s %s FROM %s"},
		}
		for _, s := range steps {
			if len(s.privs) == 0 {
				continue
			}
			sort.Strings(s.privs)
			list := strings.Join(s.privs, ", ")
			summary := fmt.Sprintf(s.summary, list, "on "+t.label, who)
			if err := r.exec(ctx, summary, fmt.Sprintf(s.format, list, on, whoSQL)); err != nil {
				return err
			}
		}
	}
	return nil
}

// managedGrantees is PUBLIC plus every role the plan manages.
func (r *run) managedGrantees() []string { return append([]string{public}, r.allRoles()...) }

// databaseACL: PUBLIC gets nothing (no CONNECT, no TEMP); the authenticator
// and the mapped roles get CONNECT only.
func (r *run) databaseACL(ctx context.Context) error {
	desired := map[string][]string{r.plan.authenticator(): {"CONNECT"}}
	for _, m := range r.mappedRoles() {
		desired[m] = []string{"CONNECT"}
	}
	db := r.plan.Database
	return r.convergeACL(ctx, target{kind: "DATABASE", key: db, sql: ident(db), label: "database " + db},
		r.managedGrantees(), desired)
}

// schemaACLs: on public, nobody but its owner may CREATE, and PUBLIC keeps
// the USAGE PostgreSQL gives it; declared schemas give PUBLIC nothing. A
// mapped role gets USAGE on each schema it has a grant in.
func (r *run) schemaACLs(ctx context.Context) error {
	usage := map[string]map[string][]string{}
	for _, role := range r.plan.Roles {
		for _, g := range role.Grants {
			s := schemaOrPublic(g.Schema)
			if usage[s] == nil {
				usage[s] = map[string][]string{}
			}
			usage[s][role.Name] = []string{"USAGE"}
		}
	}
	pub := target{kind: "SCHEMA", key: "public", sql: ident("public"), label: "schema public"}
	a, err := r.readACL(ctx, "SCHEMA", "public")
	if err != nil {
		return err
	}
	desired := usage["public"]
	if desired == nil {
		desired = map[string][]string{}
	}
	if _, ok := a.privs[public]["USAGE"]; ok {
		desired[public] = []string{"USAGE"}
	}
	if err := r.convergeACL(ctx, pub, r.managedGrantees(), desired); err != nil {
		return err
	}
	for _, s := range r.plan.Schemas {
		if s.Name == "public" {
			continue
		}
		t := target{kind: "SCHEMA", key: s.Name, sql: ident(s.Name), label: "schema " + s.Name}
		if err := r.convergeACL(ctx, t, r.managedGrantees(), usage[s.Name]); err != nil {
			return err
		}
	}
	return nil
}

// tableACLs gives each managed role exactly its planned table privileges
// and everybody else managed (PUBLIC included) nothing.
func (r *run) tableACLs(ctx context.Context) error {
	for _, t := range r.plan.Tables {
		desired := map[string][]string{}
		for _, role := range r.plan.Roles {
			for _, g := range role.Grants {
				if g.Table != "" && qualify(g.Schema, g.Table) == qualify(t.Schema, t.Name) {
					desired[role.Name] = mergePrivs(desired[role.Name], g.Privileges)
				}
			}
		}
		q := qident(t.Schema, t.Name)
		tg := target{kind: "TABLE", key: q, sql: q, label: "table " + qualify(t.Schema, t.Name)}
		if err := r.convergeACL(ctx, tg, r.managedGrantees(), desired); err != nil {
			return err
		}
	}
	return nil
}

// mergePrivs adds privs (any case) to set, upper-cased and without duplicates.
func mergePrivs(set, privs []string) []string {
	for _, p := range privs {
		if p = strings.ToUpper(p); !slices.Contains(set, p) {
			set = append(set, p)
		}
	}
	return set
}
