package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/dbinit"
	"github.com/pgshield/pgshield/devcerts"
)

// TestPermissionMatrix: init-db applies the seed's six roles and permission
// matrix (configs/roles.example.yaml), and through pgshield each identity can
// do exactly what its role may, getting 42501 for the rest, cell by cell.
func TestPermissionMatrix(t *testing.T) {
	c := ctx(t)
	if err := env.Cluster.Exec(c, "", "CREATE DATABASE bibd"); err != nil {
		t.Fatal(err)
	}
	plan, err := dbinit.LoadPlan(filepath.Join("..", "configs", "roles.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pwBytes := make([]byte, 32)
	rand.Read(pwBytes)
	pw := hex.EncodeToString(pwBytes)
	su, err := env.Cluster.Config("bibd")
	if err != nil {
		t.Fatal(err)
	}
	in, err := dbinit.New(dbinit.Options{Config: su, AuthenticatorPassword: pw})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Apply(c, plan); err != nil {
		t.Fatal(err)
	}
	if err := env.Cluster.Exec(c, "bibd", "INSERT INTO datasets (id, name) VALUES (1000000, 'seed')"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "bibd_admin.pw")
	os.WriteFile(pwFile, []byte(pw), 0o600)

	// One identity per role, named after it.
	cfg := env.Config()
	cfg.Backend.LoginRole = plan.Authenticator
	cfg.Backend.PasswordFile = pwFile
	cfg.Identities = nil
	granted := map[string]map[string][]string{} // identity → table → privileges
	for _, r := range plan.Roles {
		id := r.Name
		if _, _, err := env.PKI.Client(id, devcerts.ClientOptions{}); err != nil {
			t.Fatal(err)
		}
		cfg.Identities = append(cfg.Identities, config.Identity{Name: id, Role: r.Name, Databases: []string{"bibd"}})
		granted[id] = map[string][]string{}
		for _, g := range r.Grants {
			granted[id][g.Table] = g.Privileges
		}
	}
	// Cells the seed states outright, so a wrong plan cannot pass unnoticed.
	if slices.Contains(granted["bibd_scrape"]["datasets"], "select") || !slices.Contains(granted["bibd_audit"]["audit_log"], "insert") ||
		slices.Contains(granted["bibd_audit"]["audit_log"], "update") || len(granted["bibd_query"]["audit_log"]) != 0 {
		t.Fatalf("the plan does not hold the seed's matrix: %v", granted)
	}
	p := env.StartProxy(t, cfg)

	statements := map[string]map[string]string{
		"datasets":  {"select": "select count(*) from datasets", "insert": "insert into datasets (name) values ('x')", "update": "update datasets set name = 'y' where false", "delete": "delete from datasets where false"},
		"chunks":    {"select": "select count(*) from chunks", "insert": "insert into chunks (dataset_id, seq) values (1000000, 1)", "update": "update chunks set seq = 2 where false", "delete": "delete from chunks where false"},
		"topics":    {"select": "select count(*) from topics", "insert": "insert into topics (name) values (md5(random()::text))", "update": "update topics set name = 'y' where false", "delete": "delete from topics where false"},
		"jobs":      {"select": "select count(*) from jobs", "insert": "insert into jobs (kind) values ('k')", "update": "update jobs set kind = 'y' where false", "delete": "delete from jobs where false"},
		"nodes":     {"select": "select count(*) from nodes", "insert": "insert into nodes (id) values (md5(random()::text))", "update": "update nodes set address = 'y' where false", "delete": "delete from nodes where false"},
		"audit_log": {"select": "select count(*) from audit_log", "insert": "insert into audit_log (action) values ('a')", "update": "update audit_log set action = 'y' where false", "delete": "delete from audit_log where false"},
	}
	cells := 0
	for id, tables := range granted {
		conn := pgxConnect(t, env.DSN(p, id, "dbname=bibd"))
		if u := currentUser(t, conn.PgConn()); u != id {
			t.Fatalf("%s runs as %q", id, u)
		}
		for table, stmts := range statements {
			for priv, sql := range stmts {
				_, err := conn.PgConn().Exec(c, sql).ReadAll()
				allowed := slices.Contains(tables[table], priv)
				switch {
				case allowed && err != nil:
					t.Errorf("%s %s on %s: want success, got %v", id, priv, table, err)
				case !allowed && pgCode(err) != "42501":
					t.Errorf("%s %s on %s: want 42501, got %v", id, priv, table, err)
				}
				cells++
			}
		}
	}
	t.Logf("%d cells of the permission matrix hold through pgshield", cells)
}
