package rolemap

import (
	"testing"

	"github.com/pgshield/pgshield/config"
)

func ids(names ...string) []config.Identity {
	var out []config.Identity
	for _, n := range names {
		out = append(out, config.Identity{Name: n, Role: "r_" + n, Databases: []string{"db"}})
	}
	return out
}

func TestOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"app", "app", true},
		{"app", "App", false},
		{"scrape-*", "scrape-1", true},
		{"scrape-*", "*-1", true},
		{"scrape-*", "web-*", false},
		{"a*", "*b", true},
		{"a?c", "abc", true},
		{"a?c", "ab", false},
		{"*", "anything", true},
		{"x*y", "x*z", false},
	}
	for _, tt := range tests {
		if got := overlap(tt.a, tt.b); got != tt.want {
			t.Errorf("overlap(%q,%q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := overlap(tt.b, tt.a); got != tt.want {
			t.Errorf("overlap(%q,%q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	r, err := New(ids("app", "analyst", "scrape-*"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		identity string
		want     string
	}{
		{"app", "app"},
		{"App", ""},
		{"APP", ""},
		{"analyst", "analyst"},
		{"scrape-7", "scrape-*"},
		{"scrape", ""},
		{"", ""},
	}
	for _, tt := range tests {
		rule, ok := r.Resolve(tt.identity)
		got := ""
		if ok {
			got = rule.Pattern
		}
		if got != tt.want {
			t.Errorf("Resolve(%q) = %q, want %q", tt.identity, got, tt.want)
		}
	}
}

func TestNewRejectsOverlap(t *testing.T) {
	for _, set := range [][]string{{"scrape-*", "scrape-1"}, {"a*", "*b"}, {"x[ab]"}} {
		if _, err := New(ids(set...)); err == nil {
			t.Errorf("New(%v) accepted overlapping or unsupported rules", set)
		}
	}
}

func TestAllowsUser(t *testing.T) {
	def := &Rule{}
	if !def.AllowsUser("app", "app") || def.AllowsUser("app", "postgres") || def.AllowsUser("app", "App") {
		t.Error("default users rule wrong")
	}
	listed := &Rule{Users: []string{"svc"}}
	if !listed.AllowsUser("app", "svc") || listed.AllowsUser("app", "app") {
		t.Error("listed users rule wrong")
	}
}
