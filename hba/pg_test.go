package hba

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgshield/pgshield/internal/pgcluster"
)

// TestInstallIntoPostgres installs a generated pg_hba.conf into a real
// server and checks who it lets in.
func TestInstallIntoPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		t.Skipf("no PostgreSQL: %v", err)
	}
	defer c.Stop()

	pw := make([]byte, 16)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	super := connect(ctx, t, c, c.Superuser, c.Password())
	for _, role := range []string{"hba_proxy", "hba_other"} {
		// The statement carries a password: on failure report only the role.
		sql := "CREATE ROLE " + pgx.Identifier{role}.Sanitize() + " LOGIN PASSWORD '" + password + "'"
		if _, err := super.Exec(ctx, sql).ReadAll(); err != nil {
			t.Fatalf("create role %s failed", role)
		}
	}
	if _, err := super.Exec(ctx, "CREATE DATABASE hbadb").ReadAll(); err != nil {
		t.Fatal(err)
	}

	// Quoted names, keywords and lists parse: pg_hba_file_rules reads the
	// file on disk, so this needs no reload.
	quoted, _, err := Generate(Options{Databases: []string{"appdb", "all", "two words"},
		Roles: []string{"auth_a", "+group", "@file", "replication"}, ProxySocketDir: "/run/x", AdminRole: "dba"})
	if err != nil {
		t.Fatal(err)
	}
	install(t, filepath.Join(c.Dir, "data"), quoted)
	checkRules(ctx, t, super)

	hbaConf, _, err := Generate(Options{Databases: []string{"hbadb"}, Roles: []string{"hba_proxy"},
		ProxySocketDir: c.SocketDir, AdminRole: c.Superuser})
	if err != nil {
		t.Fatal(err)
	}
	install(t, filepath.Join(c.Dir, "data"), hbaConf)
	if _, err := super.Exec(ctx, "SELECT pg_reload_conf()").ReadAll(); err != nil {
		t.Fatal(err)
	}
	checkRules(ctx, t, super)

	tests := []struct {
		role, db string
		ok       bool
	}{
		{"hba_proxy", "hbadb", true},
		{"hba_proxy", "postgres", false}, // right role, wrong database
		{"hba_other", "hbadb", false},    // right password, role not listed
		{c.Superuser, "postgres", true},  // the admin line
	}
	for _, tt := range tests {
		cfg, err := c.Config(tt.db)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Password = tt.role, password
		if tt.role == c.Superuser {
			cfg.Password = c.Password()
		}
		conn, err := pgconn.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(ctx)
		}
		var pgErr *pgconn.PgError
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s on %s: refused: %v", tt.role, tt.db, err)
		case !tt.ok && err == nil:
			t.Errorf("%s on %s: admitted", tt.role, tt.db)
		case !tt.ok && (!errors.As(err, &pgErr) || pgErr.Code != "28000"):
			t.Errorf("%s on %s: want a pg_hba rejection (28000), got %v", tt.role, tt.db, err)
		}
	}
}

// checkRules fails the test when pg_hba_file_rules reports an error.
func checkRules(ctx context.Context, t *testing.T, super *pgconn.PgConn) {
	t.Helper()
	res, err := super.Exec(ctx, "SELECT coalesce(string_agg(line_number || ': ' || error, '; '), '') FROM pg_hba_file_rules WHERE error IS NOT NULL").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if errs := string(res[0].Rows[0][0]); errs != "" {
		t.Fatalf("pg_hba_file_rules errors: %s", errs)
	}
}

func connect(ctx context.Context, t *testing.T, c *pgcluster.Cluster, user, password string) *pgconn.PgConn {
	t.Helper()
	cfg, err := c.Config("postgres")
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = user, password
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// install writes pg_hba.conf into dataDir owned by the data directory's
// owner, which differs from ours when the tests run as root.
func install(t *testing.T, dataDir, content string) {
	t.Helper()
	path := filepath.Join(dataDir, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}
