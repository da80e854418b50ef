package firewall

import (
	"strings"
	"testing"
)

func newTestFirewall(t testing.TB, cfg Config) *Firewall {
	t.Helper()
	fw, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return fw
}

// TestCheckDenied lists every denied spelling we know of. Each must be
// denied with the given rule, by Check and by CheckParse.
func TestCheckDenied(t *testing.T) {
	fw := newTestFirewall(t, Config{ExtraDeniedFunctions: []string{"lo_import"}})
	tests := []struct {
		sql  string
		rule string
	}{
		// SET ROLE and friends.
		{"SET ROLE admin", RuleSetRole},
		{"set role admin", RuleSetRole},
		{"SET LOCAL ROLE admin", RuleSetRole},
		{"SET SESSION ROLE admin", RuleSetRole},
		{"SET ROLE NONE", RuleSetRole},
		{"SET ROLE TO DEFAULT", RuleSetRole},
		{"RESET ROLE", RuleSetRole},
		{"RESET/**/ROLE", RuleSetRole},
		{"SET -- x\n ROLE admin", RuleSetRole},
		{"SET /* a /* nested */ comment */ ROLE admin", RuleSetRole},
		{"\n\t  SeT\r\n\vRoLe\fadmin", RuleSetRole},
		{`SET "role" TO admin`, RuleSetRole},
		{`SET "ROLE" TO admin`, RuleSetRole},
		{`SET U&"\0072ole" TO admin`, RuleSetRole},
		{`SET U&"!0072ole" UESCAPE '!' TO admin`, RuleSetRole},
		{"SET role = 'admin'", RuleSetRole},
		{"SELECT 1; SET ROLE admin", RuleSetRole},
		{"SELECT 'a;b'; RESET ROLE", RuleSetRole},
		{"SELECT $$;$$; SET ROLE admin", RuleSetRole},
		{"RESET ALL", RuleResetAll},
		{"SET SESSION AUTHORIZATION admin", RuleSessionAuthorization},
		{"SET LOCAL SESSION AUTHORIZATION admin", RuleSessionAuthorization},
		{"RESET SESSION AUTHORIZATION", RuleSessionAuthorization},
		{"SET session_authorization = admin", RuleSessionAuthorization},
		{"DISCARD ALL", RuleDiscardAll},
		// Identity setting.
		{"SET pgshield.identity = 'alice'", RuleIdentitySetting},
		{"SET LOCAL pgshield.identity = 'alice'", RuleIdentitySetting},
		{`SET "PGShield"."identity" TO 'alice'`, RuleIdentitySetting},
		{"RESET pgshield.identity", RuleIdentitySetting},
		{"SELECT set_config('pgshield.identity', 'alice', true)", RuleIdentitySetting},
		{"SELECT set_config(' PGSHIELD.Identity ', 'alice', true)", RuleIdentitySetting},
		// Lexer-safety settings.
		{"SET standard_conforming_strings = off", RuleStandardConformingStrings},
		{"SET client_encoding = 'SJIS'", RuleClientEncoding},
		{"SET NAMES 'BIG5'", RuleClientEncoding},
		{"SELECT set_config('client_encoding', 'GBK', false)", RuleClientEncoding},
		{"SELECT set_config('standard_conforming_strings', current_setting('x'), false)", RuleStandardConformingStrings},
		// set_config of role / session_authorization, every spelling.
		{"SELECT set_config('role', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config('ROLE', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config(' role ', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config('session_authorization', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config('role'::text, 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config(E'\\x72ole', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config(U&'\\0072ole', 'admin', false)", RuleSetConfigRole},
		{"SELECT set_config($q$role$q$, 'admin', false)", RuleSetConfigRole},
		{"SELECT pg_catalog.set_config('role', 'admin', false)", RuleSetConfigRole},
		{`SELECT "pg_catalog"."set_config"('role', 'admin', false)`, RuleSetConfigRole},
		{`SELECT U&"\0073et_config"('role','x',false)`, RuleSetConfigRole},
		{"SELECT SET_CONFIG/**/('role', 'admin', false)", RuleSetConfigRole},
		{`SELECT "SET_CONFIG"('role', 'admin', false)`, RuleSetConfigRole}, // folded: err on the safe side
		{"SELECT set_config(is_local => false, new_value => 'admin', setting_name => 'role')", RuleSetConfigRole},
		{"WITH x AS (SELECT set_config('role', 'admin', false)) SELECT * FROM x", RuleSetConfigRole},
		{"SELECT * FROM (SELECT set_config('role', 'a', false)) s", RuleSetConfigRole},
		{"SELECT * FROM set_config('role', 'a', false)", RuleSetConfigRole},
		{"VALUES (set_config('role', 'a', false))", RuleSetConfigRole},
		{"SELECT set_config('role', 'a', false)::int", RuleSetConfigRole},
		{"SELECT length(upper(set_config('role', 'a', false)))", RuleSetConfigRole},
		{"SELECT CASE WHEN true THEN set_config('role', 'a', false) END", RuleSetConfigRole},
		{"SELECT 1 WHERE EXISTS (SELECT set_config('role', 'a', false))", RuleSetConfigRole},
		{"UPDATE t SET x = 1 RETURNING set_config('role', 'a', false)", RuleSetConfigRole},
		{"INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET x = set_config('role','a',false)", RuleSetConfigRole},
		{"PREPARE p AS SELECT set_config('role', 'a', false)", RuleSetConfigRole},
		{"CREATE TABLE t2 AS SELECT set_config('role', 'a', false)", RuleSetConfigRole},
		{"CREATE VIEW v AS SELECT set_config('role', 'a', false)", RuleSetConfigRole},
		{"CREATE TABLE t3 (x text DEFAULT set_config('role', 'a', false))", RuleSetConfigRole},
		{"EXPLAIN ANALYZE SELECT set_config('role', 'a', false)", RuleSetConfigRole},
		{"COPY (SELECT set_config('role', 'a', false)) TO STDOUT", RuleSetConfigRole},
		{"CALL p(set_config('role', 'a', false))", RuleSetConfigRole},
		{"SELECT 1; SELECT set_config('role', 'a', false)", RuleSetConfigRole},
		{"SELECT set_config(current_setting('x'), 'a', false)", RuleSetConfigNonConstant},
		{"SELECT set_config($1, $2, false)", RuleSetConfigNonConstant},
		{"SELECT set_config('ro' || 'le', 'a', false)", RuleSetConfigNonConstant},
		{"SELECT set_config('role'::varchar(4), 'a', false)", RuleSetConfigNonConstant},
		{"SELECT set_config(new_value => 'a', is_local => false)", RuleSetConfigNonConstant},
		{"SELECT set_config(s, 'a', false) FROM t", RuleSetConfigNonConstant},
		// pg_settings.
		{"UPDATE pg_settings SET setting = 'admin' WHERE name = 'role'", RulePgSettingsWrite},
		{"update PG_CATALOG.PG_SETTINGS set setting = 'x'", RulePgSettingsWrite},
		{`UPDATE "pg_settings" SET setting = 'x'`, RulePgSettingsWrite},
		{"WITH u AS (UPDATE pg_settings SET setting = 'x' RETURNING 1) SELECT 1", RulePgSettingsWrite},
		{"INSERT INTO pg_settings (name) VALUES ('x')", RulePgSettingsWrite},
		{"DELETE FROM pg_settings", RulePgSettingsWrite},
		{"MERGE INTO pg_settings s USING t ON true WHEN MATCHED THEN DO NOTHING", RulePgSettingsWrite},
		{"COPY pg_settings FROM STDIN", RulePgSettingsWrite},
		// Dynamic SQL functions.
		{"SELECT query_to_xml('set role admin', true, true, '')", RuleDynamicSQLFunction},
		{"SELECT pg_catalog.query_to_xml_and_xmlschema('select 1', true, true, '')", RuleDynamicSQLFunction},
		{"SELECT query_to_xmlschema('select 1', true, true, '')", RuleDynamicSQLFunction},
		{"SELECT cursor_to_xml('c', 1, true, true, '')", RuleDynamicSQLFunction},
		{"SELECT * FROM ts_stat('SELECT vector FROM docs')", RuleDynamicSQLFunction},
		{"SELECT ts_rewrite('a & b'::tsquery, 'SELECT t, s FROM aliases')", RuleDynamicSQLFunction},
		{"SELECT * FROM dblink('dbname=x', 'SELECT 1') AS t(x int)", RuleDynamicSQLFunction},
		{"SELECT dblink_exec('RESET ROLE')", RuleDynamicSQLFunction},
		{"SELECT lo_import('/etc/passwd')", RuleDeniedFunction},
		{"SELECT s.LO_IMPORT('/etc/passwd')", RuleDeniedFunction},
		// Indirect references to denied functions.
		{"CREATE AGGREGATE a(text, bool) (sfunc = set_config, stype = text, initcond = 'role')", RuleFunctionReference},
		{"CREATE OPERATOR ### (rightarg = text, function = public.dblink)", RuleFunctionReference},
		{"CREATE TRIGGER tr BEFORE INSERT ON t EXECUTE FUNCTION dblink_exec()", RuleFunctionReference},
		{"GRANT EXECUTE ON FUNCTION pg_catalog.set_config(text, text, bool) TO PUBLIC", RuleFunctionReference},
		{"SELECT t.dblink FROM t", RuleFunctionReference},
		// Statements denied outright.
		{"DO $$BEGIN EXECUTE 'RESET ROLE'; END$$", RuleDoBlock},
		{"do 'begin null; end'", RuleDoBlock},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", RuleCreateFunction},
		{"CREATE OR REPLACE PROCEDURE p() LANGUAGE sql AS $$SELECT 1$$", RuleCreateFunction},
		{"CREATE FUNCTION f() RETURNS int SECURITY DEFINER SET role = admin BEGIN ATOMIC SELECT 1; END", RuleCreateFunction},
		{"ALTER FUNCTION f() SECURITY DEFINER", RuleAlterFunction},
		{"ALTER PROCEDURE p() SET role = admin", RuleAlterFunction},
		{"ALTER FUNCTION f() OWNER TO admin", RuleAlterFunction},
		{"PREPARE TRANSACTION 'x'", RulePrepareTransaction},
		{"COPY t FROM PROGRAM 'curl http://x'", RuleCopyProgram},
		{"COPY t TO PROGRAM 'sh'", RuleCopyProgram},
		{"LOAD 'plpgsql'", RuleLoad},
		{"ALTER SYSTEM SET work_mem = '1GB'", RuleAlterSystem},
		{"ALTER ROLE app SET role = admin", RuleAlterRoleSet},
		{"ALTER USER app IN DATABASE db SET session_authorization = admin", RuleAlterRoleSet},
		{"ALTER ROLE app RESET role", RuleAlterRoleSet},
		{"ALTER DATABASE db SET role = admin", RuleAlterDatabaseSet},
		{"ALTER DATABASE db SET standard_conforming_strings = off", RuleAlterDatabaseSet},
		// Transaction control next to other statements.
		{"BEGIN; SELECT 1", RuleTransactionControlMixed},
		{"SELECT 1; COMMIT; SELECT 2", RuleTransactionControlMixed},
		{"INSERT INTO t VALUES (1); END", RuleTransactionControlMixed},
		{"BEGIN; COMMIT", RuleTransactionControlMixed},
		{"SELECT 1; ROLLBACK", RuleTransactionControlMixed},
		{"SAVEPOINT a; SELECT 1", RuleTransactionControlMixed},
		{"COMMIT AND CHAIN", RuleTransactionChain},
		{"ROLLBACK AND CHAIN", RuleTransactionChain},
		{"END AND CHAIN", RuleTransactionChain},
		// Flagged but unparseable: fail closed.
		{"SET ROLE admin garbage garbage", RuleUnparseable},
		{"SELECT set_config('role', 'admin', false", RuleUnparseable},
		{"SELECT 1\x00; SET ROLE admin", RuleUnparseable},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			for _, v := range []Verdict{fw.Check(tt.sql), fw.CheckParse("", tt.sql)} {
				if v.Allowed || v.Rule != tt.rule {
					t.Fatalf("verdict %+v, want denied by %q", v, tt.rule)
				}
				if v.Reason == "" || strings.Contains(v.Reason, "admin") {
					t.Errorf("reason %q must be set and client-safe", v.Reason)
				}
				de, ok := v.Err().(*DeniedError)
				if !ok || de.Rule != tt.rule || de.SQLState() != DeniedSQLState {
					t.Errorf("Err() = %v, want *DeniedError for %q", v.Err(), tt.rule)
				}
			}
		})
	}
}

// TestCheckAllowed lists texts that must pass; fast ones must not reach the
// parser at all.
func TestCheckAllowed(t *testing.T) {
	fw := newTestFirewall(t, Config{})
	tests := []struct {
		sql        string
		fast       bool // the pre-filter alone decides
		statements int
	}{
		{"SELECT * FROM accounts WHERE id = $1", true, 1},
		{"select a, b from t where c = 'x' order by a limit 10", true, 1},
		{"INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id", true, 1},
		{"UPDATE accounts SET balance = balance - $1 WHERE id = $2", true, 1},
		{"INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = excluded.x", true, 1},
		{"INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING", true, 1},
		{"DELETE FROM t WHERE id = ANY($1)", true, 1},
		{"CALL transfer($1, $2)", true, 1},
		{"SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t", true, 1},
		{"SELECT 1; SELECT 2;", true, 2},
		{";; SELECT 1 ;; -- trailing\n", true, 1},
		{"", true, 0},
		{"-- only a comment", true, 0},
		{"SELECT 'SET ROLE x'", true, 1},
		{"SELECT E'it\\'s; set role x'", true, 1},
		{"SELECT 'a''b; reset role'", true, 1},
		{"SELECT $$ reset role $$", true, 1},
		{"SELECT $tag$ set role x; $$ $tag$", true, 1},
		{"SELECT 1 -- set role x", true, 1},
		{"SELECT /* set role /* nested */ x */ 1", true, 1},
		{"SELECT x$y FROM t", true, 1},
		{`SELECT "a""b" FROM t`, true, 1},
		{"SELECT current_setting('role')", true, 1}, // 'role' is a string here
		{"SELECT set_config('app.tenant', '42', true)", false, 1},
		{"SELECT set_config('app.tenant'::text, $1, true)", false, 1},
		{"SET LOCAL app.tenant = '42'", false, 1},
		{"SET LOCAL statement_timeout = 1000", false, 1},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", false, 1},
		{"SET client_encoding = 'UTF8'", false, 1},
		{"RESET client_encoding", false, 1},
		{"SET standard_conforming_strings = on", false, 1},
		{"BEGIN", false, 1},
		{"START TRANSACTION ISOLATION LEVEL REPEATABLE READ", false, 1},
		{"COMMIT", false, 1},
		{"END", false, 1},
		{"ROLLBACK", false, 1},
		{"ABORT", false, 1},
		{"SAVEPOINT s1", false, 1},
		{"RELEASE SAVEPOINT s1", false, 1},
		{"ROLLBACK TO SAVEPOINT s1", false, 1},
		{"COPY t TO STDOUT", false, 1},
		{"ALTER TABLE t ADD COLUMN x int", false, 1},
		{"ALTER ROLE app SET work_mem = '64MB'", false, 1},
		{"SELECT role FROM members", false, 1},
		{"SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)", false, 1},
		{"SELECT table_to_xml('t', true, true, '')", true, 1},
		{"SELECT pg_advisory_xact_lock(1)", false, 1},
		{"EXECUTE p(1)", true, 1},
		{"SELEC * FORM t WHERE", true, 1}, // unflagged syntax error: the server reports it
		{"SELECT 'unterminated", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			before := fw.parses.Load()
			v := fw.Check(tt.sql)
			parsed := fw.parses.Load() != before
			if !v.Allowed {
				t.Fatalf("verdict %+v, want allowed", v)
			}
			if parsed == tt.fast {
				t.Errorf("parser used = %v, want %v", parsed, !tt.fast)
			}
			if v.Statements != tt.statements {
				t.Errorf("Statements = %d, want %d", v.Statements, tt.statements)
			}
		})
	}
}
