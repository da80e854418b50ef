package dbinit

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// smallPlan uses its own role names so it does not disturb the example's.
func smallPlan(db string) *Plan {
	return &Plan{
		Database:      db,
		Authenticator: "conv_auth",
		NoAccessRole:  "conv_noaccess",
		Schemas:       []Schema{{Name: "app"}},
		Tables: []Table{
			{Name: "items", Schema: "app", Columns: "id bigserial primary key, v text", RowLevelSecurity: true},
		},
		Roles: []Role{{Name: "conv_writer", Grants: []Grant{
			{Schema: "app", Table: "items", Privileges: []string{"select", "insert", "delete"}},
		}}},
	}
}

func script(r *Report) string {
	var b bytes.Buffer
	r.WriteSQL(&b)
	return b.String()
}

func TestConvergeRevokes(t *testing.T) {
	ctx := context.Background()
	cfg := needPG(t, "convdb")
	in, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	plan := smallPlan("convdb")
	if _, err := in.Apply(ctx, plan); err != nil {
		t.Fatal(err)
	}
	super := connectAs(t, "convdb", cluster.Superuser, cluster.Password())
	priv := func(p string) string {
		return scalar(t, super, "SELECT has_table_privilege('conv_writer', 'app.items', '"+p+"')::text")
	}
	if priv("DELETE") != "true" || scalar(t, super, "SELECT has_sequence_privilege('conv_writer', 'app.items_id_seq', 'USAGE')::text") != "true" {
		t.Fatal("grants from the plan are missing")
	}
	if scalar(t, super, "SELECT relrowsecurity::text FROM pg_class WHERE oid = 'app.items'::regclass") != "true" {
		t.Fatal("row-level security not enabled")
	}

	// Drift made by hand is undone: an extra privilege, a grant option, a
	// PUBLIC grant and an extra membership of the authenticator.
	if err := cluster.Exec(ctx, "convdb",
		"GRANT TRUNCATE ON app.items TO conv_writer",
		"GRANT SELECT ON app.items TO conv_writer WITH GRANT OPTION",
		"GRANT SELECT ON app.items TO PUBLIC",
		"CREATE ROLE conv_stray NOLOGIN",
		"GRANT conv_stray TO conv_auth",
	); err != nil {
		t.Fatal(err)
	}
	// Remove DELETE and INSERT from the plan: both are revoked, and the
	// sequence USAGE that INSERT implied goes with them.
	plan.Roles[0].Grants[0].Privileges = []string{"select"}
	rep, err := in.Apply(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	got := script(rep)
	for _, want := range []string{
		`REVOKE DELETE, INSERT, TRUNCATE ON TABLE "app"."items" FROM "conv_writer"`,
		`REVOKE GRANT OPTION FOR SELECT ON TABLE "app"."items" FROM "conv_writer"`,
		`REVOKE SELECT ON TABLE "app"."items" FROM PUBLIC`,
		`REVOKE USAGE ON SEQUENCE "app"."items_id_seq" FROM "conv_writer"`,
		`REVOKE "conv_stray" FROM "conv_auth"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("second run lacks %s; it issued:\n%s", want, got)
		}
	}
	if priv("DELETE") != "false" || priv("INSERT") != "false" || priv("SELECT") != "true" {
		t.Fatal("privileges do not match the reduced plan")
	}
	if rep, err := in.Apply(ctx, plan); err != nil || rep.Changed() {
		t.Fatalf("third run: err %v, issued:\n%s", err, script(rep))
	}
}

func TestDryRun(t *testing.T) {
	ctx := context.Background()
	cfg := needPG(t, "drydb")
	plan := smallPlan("drydb")
	plan.Authenticator, plan.NoAccessRole, plan.Roles[0].Name = "dry_auth", "dry_noaccess", "dry_writer"
	in, err := New(Options{Config: cfg, AuthenticatorPassword: testPassword, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := in.Apply(ctx, plan)
	if err != nil {
		t.Fatal(err)
	}
	got := script(rep)
	if !rep.DryRun || !strings.Contains(got, `ALTER ROLE "dry_auth" WITH PASSWORD '***'`) ||
		!strings.Contains(got, `CREATE TABLE "app"."items"`) {
		t.Fatalf("dry run script:\n%s", got)
	}
	if strings.Contains(got, testPassword) || strings.Contains(got, "SCRAM-SHA-256") {
		t.Fatal("dry run shows the password or its verifier")
	}
	super := connectAs(t, "drydb", cluster.Superuser, cluster.Password())
	if n := scalar(t, super, "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'dry_%'"); n != "0" {
		t.Fatalf("dry run committed %s roles", n)
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	cfg := needPG(t, "refusedb")
	if err := cluster.Exec(ctx, "refusedb", "CREATE ROLE ref_writer NOLOGIN", "CREATE TABLE owned (id int)",
		"ALTER TABLE owned OWNER TO ref_writer"); err != nil {
		t.Fatal(err)
	}
	base := func() *Plan {
		return &Plan{Database: "refusedb", Authenticator: "ref_auth", NoAccessRole: "ref_noaccess",
			Tables: []Table{{Name: "owned"}}, Roles: []Role{{Name: "ref_writer"}}}
	}
	tests := []struct {
		name    string
		opts    Options
		plan    func() *Plan
		wantErr string
	}{
		{"mapped role owns a table", Options{Config: cfg}, base, "owns 1 object"},
		{"table missing without columns", Options{Config: cfg}, func() *Plan {
			p := base()
			p.Tables, p.Roles = []Table{{Name: "absent"}}, nil
			return p
		}, "does not exist"},
		{"wrong database in DSN is replaced, bad DSN is not echoed", Options{DSN: "postgres://u:hunter2secretpw@/x?host=/nonexistent"}, base, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := New(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = in.Apply(ctx, tt.plan())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2secretpw") {
				t.Fatal("error shows the DSN's password")
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("New accepted no connection")
	}
	if _, err := New(Options{DSN: "x", Config: cfg}); err == nil {
		t.Fatal("New accepted both Config and DSN")
	}
}
