package dbinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePlan(t *testing.T) {
	base := "database: appdb\n"
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring; empty means valid
	}{
		{"minimal", base, ""},
		{"defaults", base + "roles: [{name: r}]\n", ""},
		{"unknown key", base + "rolez: []\n", "field rolez not found"},
		{"unknown grant key", base + "tables: [{name: t}]\nroles: [{name: r, grants: [{table: t, privileges: [select], colour: red}]}]\n", "colour"},
		{"no database", "roles: []\n", "database name is empty"},
		{"empty", "", "empty plan"},
		{"two documents", base + "---\n" + base, "more than one"},
		{"unknown privilege", base + "tables: [{name: t}]\nroles: [{name: r, grants: [{table: t, privileges: [truncate]}]}]\n", `privilege "truncate" not allowed`},
		{"schema privilege on table", base + "tables: [{name: t}]\nroles: [{name: r, grants: [{table: t, privileges: [usage]}]}]\n", "not allowed"},
		{"create on schema", base + "schemas: [{name: s}]\nroles: [{name: r, grants: [{schema: s, privileges: [create]}]}]\n", "not allowed"},
		{"undeclared table", base + "roles: [{name: r, grants: [{table: t, privileges: [select]}]}]\n", "not declared in tables"},
		{"undeclared schema", base + "tables: [{name: t, schema: s}]\n", "not declared in schemas"},
		{"table and sequence", base + "tables: [{name: t}]\nroles: [{name: r, grants: [{table: t, sequence: s, privileges: [select]}]}]\n", "both table and sequence"},
		{"empty grant", base + "roles: [{name: r, grants: [{privileges: [select]}]}]\n", "none of table"},
		{"no privileges", base + "tables: [{name: t}]\nroles: [{name: r, grants: [{table: t}]}]\n", "no privileges"},
		{"duplicate role", base + "roles: [{name: r}, {name: r}]\n", "declared twice"},
		{"role is authenticator", base + "roles: [{name: pgshield_authenticator}]\n", "declared twice"},
		{"same auth and noaccess", base + "authenticator: a\nnoaccess_role: a\n", "both"},
		{"reserved role", base + "roles: [{name: pg_monitor}]\n", "reserved"},
		{"public role", base + "roles: [{name: PUBLIC}]\n", "reserved"},
		{"long name", base + "roles: [{name: " + strings.Repeat("x", 64) + "}]\n", "longer than 63"},
		{"control char", base + "roles: [{name: \"a\\nb\"}]\n", "control character"},
		{"duplicate table", base + "tables: [{name: t}, {name: t, schema: public}]\n", "declared twice"},
		{"quoted names are fine", base + "tables: [{name: \"My Table\"}]\nroles: [{name: \"weird\\\"role\", grants: [{table: \"My Table\", privileges: [SELECT]}]}]\n", ""},
		{"sequence grant", base + "roles: [{name: r, grants: [{sequence: s, privileges: [usage]}]}]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePlan([]byte(tt.yaml))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("no error, want %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadExamplePlan(t *testing.T) {
	p, err := LoadPlan(filepath.Join("..", "configs", "roles.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if p.authenticator() != "bibd_admin" || len(p.Roles) != 5 || len(p.Tables) != 6 {
		t.Fatalf("unexpected example plan: %+v", p)
	}
	if _, err := LoadPlan(filepath.Join(t.TempDir(), "missing.yaml")); !os.IsNotExist(unwrapAll(err)) {
		t.Fatalf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

func TestSCRAM(t *testing.T) {
	const pw = "0123456789abcdef0123456789abcdef"
	v, err := scramVerifier(pw)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, pw) || !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") {
		t.Fatalf("bad verifier format")
	}
	tests := []struct {
		name, verifier, password string
		want                     bool
	}{
		{"same", v, pw, true},
		{"wrong password", v, pw + "x", false},
		{"md5", "md5abcdef", pw, false},
		{"empty", "", pw, false},
		{"garbled", "SCRAM-SHA-256$x:y$z", pw, false},
	}
	for _, tt := range tests {
		if got := scramMatches(tt.verifier, tt.password); got != tt.want {
			t.Errorf("%s: scramMatches = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, bad := range []string{"short", "has a space in it, long enough", "non-ascii-ü-password-long"} {
		if checkPassword(bad) == nil {
			t.Errorf("checkPassword accepted a bad password")
		}
	}
}
