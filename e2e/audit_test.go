package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/config"
)

// auditConfig returns a config whose audit log lives in dir, with a fresh
// signing key, and the verifier key file.
func auditConfig(t *testing.T, dir string) (*config.Config, string) {
	t.Helper()
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "audit.key"), filepath.Join(keys, "audit.pub")
	if err := audit.WriteKeyFiles(io.Discard, "pgshield-test", priv, pub); err != nil {
		t.Fatal(err)
	}
	cfg := env.Config()
	cfg.Audit.Dir = dir
	cfg.Audit.SigningKeyFile = priv
	return cfg, pub
}

// readRecords returns every record line of the log in dir as a map.
func readRecords(t *testing.T, dir string) []map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	var out []map[string]any
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		fh.Close()
	}
	return out
}

// TestAuditRecordsEveryStatement: simple and extended statements, denials
// and connection events are recorded, outcomes link to their statements,
// the chain verifies, and tampering with the real log is caught.
func TestAuditRecordsEveryStatement(t *testing.T) {
	dir := t.TempDir()
	cfg, pub := auditConfig(t, dir)
	p := env.StartProxy(t, cfg)
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	conn.Exec(c, "create table if not exists audited_t (a int)")
	conn.Exec(c, "insert into audited_t values ($1)", 41)
	conn.Exec(c, "insert into audited_t values (1), (2)", pgx.QueryExecModeSimpleProtocol)
	conn.Exec(c, "reset role")
	if _, err := conn.PgConn().CopyFrom(c, strings.NewReader("1\n2\n3\n"), "copy audited_t from stdin"); err != nil {
		t.Fatal(err)
	}
	var copied strings.Builder
	if _, err := conn.PgConn().CopyTo(c, &copied, "copy (select 1 from generate_series(1,4)) to stdout"); err != nil {
		t.Fatal(err)
	}
	conn.Close(c)
	p.Stop()

	recs := readRecords(t, dir)
	find := func(pred func(m map[string]any) bool) map[string]any {
		for _, m := range recs {
			if pred(m) {
				return m
			}
		}
		return nil
	}
	ext := find(func(m map[string]any) bool {
		return m["kind"] == "statement" && m["action"] == "execute" && strings.Contains(m["statement"].(string), "values ($1)")
	})
	if ext == nil || ext["identity"] != "app" || ext["role"] != "app_rw" || ext["params"] == nil {
		t.Fatalf("extended statement record: %v", ext)
	}
	simple := find(func(m map[string]any) bool {
		return m["kind"] == "statement" && m["action"] == "query" && m["statement"] == "insert into audited_t values (1), (2)"
	})
	if simple == nil {
		t.Fatal("no record of the simple INSERT")
	}
	outcome := find(func(m map[string]any) bool { return m["kind"] == "outcome" && m["ref"] == simple["seq"] })
	if outcome == nil || outcome["rows"] != float64(2) {
		t.Fatalf("outcome of the simple INSERT: %v", outcome)
	}
	if d := find(func(m map[string]any) bool { return m["kind"] == "denied" && m["reason"] == "set_role" }); d == nil {
		t.Fatal("no record of the denied RESET ROLE")
	}
	copyIn := find(func(m map[string]any) bool {
		d, _ := m["detail"].(map[string]any)
		return m["kind"] == "outcome" && d != nil && d["copy"] == "from_client"
	})
	copyOut := find(func(m map[string]any) bool {
		d, _ := m["detail"].(map[string]any)
		return m["kind"] == "outcome" && d != nil && d["copy"] == "to_client"
	})
	if copyIn == nil || copyIn["detail"].(map[string]any)["copy_bytes"] != "6" || copyIn["rows"] != float64(3) {
		t.Fatalf("COPY FROM outcome: %v", copyIn)
	}
	if copyOut == nil || copyOut["detail"].(map[string]any)["copy_bytes"] != "8" || copyOut["rows"] != float64(4) {
		t.Fatalf("COPY TO outcome: %v", copyOut)
	}
	for _, kind := range []string{"connect", "disconnect"} {
		if find(func(m map[string]any) bool { return m["kind"] == kind }) == nil {
			t.Fatalf("no %s record", kind)
		}
	}
	if strings.Contains(readAll(t, dir), env.LoginPassword()) {
		t.Fatal("backend password in the audit log")
	}
	vkey, _ := audit.LoadVerifierKey(pub)
	rep, err := audit.Verify(dir, vkey, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	t.Logf("%d records verify", rep.Records)

	// The CLI catches a changed field in the real log.
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	data, _ := os.ReadFile(files[0])
	os.WriteFile(files[0], []byte(strings.Replace(string(data), `"identity":"app"`, `"identity":"mallory"`, 1)), 0o600)
	bin := buildBinary(t)
	out, err := exec.Command(bin, "audit", "verify", "--dir", dir, "--pubkey", pub).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "audit-000001") {
		t.Fatalf("audit verify after tampering: exit %d\n%s", code, out)
	}
}

func readAll(t *testing.T, dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// buildBinary builds pgshield once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	path := filepath.Join(env.Dir, "pgshield")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if out, err := exec.Command("go", "build", "-o", path, "../cmd/pgshield").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return path
}

// TestAuditFailClosed: with the audit log's disk full, statements are
// refused with 58030, and run again once it has room.
func TestAuditFailClosed(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(dir, "audit")
	os.MkdirAll(mnt, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the audit package's tests cover ENOSPC with an injected file", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	cfg, _ := auditConfig(t, mnt)
	p := env.StartProxy(t, cfg)
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	filler := filepath.Join(mnt, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k", "count=1000").Run() // fills the tmpfs
	var refused bool
	for range 50 {
		_, err := conn.Exec(c, "select 'this statement must be recorded first'")
		if pgCode(err) == "58030" {
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("statements ran while the audit log could not be written")
	}
	os.Remove(filler)
	var v int
	var err error
	for range 50 {
		if err = conn.QueryRow(c, "select 5").Scan(&v); err == nil {
			break
		}
	}
	if err != nil || v != 5 {
		t.Fatalf("after room came back: %v", err)
	}
}

// TestAuditTable: records also reach an append-only PostgreSQL table.
func TestAuditTable(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := auditConfig(t, dir)
	t.Setenv("PGSHIELD_TEST_AUDIT_DSN", fmt.Sprintf("host=%s port=%d user=%s dbname=postgres password=%s",
		env.Cluster.SocketDir, env.Cluster.Port, env.Cluster.Superuser, env.Cluster.Password()))
	cfg.Audit.DatabaseDSNEnv = "PGSHIELD_TEST_AUDIT_DSN"
	p := env.StartProxy(t, cfg)
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	conn.Exec(c, "select 'to the table'", pgx.QueryExecModeSimpleProtocol)
	conn.Close(c)
	p.Stop() // flushes the queue
	su, _ := env.Cluster.Config("postgres")
	pc, err := pgconn.ConnectConfig(c, su)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close(c)
	res := pc.ExecParams(c, "select count(*) from pgshield_audit_log where statement = $1 and identity = 'app'", [][]byte{[]byte("select 'to the table'")}, nil, nil, nil).Read()
	if res.Err != nil || string(res.Rows[0][0]) != "1" {
		t.Fatalf("record not in the table: %v %q", res.Err, res.Rows)
	}
	for _, sql := range []string{"update pgshield_audit_log set identity = 'x'", "delete from pgshield_audit_log", "truncate pgshield_audit_log"} {
		if _, err := pc.Exec(c, sql).ReadAll(); pgCode(err) != "42501" {
			t.Errorf("%s: want 42501, got %v", sql, err)
		}
	}
}
