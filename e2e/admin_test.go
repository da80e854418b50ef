package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// TestAdminConsole: the admin identity runs SHOW and KILL with psql; any
// other identity gets 42501 at the console.
func TestAdminConsole(t *testing.T) {
	if _, _, err := env.PKI.Client("admin", devcerts.ClientOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := env.Config()
	cfg.Admin.Identities = []string{"admin"}
	p := env.StartProxy(t, cfg)
	victim := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	victim.Exec(c, "select 1")
	console := env.DSN(p, "admin", "dbname=pgshield")
	for cmd, want := range map[string]string{
		"SHOW POOLS":    "appdb",
		"SHOW CLIENTS":  "app_rw",
		"SHOW SERVERS":  "appdb",
		"SHOW STATS":    "appdb",
		"SHOW CONFIG":   "pool.mode",
		"SHOW SECURITY": "level",
	} {
		out, stderr, err := psql(t, console, "-c", cmd)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("%s: %v %q %q", cmd, err, out, stderr)
		}
	}
	out, _, err := psql(t, console, "-c", "KILL app")
	if err != nil || !strings.Contains(out+p.Log.String(), "killed") {
		t.Fatalf("KILL app: %v %q", err, out)
	}
	if _, err := victim.Exec(c, "select 1"); pgCode(err) != "57P01" {
		t.Fatalf("killed session: %v", err)
	}
	_, stderr, err := psql(t, env.DSN(p, "app", "dbname=pgshield"), "-c", "SHOW POOLS")
	if err == nil || !strings.Contains(stderr, "only admin identities") {
		t.Fatalf("non-admin at the console: %v %q", err, stderr)
	}

	// PAUSE holds new transactions until RESUME.
	client := pgxConnect(t, env.DSN(p, "analyst"))
	if out, _, err := psql(t, console, "-c", "PAUSE appdb"); err != nil {
		t.Fatalf("PAUSE: %v %q", err, out)
	}
	done := make(chan error, 1)
	go func() {
		var v int
		done <- client.QueryRow(c, "select 1").Scan(&v)
	}()
	select {
	case err := <-done:
		t.Fatalf("a transaction ran while paused: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if out, _, err := psql(t, console, "-c", "RESUME appdb"); err != nil {
		t.Fatalf("RESUME: %v %q", err, out)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after RESUME: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RESUME did not release the waiting transaction")
	}

	// SHUTDOWN stops the proxy: it drains and stops accepting.
	if out, _, err := psql(t, console, "-c", "SHUTDOWN"); err != nil {
		t.Fatalf("SHUTDOWN: %v %q", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, _, err := psql(t, env.DSN(p, "app"), "-c", "select 1"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the proxy still accepts after SHUTDOWN")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
