package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/internal/syncbuf"
	"github.com/pgshield/pgshield/internal/testenv"
)

// TestAuditSurvivesCrash is the acceptance test of the audit log's crash
// promise: pgshield (the real binary, audit mode batch) is killed with
// SIGKILL under pgbench load and started again with the same config. Then
// the chain verifies across the crash, a restart record follows it, and
// every statement the backend logged for pgshield's login role
// (log_statement = all) has its audit record. A record without an execution
// is allowed (recorded, then killed before forwarding); the reverse is not.
func TestAuditSurvivesCrash(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg, pub := auditConfig(t, dir)
	cfg.Audit.Mode = "batch"
	cfgFile := writeConfigYAML(t, cfg)
	logFrom := enableStatementLog(t)

	// Instance 1: initialise, then load, then SIGKILL.
	p1 := startServe(t, bin, cfgFile)
	dsn := env.DSN(&testenv.Proxy{Host: p1.host, Port: p1.port}, "app")
	c := ctx(t)
	if out, err := exec.CommandContext(c, "pgbench", "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, p1.redact(string(out)))
	}
	script := filepath.Join(t.TempDir(), "multiline.sql")
	// Multi-line statements: the server log continues them on lines
	// starting with a tab.
	if err := os.WriteFile(script, []byte(`\set aid random(1, 100000 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts
   SET abalance = abalance + :delta
 WHERE aid = :aid;
SELECT abalance
  FROM pgbench_accounts
 WHERE aid = :aid;
END;
`), 0o644); err != nil {
		t.Fatal(err)
	}
	loads := []*exec.Cmd{
		exec.CommandContext(c, "pgbench", "-c", "8", "-j", "2", "-T", "20", "-n", dsn),
		exec.CommandContext(c, "pgbench", "-c", "4", "-j", "1", "-T", "20", "-n", "-M", "prepared", "-f", script, dsn),
	}
	outs := make([]*bytes.Buffer, len(loads))
	done := make(chan error, len(loads))
	for i, cmd := range loads {
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
	}
	time.Sleep(4 * time.Second)
	p1.kill(t)
	for range loads {
		select {
		case <-done: // pgbench fails once its proxy is gone: expected
		case <-time.After(30 * time.Second):
			t.Fatal("pgbench did not end after the proxy was killed")
		}
	}
	for i := range loads {
		t.Logf("pgbench %d after the kill: %s", i, lastLine(outs[i].String()))
	}

	// Instance 2: same config; it must verify the tail and append a restart record.
	p2 := startServe(t, bin, cfgFile)
	dsn2 := env.DSN(&testenv.Proxy{Host: p2.host, Port: p2.port}, "app")
	if out, stderr, err := psql(t, dsn2, "-c", "select 'after the crash'"); err != nil || out != "after the crash" {
		t.Fatalf("psql after restart: %v %q %s", err, out, p2.redact(stderr))
	}
	conn := pgxConnect(t, dsn2)
	var n int
	if err := conn.QueryRow(c, "select count(*) from pgbench_history where delta > $1", -100000).Scan(&n); err != nil {
		t.Fatalf("extended query after restart: %v", err)
	}
	conn.Close(c)
	p2.stop(t)
	waitLoginSessionsGone(t)

	// 1. The chain continues across the crash.
	out, err := exec.Command(bin, "audit", "verify", "--dir", dir, "--pubkey", pub).CombinedOutput()
	if code := exitCode(err); code != 0 {
		t.Fatalf("audit verify: exit %d\n%s", code, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
	if strings.Contains(readAll(t, dir), env.LoginPassword()) {
		t.Fatal("backend password in the audit log")
	}

	// 2. A restart record right after instance 1's last record.
	recs := readRecords(t, dir)
	checkRestart(t, recs)

	// 3. Every statement the backend executed has its record.
	executed := readStatementLog(t, logFrom)
	compareWithBackend(t, recs, executed)
}

// writeConfigYAML writes cfg as YAML for `pgshield serve` and checks that
// it reads back as the same config (durations, inline pool settings).
func writeConfigYAML(t *testing.T, cfg *config.Config) string {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := config.Parse(data)
	if err != nil {
		t.Fatalf("config does not read back: %v", err)
	}
	again, err := yaml.Marshal(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Fatalf("config does not round-trip through YAML:\n%s\n---\n%s", data, again)
	}
	path := filepath.Join(t.TempDir(), "pgshield.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statementLogPrefix marks the server log lines this test reads.
const statementLogPrefix = "%m [%p] user=%u "

// enableStatementLog makes the backend log every statement of pgshield's
// login role with the user in each line, undoes it when the test ends, and
// returns the log's size before.
func enableStatementLog(t *testing.T) int64 {
	t.Helper()
	c := ctx(t)
	fi, err := os.Stat(env.Cluster.LogFile)
	if err != nil {
		t.Fatalf("server log: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := env.Cluster.Exec(c, "",
			fmt.Sprintf("ALTER ROLE %s RESET log_statement", env.LoginRole),
			"ALTER SYSTEM RESET log_line_prefix",
			"SELECT pg_reload_conf()"); err != nil {
			t.Errorf("restore logging settings: %v", err)
		}
	})
	if err := env.Cluster.Exec(c, "",
		fmt.Sprintf("ALTER ROLE %s SET log_statement = 'all'", env.LoginRole),
		fmt.Sprintf("ALTER SYSTEM SET log_line_prefix = '%s'", statementLogPrefix),
		"SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for superQuery(t, "SHOW log_line_prefix") != statementLogPrefix {
		if time.Now().After(deadline) {
			t.Fatal("log_line_prefix did not take effect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fi.Size()
}

// superQuery returns the first column of the first row of sql, run as the
// superuser on a new connection.
func superQuery(t *testing.T, sql string) string {
	t.Helper()
	cfg, err := env.Cluster.Config("postgres")
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	res := conn.ExecParams(c, sql, nil, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.Rows) == 0 {
		return ""
	}
	return string(res.Rows[0][0])
}

// waitLoginSessionsGone waits until no backend of the login role is left,
// so everything they executed is in the server log.
func waitLoginSessionsGone(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	q := fmt.Sprintf("select count(*) from pg_stat_activity where usename = '%s'", env.LoginRole)
	for superQuery(t, q) != "0" {
		if time.Now().After(deadline) {
			t.Fatal("backends of the login role are still running")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serveProc is `pgshield serve` running as its own process.
type serveProc struct {
	cmd        *exec.Cmd
	out        *syncbuf.Buffer
	done       chan error
	host, port string
	// exited is set by the test goroutine once Wait has returned.
	exited bool
}

var listeningRE = regexp.MustCompile(`msg="pgshield listening" addr=(\S+)`)

func startServe(t *testing.T, bin, cfgFile string) *serveProc {
	t.Helper()
	p := &serveProc{out: &syncbuf.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, "serve", "--config", cfgFile)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("pgshield (pid %d) output, last lines:\n%s", p.cmd.Process.Pid, p.redact(lastLines(p.out.String(), 60)))
		}
	})
	deadline := time.After(30 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(p.out.String()); m != nil {
			var err error
			if p.host, p.port, err = splitHostPort(m[1]); err != nil {
				t.Fatal(err)
			}
			return p
		}
		select {
		case err := <-p.done:
			p.exited = true
			t.Fatalf("pgshield serve exited at start: %v\n%s", err, p.redact(p.out.String()))
		case <-deadline:
			t.Fatalf("pgshield serve is not listening after 30s\n%s", p.redact(p.out.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func splitHostPort(addr string) (string, string, error) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", "", fmt.Errorf("bad listen address %q", addr)
	}
	return addr[:i], addr[i+1:], nil
}

// kill is SIGKILL: no drain, no final checkpoint.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.exited = true
}

// stop is SIGTERM; pgshield must exit 0 within its grace period.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.exited = true
		if err != nil {
			t.Fatalf("pgshield after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("pgshield did not stop after SIGTERM")
	}
}

// redact hides the backend password in anything printed.
func (p *serveProc) redact(s string) string {
	return strings.ReplaceAll(s, env.LoginPassword(), "[backend password]")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// checkRestart checks there is one restart record, written by the second
// instance right after the first instance's last record.
func checkRestart(t *testing.T, recs []map[string]any) {
	t.Helper()
	var restarts []map[string]any
	for _, m := range recs {
		if m["kind"] == "restart" {
			restarts = append(restarts, m)
		}
	}
	if len(restarts) != 1 {
		t.Fatalf("%d restart records, want 1", len(restarts))
	}
	r := restarts[0]
	seq := uint64(r["seq"].(float64))
	bySeq := map[uint64]map[string]any{}
	for _, m := range recs {
		bySeq[uint64(m["seq"].(float64))] = m
	}
	before, after := bySeq[seq-1], bySeq[seq+1]
	if before == nil || after == nil {
		t.Fatalf("restart record %d is not between two records", seq)
	}
	first, second := recs[0]["instance"], r["instance"]
	if before["instance"] != first || second == first || after["instance"] != second {
		t.Fatalf("restart record %d: instance before %v, restart %v, after %v; first instance %v",
			seq, before["instance"], second, after["instance"], first)
	}
	detail, _ := r["detail"].(map[string]any)
	if detail["previous_seq"] != strconv.FormatUint(seq-1, 10) {
		t.Fatalf("restart record %d: detail %v", seq, detail)
	}
	for _, m := range recs {
		if m["instance"] != first && m["instance"] != second {
			t.Fatalf("record %v from a third instance", m["seq"])
		}
	}
	t.Logf("restart record at seq %d (detail %v); %d records in all", seq, detail, len(recs))
}

// executed is one statement the backend logged.
type executed struct {
	pid      int
	extended bool
	text     string
}

// logEntryRE matches the first line of an entry with statementLogPrefix:
// time, pid, user, level, message.
var logEntryRE = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[(\d+)\] user=(\S*) ([A-Z]+):  (.*)$`)

// executeRE is an extended-protocol execution: execute <name>: text.
var executeRE = regexp.MustCompile(`^execute ([^:]+): `)

// readStatementLog returns the statements the backend logged for the
// login role from offset on, in order. Continuation lines of an entry
// start with a tab.
func readStatementLog(t *testing.T, offset int64) []executed {
	t.Helper()
	f, err := os.Open(env.Cluster.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out []executed
	var cur *executed
	flush := func() {
		if cur != nil {
			out = append(out, *cur)
			cur = nil
		}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "\t") {
			if cur != nil {
				cur.text += "\n" + line[1:]
			}
			continue
		}
		flush()
		m := logEntryRE.FindStringSubmatch(line)
		if m == nil || m[2] != env.LoginRole || m[3] != "LOG" {
			continue
		}
		msg := m[4]
		pid, _ := strconv.Atoi(m[1])
		switch {
		case strings.HasPrefix(msg, "statement: "):
			cur = &executed{pid: pid, text: strings.TrimPrefix(msg, "statement: ")}
		case executeRE.MatchString(msg):
			cur = &executed{pid: pid, extended: true, text: msg[len(executeRE.FindString(msg)):]}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// paramSyncRE is pgshield's own SET of client parameters on a pooled
// connection (proxy/attach.go).
var paramSyncRE = regexp.MustCompile(`^SET (application_name|client_encoding|DateStyle|IntervalStyle|TimeZone) = '(?:[^']|'')*'(?:; SET (application_name|client_encoding|DateStyle|IntervalStyle|TimeZone) = '(?:[^']|'')*')*$`)

// pgshieldOwn reports whether text is one of pgshield's own statements:
// enforcement, the session role around standalone statements, parameter
// sync, the marker standing for a denied statement.
func pgshieldOwn(text string) bool {
	return strings.HasPrefix(text, "WITH s AS MATERIALIZED") ||
		strings.HasPrefix(text, "SET SESSION ROLE ") ||
		strings.HasPrefix(text, "RESET ROLE") ||
		paramSyncRE.MatchString(text) ||
		text == "pgshield_denied" || text == ""
}

// compareWithBackend fails the test for every backend execution without an
// audit record of the same statement (by SHA-256 of the full text, so a
// truncated record still counts) naming the same backend pid. A record
// with no pid (the first statement of a transaction is recorded before a
// pooled connection is attached) may stand for an execution on any
// backend. Each record stands for one execution at most.
func compareWithBackend(t *testing.T, recs []map[string]any, execs []executed) {
	t.Helper()
	type key struct {
		sum string
		pid int
	}
	recorded := map[key]int{}
	total := 0
	for _, m := range recs {
		if m["kind"] != "statement" || (m["action"] != "query" && m["action"] != "execute") {
			continue
		}
		sum, _ := m["statement_sha256"].(string)
		pid, _ := m["backend_pid"].(float64)
		recorded[key{sum, int(pid)}]++
		total++
	}
	var missing []string
	own, extended, multiline, matched, unknownPID := 0, 0, 0, 0, 0
	for _, e := range execs {
		if pgshieldOwn(e.text) {
			own++
			continue
		}
		if e.extended {
			extended++
		}
		if strings.Contains(e.text, "\n") {
			multiline++
		}
		h := sha256.Sum256([]byte(e.text))
		sum := hex.EncodeToString(h[:])
		switch {
		case recorded[key{sum, e.pid}] > 0:
			recorded[key{sum, e.pid}]--
		case recorded[key{sum, 0}] > 0:
			recorded[key{sum, 0}]--
			unknownPID++
		default:
			missing = append(missing, fmt.Sprintf("backend pid %d: %q", e.pid, e.text))
			continue
		}
		matched++
	}
	clientExecs := len(execs) - own
	t.Logf("backend logged %d statements for %s: %d pgshield's own, %d from clients (%d extended, %d multi-line); "+
		"%d matched an audit record (%d of them a record without backend pid), %d did not; %d records without an execution",
		len(execs), env.LoginRole, own, clientExecs, extended, multiline, matched, unknownPID, len(missing), total-matched)
	if clientExecs < 200 || extended == 0 || multiline == 0 {
		t.Fatalf("%d client statements executed (%d extended, %d multi-line): the load did not run", clientExecs, extended, multiline)
	}
	if len(missing) > 0 {
		n := len(missing)
		if len(missing) > 20 {
			missing = missing[:20]
		}
		t.Fatalf("%d statements the backend executed have no audit record:\n%s", n, strings.Join(missing, "\n"))
	}
}
