package dbinit

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

const testPassword = "7f3a9c0e5b1d4f2a8c6e0b9d7a5f3e1c"

// matrix is the seed's permission matrix: role → table → allowed operations.
var matrix = map[string]map[string]string{
	"bibd_scrape":    {"datasets": "I", "chunks": "I", "topics": "S"},
	"bibd_query":     {"datasets": "S", "chunks": "S", "topics": "S", "jobs": "S", "nodes": "S"},
	"bibd_transform": {"datasets": "SIU", "chunks": "SIU", "topics": "S"},
	"bibd_audit":     {"audit_log": "IS"},
	"bibd_readonly":  {"datasets": "S", "chunks": "S", "topics": "S", "jobs": "S", "nodes": "S", "audit_log": "S"},
}

// probes are one statement per operation and table. The inserts are valid
// rows (chunks refers to the dataset the test seeds as id 1), so an allowed
// INSERT must really succeed, sequence privileges included.
var probes = map[string]map[byte]string{}

func init() {
	inserts := map[string]string{
		"datasets":  "INSERT INTO datasets (name) VALUES ('d')",
		"chunks":    "INSERT INTO chunks (dataset_id, seq) VALUES (1, 1)",
		"topics":    "INSERT INTO topics (name) VALUES (md5(random()::text))",
		"jobs":      "INSERT INTO jobs (kind) VALUES ('k')",
		"nodes":     "INSERT INTO nodes (id) VALUES (md5(random()::text))",
		"audit_log": "INSERT INTO audit_log (action) VALUES ('SELECT')",
	}
	for table, ins := range inserts {
		probes[table] = map[byte]string{
			'S': "SELECT count(*) FROM " + table,
			'I': ins,
			// WHERE false touches no column, so only UPDATE/DELETE are checked.
			'U': "UPDATE " + table + " SET id = DEFAULT WHERE false",
			'D': "DELETE FROM " + table + " WHERE false",
		}
	}
	probes["nodes"]['U'] = "UPDATE nodes SET address = NULL WHERE false"
}

func TestApplyExamplePlan(t *testing.T) {
	ctx := context.Background()
	plan, err := LoadPlan(filepath.Join("..", "configs", "roles.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := needPG(t, plan.Database)
	var logs bytes.Buffer
	in, err := New(Options{Config: cfg, AuthenticatorPassword: testPassword,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := in.Apply(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	var script bytes.Buffer
	rep.WriteSQL(&script)
	if !rep.Changed() || !strings.Contains(script.String(), "PASSWORD '***'") {
		t.Fatalf("first run: want actions including a redacted password, got:\n%s", script.String())
	}
	if strings.Contains(logs.String()+script.String(), testPassword) {
		t.Fatal("the password leaked into the log or the report")
	}
	super := connectAs(t, plan.Database, cluster.Superuser, cluster.Password())

	t.Run("role attributes", func(t *testing.T) {
		got := scalar(t, super, `SELECT string_agg(format('%s:%s%s%s%s%s%s%s', rolname, rolsuper::int, rolinherit::int,
			rolcreaterole::int, rolcreatedb::int, rolcanlogin::int, rolreplication::int, rolbypassrls::int), ' ' ORDER BY rolname)
			FROM pg_roles WHERE rolname LIKE 'bibd_%' OR rolname = 'pgshield_noaccess'`)
		// Columns: super inherit createrole createdb login replication bypassrls.
		want := "bibd_admin:0000100 bibd_audit:0100000 bibd_query:0100000 bibd_readonly:0100000 " +
			"bibd_scrape:0100000 bibd_transform:0100000 pgshield_noaccess:0000000"
		if got != want {
			t.Fatalf("roles:\n got %s\nwant %s", got, want)
		}
		if v := scalar(t, super, "SELECT rolpassword FROM pg_authid WHERE rolname = 'bibd_admin'"); !strings.HasPrefix(v, "SCRAM-SHA-256$") {
			t.Fatal("authenticator password is not a SCRAM verifier")
		}
		if v := scalar(t, super, "SELECT has_database_privilege('public', 'bibd', 'CONNECT')::text"); v != "false" {
			t.Fatal("PUBLIC can still connect")
		}
		if v := scalar(t, super, "SELECT has_schema_privilege('public', 'public', 'CREATE')::text"); v != "false" {
			t.Fatal("PUBLIC can still create in schema public")
		}
	})

	if err := cluster.Exec(ctx, plan.Database, "INSERT INTO datasets (name) VALUES ('seed')",
		"INSERT INTO audit_log (action) VALUES ('seed')"); err != nil {
		t.Fatal(err)
	}
	auth := connectAs(t, plan.Database, "bibd_admin", testPassword)

	t.Run("matrix", func(t *testing.T) {
		for role, tables := range matrix {
			for table, ops := range probes {
				for _, op := range []byte("SIUD") {
					allowed := strings.IndexByte(tables[table], op) >= 0
					sqlstate(auth, "BEGIN")
					if s := sqlstate(auth, "SET LOCAL ROLE "+ident(role)); s != "" {
						t.Fatalf("SET ROLE %s: %s", role, s)
					}
					got := sqlstate(auth, ops[op])
					sqlstate(auth, "ROLLBACK")
					want := "42501"
					if allowed {
						want = ""
					}
					if got != want {
						t.Errorf("%s %c on %s: SQLSTATE %q, want %q", role, op, table, got, want)
					}
				}
			}
		}
	})

	t.Run("authenticator reads nothing itself", func(t *testing.T) {
		for table, ops := range probes {
			if got := sqlstate(auth, ops['S']); got != "42501" {
				t.Errorf("authenticator SELECT %s: SQLSTATE %q, want 42501", table, got)
			}
		}
		// Even as its session user, with the role setting undone.
		sqlstate(auth, "BEGIN")
		sqlstate(auth, "SET LOCAL ROLE bibd_admin")
		if got := sqlstate(auth, probes["datasets"]['S']); got != "42501" {
			t.Errorf("authenticator as itself: SQLSTATE %q, want 42501", got)
		}
		sqlstate(auth, "ROLLBACK")
	})

	t.Run("sessions land on noaccess", func(t *testing.T) {
		fresh := connectAs(t, plan.Database, "bibd_admin", testPassword)
		if got := scalar(t, fresh, "SELECT current_user"); got != "pgshield_noaccess" {
			t.Errorf("fresh session current_user = %s", got)
		}
		scalar(t, fresh, "SET ROLE bibd_query; SELECT 1")
		if got := scalar(t, fresh, "SELECT current_user"); got != "bibd_query" {
			t.Errorf("after SET ROLE current_user = %s", got)
		}
		if got := scalar(t, fresh, "RESET ROLE; SELECT current_user"); got != "pgshield_noaccess" {
			t.Errorf("after RESET ROLE current_user = %s", got)
		}
	})

	t.Run("audit_log is append-only for the owner too", func(t *testing.T) {
		for _, sql := range []string{"UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log", "TRUNCATE audit_log"} {
			if got := sqlstate(super, sql); got != "42501" {
				t.Errorf("superuser %q: SQLSTATE %q, want 42501", sql, got)
			}
		}
		sqlstate(super, "SET session_replication_role = replica")
		if got := sqlstate(super, "DELETE FROM audit_log"); got != "42501" {
			t.Errorf("replica-mode DELETE: SQLSTATE %q, want 42501", got)
		}
		sqlstate(super, "RESET session_replication_role")
	})

	t.Run("second run changes nothing", func(t *testing.T) {
		rep, err := in.Apply(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		rep.WriteSQL(&buf)
		if rep.Changed() {
			t.Fatalf("second run issued:\n%s", buf.String())
		}
	})
}
