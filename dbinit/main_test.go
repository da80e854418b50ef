package dbinit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgshield/pgshield/internal/pgcluster"
)

// cluster is the test binary's one PostgreSQL, or nil with startErr set.
// It is written once in TestMain, before any test runs.
var (
	cluster  *pgcluster.Cluster
	startErr error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cluster, startErr = pgcluster.Start(ctx, pgcluster.Options{})
	cancel()
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

// needPG skips when PostgreSQL is unavailable and returns a fresh database.
func needPG(t *testing.T, db string) *pgconn.Config {
	t.Helper()
	if startErr != nil {
		t.Skipf("no PostgreSQL: %v", startErr)
	}
	if err := cluster.Exec(context.Background(), "", "CREATE DATABASE "+ident(db)); err != nil {
		t.Fatal(err)
	}
	cfg, err := cluster.Config(db)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// connectAs opens a session as role with password on db.
func connectAs(t *testing.T, db, role, password string) *pgconn.PgConn {
	t.Helper()
	cfg, err := cluster.Config(db)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Password = role, password
	conn, err := pgconn.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// sqlstate runs sql and returns "" on success or the error's SQLSTATE.
func sqlstate(conn *pgconn.PgConn, sql string) string {
	_, err := conn.Exec(context.Background(), sql).ReadAll()
	if err == nil {
		return ""
	}
	if pgErr, ok := err.(*pgconn.PgError); ok {
		return pgErr.Code
	}
	return fmt.Sprintf("non-pg error: %v", err)
}

// scalar returns the one value sql yields.
func scalar(t *testing.T, conn *pgconn.PgConn, sql string) string {
	t.Helper()
	res, err := conn.Exec(context.Background(), sql).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	last := res[len(res)-1]
	if len(last.Rows) != 1 || len(last.Rows[0]) != 1 {
		t.Fatalf("%s: want one value, got %d rows", sql, len(last.Rows))
	}
	return string(last.Rows[0][0])
}
