package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/credstore"
	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/devcerts"
)

// TestRotationUnderLoad: the backend login is rotated while pgbench runs 16
// clients: no transaction fails, no backend login fails, the old password
// no longer works afterwards, and no password shows anywhere.
func TestRotationUnderLoad(t *testing.T) {
	c := ctx(t)
	if err := env.Cluster.Exec(c, "", "CREATE ROLE pgshield_rot NOLOGIN NOINHERIT", "GRANT app_rw, analyst_ro TO pgshield_rot"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	su, _ := env.Cluster.Config("appdb")
	t.Setenv("PGSHIELD_TEST_ADMIN_DSN", fmt.Sprintf("host=%s port=%d user=%s dbname=appdb password=%s",
		env.Cluster.SocketDir, env.Cluster.Port, env.Cluster.Superuser, env.Cluster.Password()))
	cfg, _ := auditConfig(t, filepath.Join(dir, "audit"))
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.Admin.Identities = []string{"rot-admin"}
	if _, _, err := env.PKI.Client("rot-admin", devcerts.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg.Backend.LoginRole = "pgshield_rot"
	cfg.Backend.PasswordFile = ""
	cfg.Pool.Size = 8
	cfg.Credentials = config.Credentials{StoreFile: filepath.Join(dir, "db.enc"), IdentityKeyFile: filepath.Join(dir, "node.key"),
		GracePeriod: 2 * time.Second, AdminDSNEnv: "PGSHIELD_TEST_ADMIN_DSN"}
	creds, err := daemon.OpenCredentials(c, cfg, slog.New(slog.DiscardHandler), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Rotator().Bootstrap(c, su); err != nil {
		t.Fatal(err)
	}
	old, _ := creds.Rotator().Active()
	creds.Close()

	p := env.StartProxy(t, cfg)
	dsn := env.DSN(p, "app")
	if out, err := exec.CommandContext(c, "pgbench", "-i", "-s", "1", "-q", dsn).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	secs := "30"
	if testing.Short() {
		secs = "6"
	}
	bench := exec.CommandContext(c, "pgbench", "-c", "16", "-j", "2", "-T", secs, "-n", dsn)
	var out strings.Builder
	bench.Stdout, bench.Stderr = &out, &out
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	start := time.Now()
	// Through the running proxy's admin console.
	if out, stderr, err := psql(t, env.DSN(p, "rot-admin", "dbname=pgshield"), "-c", "ROTATE CREDENTIALS"); err != nil {
		t.Fatalf("ROTATE CREDENTIALS: %v %q %q", err, out, stderr)
	}
	t.Logf("rotation took %v", time.Since(start).Round(time.Millisecond))
	if err := bench.Wait(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out.String())
	}
	if f := regexp.MustCompile(`number of failed transactions: (\d+)`).FindStringSubmatch(out.String()); f == nil || f[1] != "0" {
		t.Fatalf("failed transactions:\n%s", out.String())
	}
	logs := p.Log.String()
	if strings.Contains(logs, "backend login failed") {
		t.Fatalf("a backend login failed during rotation:\n%s", logs)
	}
	// The old login no longer works.
	oc := su.Copy()
	oc.User, oc.Password = old.Login, old.Password()
	if conn, err := pgconn.ConnectConfig(c, oc); err == nil {
		conn.Close(c)
		t.Fatalf("the old login %s still logs in", old.Login)
	}
	// And the new one serves: a fresh session works.
	var n int
	if err := pgxConnect(t, dsn).QueryRow(c, "select 1").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// Neither password shows in logs, the audit log, metrics, the admin
	// console's output or pgbench's.
	console := ""
	for _, cmd := range []string{"SHOW CONFIG", "SHOW SECURITY", "SHOW SERVERS", "SHOW CLIENTS"} {
		o, _, _ := psql(t, env.DSN(p, "rot-admin", "dbname=pgshield"), "-c", cmd)
		console += o
	}
	metricsBody := scrape(t, "http://"+p.Daemon.OpsAddr().String()+"/metrics")
	creds2, err := daemon.OpenCredentials(c, cfg, slog.New(slog.DiscardHandler), nil, false)
	if err == nil {
		t.Fatal("the running proxy's store could be opened twice")
	}
	_ = creds2
	everything := logs + out.String() + console + metricsBody + readAll(t, filepath.Join(dir, "audit"))
	secrets := []string{old.Password(), env.Cluster.Password()}
	key, err := credstore.LoadIdentityKey(cfg.Credentials.IdentityKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := credstore.ReadState(cfg.Credentials.StoreFile, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, cr := range st.Credentials {
		if pw := cr.Password(); pw != "" {
			secrets = append(secrets, pw)
		}
	}
	for _, secret := range secrets {
		if strings.Contains(everything, secret) {
			t.Fatal("a password was shown")
		}
	}
	if !strings.Contains(metricsBody, `pgshield_credential_rotations_total{outcome="success"} 1`) {
		t.Error("the rotation was not counted")
	}
	t.Logf("pgbench during rotation: %s", regexp.MustCompile(`tps = [\d.]+`).FindString(out.String()))
}

// TestLoginModeRotation: role_mode login with the credential store: each
// mapped role is a login of its own, rotated in place, serialized against
// its new logins, with no failed transaction under load.
func TestLoginModeRotation(t *testing.T) {
	c := ctx(t)
	if err := env.Cluster.Exec(c, "", "CREATE ROLE app_lm NOLOGIN NOINHERIT", "CREATE ROLE analyst_lm NOLOGIN NOINHERIT",
		"GRANT app_rw TO app_lm", "GRANT analyst_ro TO analyst_lm"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	su, _ := env.Cluster.Config("appdb")
	t.Setenv("PGSHIELD_TEST_ADMIN_DSN", fmt.Sprintf("host=%s port=%d user=%s dbname=appdb password=%s",
		env.Cluster.SocketDir, env.Cluster.Port, env.Cluster.Superuser, env.Cluster.Password()))
	cfg := env.Config()
	cfg.RoleMode = "login"
	cfg.Backend.PasswordFile = ""
	cfg.Identities[0].Role, cfg.Identities[1].Role = "app_lm", "analyst_lm"
	cfg.Pool.Size = 4
	cfg.Credentials = config.Credentials{StoreFile: filepath.Join(dir, "db.enc"), IdentityKeyFile: filepath.Join(dir, "node.key"),
		AdminDSNEnv: "PGSHIELD_TEST_ADMIN_DSN"}
	creds, err := daemon.OpenCredentials(c, cfg, slog.New(slog.DiscardHandler), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Bootstrap(c, su); err != nil {
		t.Fatal(err)
	}
	old, _ := creds.Store().Snapshot().Active("app_lm")
	creds.Close()
	p := env.StartProxy(t, cfg)
	var wg sync.WaitGroup
	var failures atomic.Int64
	stop := make(chan struct{})
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := pgx.Connect(c, env.DSN(p, []string{"app", "analyst"}[i%2]))
				if err != nil {
					failures.Add(1)
					continue
				}
				var u string
				if err := conn.QueryRow(c, "select current_user").Scan(&u); err != nil || !strings.HasSuffix(u, "_lm") {
					failures.Add(1)
				}
				conn.Close(c)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	if err := p.Daemon.RotateCredentials(c); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failures during the rotation", n)
	}
	oc := su.Copy()
	oc.User, oc.Password = "app_lm", old.Password()
	if conn, err := pgconn.ConnectConfig(c, oc); err == nil {
		conn.Close(c)
		t.Fatal("the old password still works")
	}
	if strings.Contains(p.Log.String(), old.Password()) {
		t.Fatal("a password was logged")
	}
}

// TestRotationUnderThousandsOfClients: 2,000 pooled TLS clients keep
// running transactions while the backend login rotates: none fails.
func TestRotationUnderThousandsOfClients(t *testing.T) {
	clients := 2000
	if testing.Short() {
		clients = 300
	}
	c, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := env.Cluster.Exec(c, "", "CREATE ROLE pgshield_rot2 NOLOGIN NOINHERIT", "GRANT app_rw, analyst_ro TO pgshield_rot2"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	su, _ := env.Cluster.Config("appdb")
	t.Setenv("PGSHIELD_TEST_ADMIN_DSN", fmt.Sprintf("host=%s port=%d user=%s dbname=appdb password=%s",
		env.Cluster.SocketDir, env.Cluster.Port, env.Cluster.Superuser, env.Cluster.Password()))
	cfg := env.Config()
	cfg.Backend.LoginRole = "pgshield_rot2"
	cfg.Backend.PasswordFile = ""
	cfg.Pool.Size = 20
	cfg.Pool.MaxClientConn = clients + 10
	cfg.Credentials = config.Credentials{StoreFile: filepath.Join(dir, "db.enc"), IdentityKeyFile: filepath.Join(dir, "node.key"),
		GracePeriod: 2 * time.Second, AdminDSNEnv: "PGSHIELD_TEST_ADMIN_DSN"}
	creds, err := daemon.OpenCredentials(c, cfg, slog.New(slog.DiscardHandler), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := creds.Bootstrap(c, su); err != nil {
		t.Fatal(err)
	}
	creds.Close()
	p := env.StartProxy(t, cfg)
	conns := connectMany(t, c, env.DSN(p, "app"), clients, 100)
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var txs atomic.Int64
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var v int
				if err := conn.QueryRow(c, "select 1").Scan(&v); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
					return
				}
				txs.Add(1)
			}
		}()
	}
	time.Sleep(time.Second)
	if err := p.Daemon.RotateCredentials(c); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if failures.Load() > 0 {
		t.Fatalf("%d transactions failed during the rotation: %v", failures.Load(), firstErr.Load())
	}
	if strings.Contains(p.Log.String(), "backend login failed") {
		t.Fatal("a backend login failed during the rotation")
	}
	t.Logf("%d clients, %d transactions across the rotation", clients, txs.Load())
}
