package auth

import (
	"errors"
	"testing"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/rolemap"
)

func TestAuthorize(t *testing.T) {
	res, err := rolemap.New([]config.Identity{
		{Name: "app", Role: "app_rw", Databases: []string{"appdb"}},
		{Name: "svc-*", Role: "svc", Users: []string{"svc"}, Databases: []string{"appdb", "other"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := New(Options{Resolver: res})
	p := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name     string
		identity string
		params   map[string]string
		want     Reason
	}{
		{"ok", "app", p("user", "app", "database", "appdb", "application_name", "psql"), ""},
		{"unknown", "mallory", p("user", "mallory", "database", "appdb"), ReasonUnknownIdentity},
		{"case differs", "App", p("user", "App", "database", "appdb"), ReasonUnknownIdentity},
		{"other user", "app", p("user", "postgres", "database", "appdb"), ReasonUserNotAllowed},
		{"no user", "app", p("database", "appdb"), ReasonNoUser},
		{"db default is user", "app", p("user", "app"), ReasonDatabaseNotAllowed},
		{"db not allowed", "app", p("user", "app", "database", "postgres"), ReasonDatabaseNotAllowed},
		{"options", "app", p("user", "app", "database", "appdb", "options", "-c role=x"), ReasonParameterNotAllowed},
		{"role param", "app", p("user", "app", "database", "appdb", "role", "x"), ReasonParameterNotAllowed},
		{"replication", "app", p("user", "app", "database", "appdb", "replication", "database"), ReasonParameterNotAllowed},
		{"search_path off", "app", p("user", "app", "database", "appdb", "search_path", "evil"), ReasonParameterNotAllowed},
		{"sjis", "app", p("user", "app", "database", "appdb", "client_encoding", "SJIS"), ReasonBadParameter},
		{"gbk", "app", p("user", "app", "database", "appdb", "client_encoding", "gbk"), ReasonBadParameter},
		{"control char", "app", p("user", "app", "database", "appdb", "application_name", "a\nb"), ReasonBadParameter},
		{"glob user", "svc-1", p("user", "svc", "database", "other"), ""},
		{"glob own name", "svc-1", p("user", "svc-1", "database", "other"), ReasonUserNotAllowed},
	}
	for _, tt := range tests {
		g, err := v.Authorize(Request{Identity: tt.identity, Params: tt.params})
		var d *DeniedError
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: denied: %v", tt.name, err)
		case tt.want != "" && !errors.As(err, &d):
			t.Errorf("%s: want %s, got %v", tt.name, tt.want, err)
		case tt.want != "" && d.Reason != tt.want:
			t.Errorf("%s: reason %s, want %s", tt.name, d.Reason, tt.want)
		case tt.want == "" && (g.Params["user"] != "" || g.Params["database"] != ""):
			t.Errorf("%s: user/database leaked into backend params", tt.name)
		}
	}
	sp := New(Options{Resolver: res, AllowSearchPath: true})
	if _, err := sp.Authorize(Request{Identity: "app", Params: p("user", "app", "database", "appdb", "search_path", "s")}); err != nil {
		t.Errorf("search_path allowed by config: %v", err)
	}
}
