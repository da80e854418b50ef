package credrotate

import (
	"strings"
	"testing"

	"github.com/pgshield/pgshield/credstore"
)

func TestBootstrapIdempotent(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, "boot")
	r := h.rotator(nil)
	first := h.bootstrap(ctx, r)
	if first.Login != "boot_a" || first.Version != 1 || first.State != credstore.StateActive {
		t.Fatalf("first credential = %v, want boot_a v1 active", first)
	}
	again := h.bootstrap(ctx, r)
	if again.Login != first.Login || again.Version != first.Version || again.Password() != first.Password() {
		t.Errorf("second Bootstrap changed the credential: %v", again)
	}
	if n := len(h.store.Snapshot().Credentials); n != 1 {
		t.Errorf("store holds %d credentials after two Bootstraps, want 1", n)
	}
	for _, name := range []string{"boot", "boot_a", "boot_b"} {
		a := role(ctx, t, name)
		if !a.exists || a.super || a.createRole || a.createDB || a.bypassRLS || a.repl {
			t.Errorf("role %s = %+v; want existing, no super/createrole/createdb/bypassrls/replication", name, a)
		}
		if wantLogin := name == "boot_a"; a.canLogin != wantLogin {
			t.Errorf("role %s canLogin = %t, want %t", name, a.canLogin, wantLogin)
		}
		if wantInherit := name != "boot"; a.inherit != wantInherit {
			t.Errorf("role %s inherit = %t, want %t", name, a.inherit, wantInherit)
		}
	}
	h.checkConsistent(ctx, r, "boot_a", 1)

	// A re-created database (the password lost) is repaired from the store.
	if err := cluster.Exec(ctx, "", "ALTER ROLE boot_a PASSWORD NULL"); err != nil {
		t.Fatal(err)
	}
	h.bootstrap(ctx, r)
	h.checkConsistent(ctx, r, "boot_a", 1)
}

// TestSetRoleFromBothLogins checks the role-switching design: mapped roles
// are granted to the NOINHERIT group, so both logins can SET ROLE to them
// but hold none of their privileges before doing so.
func TestSetRoleFromBothLogins(t *testing.T) {
	ctx := testCtx(t)
	if err := cluster.Exec(ctx, "",
		"CREATE ROLE setrole_reader NOLOGIN",
		"CREATE TABLE setrole_secret (x int)",
		"GRANT SELECT ON setrole_secret TO setrole_reader",
	); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, "setrole")
	r := h.rotator(func(o *Options) { o.MappedRoles = []string{"setrole_reader"} })
	check := func(c credstore.Credential) {
		t.Helper()
		conn := openAs(ctx, t, c)
		if _, err := conn.Exec(ctx, "SELECT * FROM setrole_secret").ReadAll(); err == nil {
			t.Errorf("%s reads the mapped role's table without SET ROLE", c.Login)
		}
		if _, err := conn.Exec(ctx, "SET ROLE setrole_reader; SELECT * FROM setrole_secret; RESET ROLE").ReadAll(); err != nil {
			t.Errorf("%s: SET ROLE setrole_reader: %v", c.Login, err)
		}
		conn.Close(ctx)
	}
	check(h.bootstrap(ctx, r))
	if err := h.noteErr(r.Rotate(ctx)); err != nil {
		t.Fatal(err)
	}
	c, err := r.Active()
	if err != nil || c.Login != "setrole_b" {
		t.Fatalf("Active = %v, %v; want setrole_b", c, err)
	}
	check(c)
}

func TestBootstrapRefusesUnsafeRoles(t *testing.T) {
	tests := []struct {
		name   string
		setup  []string
		mapped []string
		want   string
	}{
		{"superuser group", []string{"CREATE ROLE bad1 NOLOGIN SUPERUSER"}, nil, "SUPERUSER"},
		{"inheriting group", []string{"CREATE ROLE bad2 NOLOGIN INHERIT"}, nil, "NOINHERIT"},
		{"createrole login", []string{"CREATE ROLE bad3_a NOLOGIN CREATEROLE"}, nil, "CREATEROLE"},
		{"bypassrls login", []string{"CREATE ROLE bad4_b NOLOGIN BYPASSRLS"}, nil, "BYPASSRLS"},
		{"superuser mapped role", []string{"CREATE ROLE bad5_m NOLOGIN SUPERUSER"}, []string{"bad5_m"}, "SUPERUSER"},
		{"missing mapped role", nil, []string{"bad6_missing"}, "does not exist"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			if err := cluster.Exec(ctx, "", tt.setup...); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, "bad"+string(rune('1'+i)))
			// The leak check needs a secret to look for; a refused
			// Bootstrap stores none.
			h.secrets["placeholder-not-a-password"] = true
			r := h.rotator(func(o *Options) { o.MappedRoles = tt.mapped })
			err := h.noteErr(r.Bootstrap(ctx, nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Bootstrap = %v, want an error mentioning %q", err, tt.want)
			}
			if _, err := r.Active(); err == nil {
				t.Errorf("a refused Bootstrap stored a credential")
			}
		})
	}
}

func TestBootstrapWithSeparateSuperuser(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, "boot_su")
	// Bootstrap's superuser argument, rather than Options.Admin, runs
	// the DDL.
	r := h.rotator(nil)
	su := adminConfig(t)
	if err := h.noteErr(r.Bootstrap(ctx, su)); err != nil {
		t.Fatal(err)
	}
	h.checkConsistent(ctx, r, "boot_su_a", 1)
}
