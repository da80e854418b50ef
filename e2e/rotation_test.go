package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/daemon"
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
	cfg := env.Config()
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
	secs := "12"
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
	rctx, cancel := context.WithTimeout(c, time.Minute)
	defer cancel()
	start := time.Now()
	if err := p.Daemon.RotateCredentials(rctx); err != nil {
		t.Fatalf("rotate: %v", err)
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
	if strings.Contains(logs+out.String(), old.Password()) {
		t.Fatal("a password was printed")
	}
	t.Logf("pgbench during rotation: %s", regexp.MustCompile(`tps = [\d.]+`).FindString(out.String()))
}
