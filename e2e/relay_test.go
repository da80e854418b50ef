package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func pgxConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// lineReader produces n deterministic COPY text lines of about 100 bytes.
type lineReader struct {
	i, n int
	buf  bytes.Buffer
}

func (r *lineReader) Read(p []byte) (int, error) {
	for r.buf.Len() < len(p) && r.i < r.n {
		fmt.Fprintf(&r.buf, "%d\tline %08d %s\n", r.i, r.i, strings.Repeat(string(rune('a'+r.i%26)), 80))
		r.i++
	}
	if r.buf.Len() == 0 {
		return 0, io.EOF
	}
	return r.buf.Read(p)
}

// TestCopyRoundTrip: 100 MB in through COPY FROM STDIN and out through COPY
// TO STDOUT, byte-identical.
func TestCopyRoundTrip(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	pc := conn.PgConn()
	c := ctx(t)
	if _, err := pc.Exec(c, "drop table if exists copy_rt; create table copy_rt(id int, line text)").ReadAll(); err != nil {
		t.Fatal(err)
	}
	lines := 1_000_000 // ~100 MB
	if testing.Short() {
		lines = 50_000
	}
	in := sha256.New()
	src := io.TeeReader(&lineReader{n: lines}, in)
	tag, err := pc.CopyFrom(c, src, "copy copy_rt from stdin")
	if err != nil {
		t.Fatal(err)
	}
	if tag.RowsAffected() != int64(lines) {
		t.Fatalf("copied %d rows", tag.RowsAffected())
	}
	out := sha256.New()
	counter := &countingWriter{w: out}
	if _, err := pc.CopyTo(c, counter, "copy (select * from copy_rt order by id) to stdout"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Fatalf("COPY round trip differs (%d bytes out)", counter.n)
	}
	t.Logf("%d bytes round-tripped", counter.n)
	if _, err := pc.Exec(c, "drop table copy_rt").ReadAll(); err != nil {
		t.Fatal(err)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.w.Write(p)
}

// TestListenNotify: a notification crosses between two clients.
func TestListenNotify(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	listener := pgxConnect(t, env.DSN(p, "app"))
	notifier := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	if _, err := listener.Exec(c, "listen pgshield_events"); err != nil {
		t.Fatal(err)
	}
	if _, err := notifier.Exec(c, "select pg_notify('pgshield_events', 'hello')"); err != nil {
		t.Fatal(err)
	}
	wc, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	n, err := listener.WaitForNotification(wc)
	if err != nil {
		t.Fatal(err)
	}
	if n.Channel != "pgshield_events" || n.Payload != "hello" {
		t.Fatalf("got %+v", n)
	}
}

// TestExtendedAndPipelined: pgx's extended protocol, a batch and an explicit
// pipeline with several Executes before one Sync.
func TestExtendedAndPipelined(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	var sum int
	var s string
	if err := conn.QueryRow(c, "select $1::int + $2::int, $3::text", 40, 2, "x").Scan(&sum, &s); err != nil || sum != 42 || s != "x" {
		t.Fatalf("extended query: %d %q %v", sum, s, err)
	}
	batch := &pgx.Batch{}
	for i := range 20 {
		batch.Queue("select $1::int * 2", i)
	}
	br := conn.SendBatch(c, batch)
	for i := range 20 {
		var v int
		if err := br.QueryRow().Scan(&v); err != nil || v != 2*i {
			t.Fatalf("batch %d: %d %v", i, v, err)
		}
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	pl := conn.PgConn().StartPipeline(c)
	for i := range 5 {
		pl.SendQueryParams("select $1::text", [][]byte{[]byte(fmt.Sprint(i))}, nil, nil, nil)
	}
	if err := pl.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		res, err := pl.GetResults()
		if err != nil {
			t.Fatal(err)
		}
		rr := res.(*pgconn.ResultReader).Read()
		if rr.Err != nil || string(rr.Rows[0][0]) != fmt.Sprint(i) {
			t.Fatalf("pipeline %d: %v %q", i, rr.Err, rr.Rows)
		}
	}
	if _, err := pl.GetResults(); err != nil { // the Sync's ReadyForQuery
		t.Fatal(err)
	}
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	// An error mid-session leaves it usable.
	if _, err := conn.Exec(c, "select 1/0"); err == nil {
		t.Fatal("division by zero succeeded")
	}
	if err := conn.QueryRow(c, "select 7").Scan(&sum); err != nil || sum != 7 {
		t.Fatalf("after error: %v", err)
	}
}

// TestDirectTLS: PG17 direct TLS (ALPN postgresql) with pgx.
func TestDirectTLS(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app", "sslnegotiation=direct"))
	var v string
	if err := conn.QueryRow(ctx(t), "select 'direct'").Scan(&v); err != nil || v != "direct" {
		t.Fatalf("%q %v", v, err)
	}
	if !strings.Contains(p.Log.String(), "session started") {
		t.Fatal("no session logged")
	}
}

// TestPgbench: pgbench -c 8 -T 5 through pgshield with no failed transaction.
func TestPgbench(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	dsn := env.DSN(p, "app")
	c := ctx(t)
	if out, err := exec.CommandContext(c, "pgbench", "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(c, "pgbench", "-c", "8", "-j", "2", "-T", "5", "-n", dsn).CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`number of transactions actually processed: (\d+)`).FindSubmatch(out)
	if m == nil || string(m[1]) == "0" {
		t.Fatalf("no transactions:\n%s", out)
	}
	if f := regexp.MustCompile(`number of failed transactions: (\d+)`).FindSubmatch(out); f != nil && string(f[1]) != "0" {
		t.Fatalf("failed transactions:\n%s", out)
	}
	t.Logf("pgbench: %s transactions", m[1])
}

// TestCancel: psql's Ctrl-C (SIGINT) cancels a running query within a second.
func TestCancel(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	c := ctx(t)
	cmd := exec.CommandContext(c, "psql", "-X", "-d", env.DSN(p, "app"), "-c", "select pg_sleep(30)")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitBackendQuery(t, "pg_sleep(30)")
	start := time.Now()
	cmd.Process.Signal(interrupt)
	err := cmd.Wait()
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("query was not cancelled")
	}
	if !strings.Contains(stderr.String(), "canceling statement due to user request") {
		t.Fatalf("psql said %q", stderr.String())
	}
	if elapsed > time.Second {
		t.Fatalf("cancel took %v", elapsed)
	}
	// A cancel request with a wrong key does nothing.
	conn := pgxConnect(t, env.DSN(p, "app"))
	if err := conn.QueryRow(c, "select 1").Scan(new(int)); err != nil {
		t.Fatal(err)
	}
}

// TestBackendKilledMidQuery: a terminated or killed backend gives the
// client an error within two seconds, and the proxy keeps serving.
func TestBackendKilledMidQuery(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	for _, how := range []string{"pg_terminate_backend", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			conn := pgxConnect(t, env.DSN(p, "app"))
			c := ctx(t)
			errc := make(chan error, 1)
			go func() {
				_, err := conn.Exec(c, "select pg_sleep(30)")
				errc <- err
			}()
			pid := waitBackendQuery(t, "pg_sleep(30)")
			start := time.Now()
			if how == "pg_terminate_backend" {
				if err := env.Cluster.Exec(c, "", fmt.Sprintf("select pg_terminate_backend(%d)", pid)); err != nil {
					t.Fatal(err)
				}
			} else if out, err := exec.Command("kill", "-9", fmt.Sprint(pid)).CombinedOutput(); err != nil {
				t.Fatalf("kill: %v %s", err, out)
			}
			select {
			case err := <-errc:
				var pgErr *pgconn.PgError
				if err == nil {
					t.Fatal("query succeeded")
				}
				if how == "pg_terminate_backend" && (!errors.As(err, &pgErr) || pgErr.Code != "57P01") {
					t.Fatalf("want 57P01, got %v", err)
				}
				if how == "SIGKILL" && errors.As(err, &pgErr) && pgErr.Code != "08006" && pgErr.Code != "57P02" {
					t.Fatalf("want 08006, got %v", err)
				}
				t.Logf("client error after %v: %v", time.Since(start).Round(time.Millisecond), err)
			case <-time.After(2 * time.Second):
				t.Fatal("no error within 2s")
			}
		})
	}
	// The postmaster restarts after SIGKILL of a backend; pgshield serves new clients once it is back.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := psql(t, env.DSN(p, "app"), "-c", "select 'back'")
		if err == nil && out == "back" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pgshield did not serve after the backend restarted")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBackendUnreachable: login to an unreachable backend gives 08001.
func TestBackendUnreachable(t *testing.T) {
	cfg := env.Config()
	cfg.Backend.Port = 1 // no socket there
	p := env.StartProxy(t, cfg)
	_, stderr, err := psql(t, env.DSN(p, "app"), "-c", "select 1")
	if err == nil || !strings.Contains(stderr, "pgshield cannot reach the database") {
		t.Fatalf("err=%v stderr=%q", err, stderr)
	}
	conn, err := pgx.Connect(ctx(t), env.DSN(p, "app"))
	var pgErr *pgconn.PgError
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected")
	}
	if !errors.As(err, &pgErr) || pgErr.Code != "08001" {
		t.Fatalf("want 08001, got %v", err)
	}
	if strings.Contains(err.Error(), env.Cluster.SocketDir) {
		t.Fatalf("backend address leaked to the client: %v", err)
	}
}

// TestShutdownDrains: SIGTERM lets a running query finish, refuses new
// clients, and after the grace period ends idle sessions with 57P01.
func TestShutdownDrains(t *testing.T) {
	cfg := env.Config()
	cfg.ShutdownGrace = 2 * time.Second
	p := env.StartProxy(t, cfg)
	busy := pgxConnect(t, env.DSN(p, "app"))
	idle := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	errc := make(chan error, 1)
	go func() {
		_, err := busy.Exec(c, "select pg_sleep(1)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(1)")
	done := p.Shutdown()
	if err := <-errc; err != nil {
		t.Fatalf("running query did not finish: %v", err)
	}
	if _, _, err := psql(t, env.DSN(p, "app"), "-c", "select 1"); err == nil {
		t.Fatal("new connection accepted while draining")
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown did not finish")
	}
	_, err := idle.Exec(c, "select 1")
	var pgErr *pgconn.PgError
	if err == nil {
		t.Fatal("idle session survived shutdown")
	}
	if errors.As(err, &pgErr) && pgErr.Code != "57P01" {
		t.Fatalf("want 57P01, got %v", err)
	}
	t.Logf("idle session: %v", err)
}

// waitBackendQuery waits until a backend runs a query containing text and returns its pid.
func waitBackendQuery(t *testing.T, text string) int {
	t.Helper()
	cfg, err := env.Cluster.Config("postgres")
	if err != nil {
		t.Fatal(err)
	}
	c := ctx(t)
	conn, err := pgconn.ConnectConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		res := conn.ExecParams(c, "select pid from pg_stat_activity where query like '%'||$1||'%' and pid <> pg_backend_pid() and state = 'active'",
			[][]byte{[]byte(text)}, nil, nil, nil).Read()
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if len(res.Rows) > 0 {
			var pid int
			fmt.Sscan(string(res.Rows[0][0]), &pid)
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no backend runs %q", text)
	return 0
}
