package firewall

import "testing"

func TestEffects(t *testing.T) {
	fw := newTestFirewall(t, Config{})
	tests := []struct {
		sql     string
		session SessionEffects
		tx      TxControl
	}{
		{"SET work_mem = '64MB'", SessionSet, 0},
		{"SET SESSION work_mem = '64MB'", SessionSet, 0},
		{"SET work_mem TO DEFAULT", SessionSet, 0},
		{"RESET work_mem", SessionSet, 0},
		{"SET LOCAL work_mem = '64MB'", 0, 0},
		{"SET LOCAL work_mem TO DEFAULT", 0, 0},
		{"SET TRANSACTION READ ONLY", 0, 0},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", SessionSet, 0},
		{"SELECT set_config('app.tenant', '42', false)", SessionSet, 0},
		{"SELECT set_config('app.tenant', '42', $1)", SessionSet, 0},
		{"SELECT set_config('app.tenant', '42', true)", 0, 0},
		{"LISTEN chan", Listen, 0},
		{"UNLISTEN *", Unlisten, 0},
		{"CREATE TEMP TABLE t (x int)", TempTable, 0},
		{"CREATE TEMPORARY TABLE t AS SELECT 1", TempTable, 0},
		{"CREATE TEMP VIEW v AS SELECT 1", TempTable, 0},
		{"CREATE TEMP SEQUENCE s", TempTable, 0},
		{"SELECT 1 INTO TEMP t", TempTable, 0},
		{"CREATE TABLE pg_temp.t (x int)", TempTable, 0},
		{"CREATE TABLE t (x int)", 0, 0},
		{"SELECT pg_advisory_lock(1)", AdvisoryLock, 0},
		{"SELECT pg_catalog.pg_try_advisory_lock_shared(1, 2)", AdvisoryLock, 0},
		{"SELECT pg_advisory_xact_lock(1)", 0, 0},
		{"PREPARE p AS SELECT 1", SQLPrepare, 0},
		{"DEALLOCATE p", Deallocate, 0},
		{"DEALLOCATE ALL", Deallocate, 0},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", HoldCursor, 0},
		{"DECLARE c CURSOR FOR SELECT 1", 0, 0},
		{"DISCARD PLANS", DiscardSome, 0},
		{"DISCARD SEQUENCES", DiscardSome, 0},
		{"DISCARD TEMP", DiscardSome, 0},
		{"SET work_mem = 1; LISTEN a; SELECT pg_advisory_lock(1)", SessionSet | Listen | AdvisoryLock, 0},
		{"BEGIN", 0, Begin},
		{"BEGIN ISOLATION LEVEL SERIALIZABLE", 0, Begin},
		{"START TRANSACTION", 0, Begin},
		{"COMMIT", 0, Commit},
		{"COMMIT AND NO CHAIN", 0, Commit},
		{"END", 0, Commit},
		{"ROLLBACK", 0, Rollback},
		{"ABORT", 0, Rollback},
		{"SAVEPOINT s", 0, Savepoint},
		{"RELEASE s", 0, ReleaseSavepoint},
		{"ROLLBACK TO s", 0, RollbackToSavepoint},
		{"COMMIT PREPARED 'x'", 0, TwoPhase},
		{"ROLLBACK PREPARED 'x'", 0, TwoPhase},
		{"SELECT 1", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			v := fw.Check(tt.sql)
			if !v.Allowed {
				t.Fatalf("verdict %+v, want allowed", v)
			}
			if v.Session != tt.session || v.TxControl != tt.tx {
				t.Errorf("Session=%v TxControl=%v, want %v %v", v.Session, v.TxControl, tt.session, tt.tx)
			}
		})
	}
}

func TestEffectStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{SessionEffects(0).String(), "none"},
		{(SessionSet | Listen).String(), "set|listen"},
		{DiscardSome.String(), "discard_some"},
		{TxControl(0).String(), "none"},
		{(Begin | Commit).String(), "begin|commit"},
		{TwoPhase.String(), "two_phase"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestStandalone(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sql  string
		want bool
	}{
		{"VACUUM", true},
		{"vacuum analyze pgbench_branches", true},
		{"VACUUM (VERBOSE) t", true},
		{"ANALYZE t", false},
		{"CREATE INDEX CONCURRENTLY i ON t (a)", true},
		{"CREATE INDEX i ON t (a)", false},
		{"DROP INDEX CONCURRENTLY i", true},
		{"REINDEX (CONCURRENTLY) TABLE t", true},
		{"REINDEX TABLE t", false},
		{"REINDEX DATABASE d", true},
		{"CLUSTER", true},
		{"CLUSTER t USING i", false},
		{"CREATE DATABASE d", true},
		{"DROP DATABASE d", true},
		{"CREATE TABLESPACE s LOCATION '/x'", true},
		{"COMMIT PREPARED 'x'", true},
		{"SELECT current_database()", false},
		{"SELECT 1", false},
	}
	for _, tt := range tests {
		if v := f.Check(tt.sql); v.Standalone != tt.want {
			t.Errorf("Check(%q).Standalone = %v, want %v (%+v)", tt.sql, v.Standalone, tt.want, v)
		}
	}
}

func TestReservedNames(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"EXECUTE __pgshield_enforce3('admin', 'pgshield.identity', 'x')",
		"execute __PGSHIELD_s1",
		`EXECUTE "__pgshield_s1"`,
		"EXPLAIN ANALYZE EXECUTE __pgshield_enforce1('x')",
		"CREATE TABLE t AS EXECUTE __pgshield_enforce1('x')",
		"DEALLOCATE __pgshield_enforce1",
		"PREPARE __pgshield_x AS SELECT 1",
	} {
		if v := f.Check(sql); v.Allowed || v.Rule != RuleReservedName {
			t.Errorf("%q: %+v", sql, v)
		}
	}
	if v := f.Check("EXECUTE my_stmt(1)"); !v.Allowed {
		t.Errorf("ordinary EXECUTE denied: %+v", v)
	}
}
