package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// currentUser runs select current_user over the simple protocol.
func currentUser(t *testing.T, pc *pgconn.PgConn) string {
	t.Helper()
	res, err := pc.Exec(ctx(t), "select current_user").ReadAll()
	if err != nil {
		t.Fatalf("select current_user: %v", err)
	}
	return string(res[0].Rows[0][0])
}

func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// escapes are attempts to leave the mapped role, or to reach SQL that could,
// in the spellings a client might try. Each must be denied with 42501.
var escapes = []string{
	"RESET ROLE",
	"reset role",
	"RESET/**/ROLE",
	"reset -- comment\n role",
	"SET ROLE analyst_ro",
	"set role to analyst_ro",
	"SET ROLE NONE",
	"SET SESSION ROLE analyst_ro",
	"SET LOCAL ROLE analyst_ro",
	`SET "role" TO analyst_ro`,
	"SET role = DEFAULT",
	"SET SESSION AUTHORIZATION DEFAULT",
	"RESET SESSION AUTHORIZATION",
	"RESET ALL",
	"DISCARD ALL",
	"SELECT set_config('role', 'analyst_ro', false)",
	"select SET_CONFIG('role', 'analyst_ro', false)",
	"SELECT pg_catalog.set_config('role', 'analyst_ro', false)",
	`SELECT "pg_catalog"."set_config"('role', 'analyst_ro', false)`,
	`SELECT U&"\0073et_config"('role', 'analyst_ro', false)`,
	"SELECT set_config('ROLE', 'analyst_ro', false)",
	"SELECT set_config('session_authorization', 'pgshield_super', false)",
	"SELECT set_config(current_setting('application_name'), 'analyst_ro', false)",
	"WITH x AS (SELECT set_config('role', 'analyst_ro', false)) SELECT * FROM x",
	"SELECT (SELECT set_config('role', 'analyst_ro', false))",
	"VALUES (set_config('role', 'analyst_ro', false))",
	"SELECT set_config('role', 'analyst_ro', false)::text",
	"SELECT 1 WHERE set_config('role', 'analyst_ro', false) IS NOT NULL",
	"SELECT CASE WHEN true THEN set_config('role', 'analyst_ro', false) END",
	"SELECT set_config('pgshield.identity', 'analyst', false)",
	"SET pgshield.identity = 'analyst'",
	"RESET pgshield.identity",
	`SET "pgshield"."identity" TO 'analyst'`,
	"UPDATE pg_settings SET setting = 'analyst_ro' WHERE name = 'role'",
	"UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'role'",
	"SELECT query_to_xml('select 1', true, true, '')",
	"SELECT * FROM ts_stat('select 1')",
	"DO $$BEGIN PERFORM set_config('role', 'analyst_ro', false); END$$",
	"CREATE FUNCTION esc() RETURNS int LANGUAGE sql AS 'select 1'",
	"CREATE OR REPLACE PROCEDURE esc() LANGUAGE sql AS 'select 1'",
	"PREPARE TRANSACTION 'x'",
	"COPY (select 1) TO PROGRAM 'cat'",
	"LOAD 'plpgsql'",
	"ALTER SYSTEM SET work_mem = '1MB'",
	"ALTER ROLE app_rw SET role = 'analyst_ro'",
	"ALTER DATABASE appdb SET session_authorization = 'pgshield_super'",
	"SELECT 1; RESET ROLE",
	"SELECT 1; SELECT set_config('role', 'analyst_ro', false)",
	"BEGIN; SET LOCAL ROLE analyst_ro; COMMIT",
	"COMMIT AND CHAIN",
	"PREPARE esc AS SELECT set_config('role', 'analyst_ro', false)",
	"EXPLAIN ANALYZE SELECT set_config('role', 'analyst_ro', false)",
	"CREATE TABLE esc AS SELECT set_config('role', 'analyst_ro', false)",
}

// TestEscapeAttemptsDenied: every escape is denied with 42501 over the
// simple and the extended protocol, and the session stays under its role.
func TestEscapeAttemptsDenied(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	pc := conn.PgConn()
	c := ctx(t)
	if u := currentUser(t, pc); u != "app_rw" {
		t.Fatalf("current_user = %q, want app_rw", u)
	}
	for _, sql := range escapes {
		t.Run("simple/"+sql, func(t *testing.T) {
			_, err := pc.Exec(c, sql).ReadAll()
			if pgCode(err) != "42501" {
				t.Fatalf("not denied: %v", err)
			}
			if u := currentUser(t, pc); u != "app_rw" {
				t.Fatalf("after %q current_user = %q", sql, u)
			}
		})
		t.Run("parse/"+sql, func(t *testing.T) {
			// pgx prepares a named statement (Parse) and executes it.
			_, err := conn.Exec(c, sql, pgx.QueryExecModeCacheStatement)
			if pgCode(err) != "42501" {
				t.Fatalf("not denied: %v", err)
			}
			if u := currentUser(t, pc); u != "app_rw" {
				t.Fatalf("after %q current_user = %q", sql, u)
			}
		})
	}
	t.Logf("%d escape attempts, each denied over both protocols", len(escapes))
	// The denials were logged with their rule.
	if logs := p.Log.String(); !strings.Contains(logs, `msg="statement denied"`) || !strings.Contains(logs, "rule=set_role") {
		t.Error("denials not logged with their rule")
	}
}

// TestEscapeInsideTransactionAndPipeline: a denial inside a block aborts it
// (the role holds until it ends); a denial pipelined after an allowed
// statement fails the pipeline at that point.
func TestEscapeInsideTransactionAndPipeline(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	pc := conn.PgConn()
	c := ctx(t)
	if _, err := pc.Exec(c, "BEGIN").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Exec(c, "RESET ROLE").ReadAll(); pgCode(err) != "42501" {
		t.Fatalf("RESET ROLE in a block: %v", err)
	}
	if _, err := pc.Exec(c, "select 1").ReadAll(); pgCode(err) != "25P02" {
		t.Fatalf("the block was not aborted: %v", err)
	}
	if pc.TxStatus() != 'E' {
		t.Fatalf("tx status %q, want E", pc.TxStatus())
	}
	if _, err := pc.Exec(c, "ROLLBACK").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if u := currentUser(t, pc); u != "app_rw" {
		t.Fatalf("current_user = %q", u)
	}

	// Pipelined: an allowed Execute, then a denied Parse, before one Sync.
	pl := pc.StartPipeline(c)
	pl.SendQueryParams("select current_user", nil, nil, nil, nil)
	pl.SendPrepare("esc", "RESET ROLE", nil)
	pl.SendQueryParams("select 'not reached'", nil, nil, nil, nil)
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	res, err := pl.GetResults()
	if err != nil {
		t.Fatal(err)
	}
	rr := res.(*pgconn.ResultReader).Read()
	if rr.Err != nil || string(rr.Rows[0][0]) != "app_rw" {
		t.Fatalf("first statement: %v %q", rr.Err, rr.Rows)
	}
	if _, err := pl.GetResults(); pgCode(err) != "42501" {
		t.Fatalf("pipelined escape: %v", err)
	}
	for {
		res, err := pl.GetResults()
		if err != nil {
			t.Fatalf("after the denial: %v", err)
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			break
		}
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	if u := currentUser(t, pc); u != "app_rw" {
		t.Fatalf("current_user = %q", u)
	}
}

// TestRoleOnEveryPath: select current_user returns the mapped role, and the
// identity setting the certificate identity, through every way of running
// a statement, with nothing extra reaching the client.
func TestRoleOnEveryPath(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	var notices []string
	cfg, err := pgx.ParseConfig(env.DSN(p, "analyst"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	c := ctx(t)
	conn, err := pgx.ConnectConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	pc := conn.PgConn()
	want := "analyst_ro|analyst"
	row := func(sql string, args ...any) string {
		t.Helper()
		var u, id string
		if err := conn.QueryRow(c, sql, args...).Scan(&u, &id); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return u + "|" + id
	}
	const q = "select current_user::text, current_setting('pgshield.identity')"
	if got := row(q, pgx.QueryExecModeSimpleProtocol); got != want {
		t.Errorf("simple: %s", got)
	}
	if got := row(q, pgx.QueryExecModeCacheStatement); got != want {
		t.Errorf("named statement: %s", got)
	}
	if got := row(q, pgx.QueryExecModeExec); got != want {
		t.Errorf("unnamed statement: %s", got)
	}
	// A multi-statement query: exactly two results, no extra CommandComplete.
	res, err := pc.Exec(c, "select current_user; select current_setting('pgshield.identity')").ReadAll()
	if err != nil || len(res) != 2 || string(res[0].Rows[0][0]) != "analyst_ro" || string(res[1].Rows[0][0]) != "analyst" {
		t.Fatalf("multi-statement: %v %d results", err, len(res))
	}
	// An explicit block holds the role, also after an error inside it.
	tx, err := conn.Begin(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := row(q); got != want {
		t.Errorf("in block: %s", got)
	}
	tx.Exec(c, "savepoint s")
	if _, err := tx.Exec(c, "select 1/0"); err == nil {
		t.Fatal("no error")
	}
	tx.Exec(c, "rollback to savepoint s")
	if got := row(q); got != want {
		t.Errorf("after an error in the block: %s", got)
	}
	tx.Commit(c)
	// Pipelined Parse/Bind/Execute with several Executes before one Sync.
	pl := pc.StartPipeline(c)
	for range 3 {
		pl.SendQueryParams("select current_user", nil, nil, nil, nil)
	}
	pl.Sync()
	for i := range 3 {
		res, err := pl.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		rr := res.(*pgconn.ResultReader).Read()
		if rr.Err != nil || string(rr.Rows[0][0]) != "analyst_ro" {
			t.Fatalf("pipeline %d: %v %q", i, rr.Err, rr.Rows)
		}
	}
	pl.GetResults()
	pl.Close()
	// COPY and a cursor.
	var buf strings.Builder
	if _, err := pc.CopyTo(c, &buf, "copy (select current_user) to stdout"); err != nil || buf.String() != "analyst_ro\n" {
		t.Fatalf("copy: %v %q", err, buf.String())
	}
	pc.Exec(c, "begin").ReadAll()
	res, err = pc.Exec(c, "declare cur cursor for select current_user; fetch cur").ReadAll()
	if err != nil || string(res[1].Rows[0][0]) != "analyst_ro" {
		t.Fatalf("cursor: %v", err)
	}
	pc.Exec(c, "commit").ReadAll()
	if len(notices) > 0 {
		t.Fatalf("notices reached the client: %q", notices)
	}
}

// TestStandaloneStatementsRunUnderRole: VACUUM and CREATE INDEX CONCURRENTLY
// cannot run in a transaction, so they run under a session-level role that
// is reset after them.
func TestStandaloneStatementsRunUnderRole(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	pc := conn.PgConn()
	c := ctx(t)
	for _, sql := range []string{
		"create table if not exists standalone_t (a int)",
		"vacuum standalone_t",
		"create index concurrently if not exists standalone_i on standalone_t (a)",
		"drop index concurrently standalone_i",
	} {
		if _, err := pc.Exec(c, sql).ReadAll(); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if u := currentUser(t, pc); u != "app_rw" {
		t.Fatalf("current_user = %q", u)
	}
	// The session role was reset: outside pgshield's transactions the
	// session is on the authenticator's no-privilege role.
	var owner string
	if err := conn.QueryRow(c, "select tableowner from pg_tables where tablename = 'standalone_t'").Scan(&owner); err != nil || owner != "app_rw" {
		t.Fatalf("owner %q %v", owner, err)
	}
	// The read-only analyst may not run them.
	ro := pgxConnect(t, env.DSN(p, "analyst"))
	if _, err := ro.PgConn().Exec(c, "vacuum standalone_t").ReadAll(); pgCode(err) != "42501" {
		t.Fatalf("read-only vacuum: %v", err)
	}
}

// TestReadOnlyIdentity: an identity marked read_only cannot write, nor turn
// its transaction read-write.
func TestReadOnlyIdentity(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	app := pgxConnect(t, env.DSN(p, "app"))
	ro := pgxConnect(t, env.DSN(p, "analyst"))
	c := ctx(t)
	if _, err := app.Exec(c, "create table if not exists ro_t (a int); grant select, insert on ro_t to analyst_ro"); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Exec(c, "insert into ro_t values (1)"); pgCode(err) != "25006" {
		t.Fatalf("insert by read-only identity: %v", err)
	}
	if _, err := ro.PgConn().Exec(c, "begin read write; insert into ro_t values (1); commit").ReadAll(); err == nil {
		t.Fatal("read-only identity opened a read-write transaction")
	}
	var n int
	if err := ro.QueryRow(c, "select count(*) from ro_t").Scan(&n); err != nil {
		t.Fatalf("read: %v", err)
	}
}

func init() {
	if len(escapes) < 40 {
		panic(fmt.Sprintf("only %d escape attempts", len(escapes)))
	}
}
