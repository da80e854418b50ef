package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// backendConnections counts the pgshield login's connections to the backend.
func backendConnections(t *testing.T, c context.Context) int {
	t.Helper()
	cfg, _ := env.Cluster.Config("postgres")
	conn, err := pgconn.ConnectConfig(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	res := conn.ExecParams(c, "select count(*) from pg_stat_activity where usename = $1", [][]byte{[]byte(env.LoginRole)}, nil, nil, nil).Read()
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	var n int
	fmt.Sscan(string(res.Rows[0][0]), &n)
	return n
}

// TestPgbenchManyClientsFewConnections: pgbench -c 100 over a pool of 10 in
// simple, extended and prepared modes, with no error, and the backend never
// sees more than 10 pgshield connections.
func TestPgbenchManyClientsFewConnections(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 10
	cfg.Pool.MaxClientConn = 200
	p := env.StartProxy(t, cfg)
	dsn := env.DSN(p, "app")
	c := ctx(t)
	if out, err := exec.CommandContext(c, "pgbench", "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	secs := "10"
	if testing.Short() {
		secs = "3"
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if n := int64(backendConnections(t, c)); n > peak.Load() {
				peak.Store(n)
			}
		}
	}()
	for _, mode := range []string{"simple", "extended", "prepared"} {
		out, err := exec.CommandContext(c, "pgbench", "-c", "100", "-j", "2", "-T", secs, "-n", "-M", mode, dsn).CombinedOutput()
		if err != nil {
			t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
		}
		m := regexp.MustCompile(`number of transactions actually processed: (\d+)`).FindSubmatch(out)
		f := regexp.MustCompile(`number of failed transactions: (\d+)`).FindSubmatch(out)
		if m == nil || string(m[1]) == "0" || (f != nil && string(f[1]) != "0") {
			t.Fatalf("pgbench -M %s:\n%s", mode, out)
		}
		tps := regexp.MustCompile(`tps = ([\d.]+)`).FindSubmatch(out)
		t.Logf("-M %s: %s transactions, tps %s", mode, m[1], tps[1])
	}
	close(stop)
	wg.Wait()
	if peak.Load() > 10 {
		t.Fatalf("the backend saw %d pgshield connections; the pool size is 10", peak.Load())
	}
	t.Logf("peak backend connections: %d", peak.Load())
}

// TestThousandsOfClients: 2,000 concurrent TLS clients, each running
// transactions, over a pool of 20.
func TestThousandsOfClients(t *testing.T) {
	clients := 2000
	if testing.Short() {
		clients = 300
	}
	cfg := env.Config()
	cfg.Pool.Size = 20
	cfg.Pool.MaxClientConn = clients + 10
	p := env.StartProxy(t, cfg)
	// 2,000 TLS handshakes under the race detector on two shared cores take
	// a while; the test bounds the whole, not each client.
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	conns := connectMany(t, c, env.DSN(p, "app"), clients, 200)
	// All connected at once; now every one runs transactions.
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := conns[i]
			for j := range 3 {
				tx, err := conn.Begin(c)
				if err == nil {
					var v int
					err = tx.QueryRow(c, "select $1::int", i*10+j).Scan(&v)
					if err == nil && v != i*10+j {
						err = fmt.Errorf("got %d", v)
					}
					if err == nil {
						err = tx.Commit(c)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d clients failed: %v", failed.Load(), firstErr.Load())
	}
	if n := backendConnections(t, c); n > 20 {
		t.Fatalf("%d backend connections", n)
	}
	t.Logf("%d clients x 3 transactions over a pool of 20", clients)
}

// TestTwoIdentitiesShareOneConnection: over a pool of one, app and analyst
// interleave transactions on the same backend connection and never see each
// other's role or privileges, also after errors.
func TestTwoIdentitiesShareOneConnection(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 1
	p := env.StartProxy(t, cfg)
	app := pgxConnect(t, env.DSN(p, "app"))
	analyst := pgxConnect(t, env.DSN(p, "analyst"))
	c := ctx(t)
	if _, err := app.Exec(c, "create table if not exists shared_t (a int)"); err != nil {
		t.Fatal(err)
	}
	pids := map[uint32]bool{}
	for i := range 10 {
		for _, tc := range []struct {
			conn *pgx.Conn
			role string
		}{{app, "app_rw"}, {analyst, "analyst_ro"}} {
			var user, identity string
			var pid uint32
			if err := tc.conn.QueryRow(c, "select current_user::text, current_setting('pgshield.identity'), pg_backend_pid()").Scan(&user, &identity, &pid); err != nil {
				t.Fatal(err)
			}
			pids[pid] = true
			if user != tc.role {
				t.Fatalf("round %d: %s ran as %s", i, tc.role, user)
			}
			// Errors of every kind leave the next transaction under its role.
			switch i % 3 {
			case 0:
				tc.conn.Exec(c, "select 1/0")
			case 1:
				tc.conn.Exec(c, "reset role")
			case 2:
				tx, _ := tc.conn.Begin(c)
				tx.Exec(c, "select nosuchcolumn")
				tx.Rollback(c)
			}
		}
		if _, err := analyst.Exec(c, "insert into shared_t values (1)"); err == nil {
			t.Fatal("analyst wrote through the shared connection")
		}
		if _, err := app.Exec(c, "insert into shared_t values (1)"); err != nil {
			t.Fatalf("app could not write: %v", err)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("expected one shared backend connection, saw %d", len(pids))
	}
}

// TestPreparedStatementsAcrossConnections: pgx's statement cache and
// protocol-level named statements work in transaction mode with many
// clients over two connections; Close and DEALLOCATE behave as PostgreSQL.
func TestPreparedStatementsAcrossConnections(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 2
	p := env.StartProxy(t, cfg)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(c, env.DSN(p, "app")) // default: statement cache
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			for j := range 50 {
				var v int
				if err := conn.QueryRow(c, "select $1::int + $2::int", i, j).Scan(&v); err != nil || v != i+j {
					errs <- fmt.Errorf("client %d query %d: %v (%d)", i, j, err, v)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Named statements: prepare, use, duplicate, deallocate.
	conn := pgxConnect(t, env.DSN(p, "app"))
	pc := conn.PgConn()
	if _, err := pc.Prepare(c, "mine", "select $1::text || 'x'", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(c, "mine", "select 1", nil); pgCode(err) != "42P05" {
		t.Fatalf("duplicate prepare: %v", err)
	}
	for range 5 { // lands on either connection
		res := pc.ExecPrepared(c, "mine", [][]byte{[]byte("a")}, nil, nil).Read()
		if res.Err != nil || string(res.Rows[0][0]) != "ax" {
			t.Fatalf("exec prepared: %v", res.Err)
		}
	}
	if _, err := pc.Exec(c, "DEALLOCATE mine").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if res := pc.ExecPrepared(c, "mine", nil, nil, nil).Read(); pgCode(res.Err) != "26000" {
		t.Fatalf("after DEALLOCATE: %v", res.Err)
	}
	pc.Prepare(c, "again", "select 2", nil)
	if _, err := pc.Exec(c, "DEALLOCATE ALL").ReadAll(); err != nil {
		t.Fatal(err)
	}
	if res := pc.ExecPrepared(c, "again", nil, nil, nil).Read(); pgCode(res.Err) != "26000" {
		t.Fatalf("after DEALLOCATE ALL: %v", res.Err)
	}
	// Executing pgshield's own statements by name is refused.
	if _, err := pc.Exec(c, "EXECUTE __pgshield_enforce3('pgshield_super', 'pgshield.identity', 'x')").ReadAll(); pgCode(err) != "42501" {
		t.Fatalf("execute of a reserved name: %v", err)
	}
}

// TestParameterStatusFollowsClient: each client keeps its own reported
// parameters when it moves between connections.
func TestParameterStatusFollowsClient(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 1
	p := env.StartProxy(t, cfg)
	a := pgxConnect(t, env.DSN(p, "app", "application_name=alpha"))
	b := pgxConnect(t, env.DSN(p, "app", "application_name=beta"))
	c := ctx(t)
	for range 3 {
		for conn, want := range map[*pgx.Conn]string{a: "alpha", b: "beta"} {
			var got string
			if err := conn.QueryRow(c, "select current_setting('application_name')").Scan(&got); err != nil || got != want {
				t.Fatalf("application_name %q, want %q (%v)", got, want, err)
			}
			if ps := conn.PgConn().ParameterStatus("application_name"); ps != want {
				t.Fatalf("client's ParameterStatus %q, want %q", ps, want)
			}
		}
	}
}

// TestSessionStatePins: LISTEN, temp tables and session SET pin the client
// to its connection; with pool.session_state refuse they fail with 0A000.
func TestSessionStatePins(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 2
	p := env.StartProxy(t, cfg)
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	if _, err := conn.Exec(c, "create temp table pinned_t (a int)"); err != nil {
		t.Fatal(err)
	}
	other := pgxConnect(t, env.DSN(p, "app"))
	for range 5 {
		other.Exec(c, "select 1")
		if _, err := conn.Exec(c, "insert into pinned_t values (1)"); err != nil {
			t.Fatalf("temp table gone: the client moved to another connection: %v", err)
		}
	}
	if !strings.Contains(p.Log.String(), "session pinned") {
		t.Fatal("pin not logged")
	}

	cfg = env.Config()
	cfg.Pool.SessionState = "refuse"
	q := env.StartProxy(t, cfg)
	refused := pgxConnect(t, env.DSN(q, "app"))
	for _, sql := range []string{"listen chan", "create temp table r_t (a int)", "set work_mem = '8MB'", "select pg_advisory_lock(1)"} {
		if _, err := refused.Exec(c, sql); pgCode(err) != "0A000" {
			t.Errorf("%s: want 0A000, got %v", sql, err)
		}
	}
	var one int
	if err := refused.QueryRow(c, "select 1").Scan(&one); err != nil {
		t.Fatalf("session unusable after refusal: %v", err)
	}
}

// TestClientLeavesMidTransaction: the connection is never handed on with
// the open transaction; the next client sees none of its writes.
func TestClientLeavesMidTransaction(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 1
	p := env.StartProxy(t, cfg)
	c := ctx(t)
	setup := pgxConnect(t, env.DSN(p, "app"))
	setup.Exec(c, "create table if not exists leave_t (a int); truncate leave_t")
	leaver, err := pgx.Connect(c, env.DSN(p, "app"))
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := leaver.Begin(c)
	tx.Exec(c, "insert into leave_t values (42)")
	leaver.PgConn().Conn().Close() // gone without a word
	next := pgxConnect(t, env.DSN(p, "app"))
	var n int
	if err := next.QueryRow(c, "select count(*) from leave_t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("next client: %v, %d rows", err, n)
	}
	if st := next.PgConn().TxStatus(); st != 'I' {
		t.Fatalf("next client's status %q", st)
	}
}

// TestBackendRestartUnderPool: after the server restarts, idle clients are
// served by fresh connections without noticing; a client inside a
// transaction gets an error.
func TestBackendRestartUnderPool(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 4
	p := env.StartProxy(t, cfg)
	c := ctx(t)
	idle := pgxConnect(t, env.DSN(p, "app"))
	inTx := pgxConnect(t, env.DSN(p, "app"))
	for range 4 {
		idle.Exec(c, "select 1")
	}
	tx, err := inTx.Begin(c)
	if err != nil {
		t.Fatal(err)
	}
	tx.Exec(c, "select 1")
	if err := env.Cluster.Restart(c); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := idle.QueryRow(c, "select 7").Scan(&v); err != nil || v != 7 {
		t.Fatalf("idle client after restart: %v", err)
	}
	if _, err := tx.Exec(c, "select 1"); err == nil {
		t.Fatal("a transaction survived the server restart")
	}
}

// TestCancelReachesTheRightQuery: a cancel goes to the connection serving
// the client now; a late cancel does not touch another client's query.
func TestCancelReachesTheRightQuery(t *testing.T) {
	cfg := env.Config()
	cfg.Pool.Size = 1
	p := env.StartProxy(t, cfg)
	c := ctx(t)
	a := pgxConnect(t, env.DSN(p, "app"))
	b := pgxConnect(t, env.DSN(p, "app"))
	errc := make(chan error, 1)
	go func() {
		_, err := a.Exec(c, "select pg_sleep(30)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(30)")
	cc, cancel := context.WithTimeout(c, 5*time.Second)
	defer cancel()
	if err := a.PgConn().CancelRequest(cc); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; pgCode(err) != "57014" {
		t.Fatalf("a: %v", err)
	}
	// A late cancel from a (nothing running for a) while b runs on the
	// same connection must not cancel b.
	go func() {
		_, err := b.Exec(c, "select pg_sleep(1)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(1)")
	a.PgConn().CancelRequest(cc)
	if err := <-errc; err != nil {
		t.Fatalf("b was cancelled by a's late cancel: %v", err)
	}
}

var _ = errors.New
