package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestLoginRoleMode: role_mode login logs into the backend as the mapped
// role itself; the identity setting still travels with each transaction.
func TestLoginRoleMode(t *testing.T) {
	c := ctx(t)
	dir := t.TempDir()
	for _, role := range []string{"app_login", "analyst_login"} {
		pw := role + "-" + env.LoginPassword()[:24]
		if err := env.Cluster.Exec(c, "", fmt.Sprintf("CREATE ROLE %s LOGIN NOINHERIT PASSWORD '%s'", role, pw)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, role), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := env.Config()
	cfg.RoleMode = "login"
	cfg.Backend.RolePasswordDir = dir
	cfg.Identities[0].Role = "app_login"
	cfg.Identities[1].Role = "analyst_login"
	p := env.StartProxy(t, cfg)
	for id, role := range map[string]string{"app": "app_login", "analyst": "analyst_login"} {
		conn := pgxConnect(t, env.DSN(p, id))
		var sessionUser, user, identity string
		if err := conn.QueryRow(c, "select session_user::text, current_user::text, current_setting('pgshield.identity')").Scan(&sessionUser, &user, &identity); err != nil {
			t.Fatal(err)
		}
		if sessionUser != role || user != role || identity != id {
			t.Fatalf("%s: session_user %q current_user %q identity %q", id, sessionUser, user, identity)
		}
		if _, err := conn.Exec(c, "set role pgshield_noaccess"); pgCode(err) != "42501" {
			t.Fatalf("firewall off in login mode: %v", err)
		}
	}
}
