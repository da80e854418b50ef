package credrotate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestCheckRoleName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"pgshield", true},
		{"_x1", true},
		{"a_b_9", true},
		{"", false},
		{"9a", false},
		{"Upper", false},
		{`a"b`, false},
		{"a b", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	}
	for _, tt := range tests {
		if err := checkRoleName(tt.name); (err == nil) != tt.ok {
			t.Errorf("checkRoleName(%q) = %v, want ok=%t", tt.name, err, tt.ok)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, ident, literal string }{
		{"plain", `"plain"`, `'plain'`},
		{`a"b`, `"a""b"`, `'a"b'`},
		{"it's", `"it's"`, `'it''s'`},
		{`back\slash`, `"back\slash"`, `E'back\\slash'`},
	}
	for _, tt := range tests {
		if got := quoteIdent(tt.in); got != tt.ident {
			t.Errorf("quoteIdent(%q) = %s, want %s", tt.in, got, tt.ident)
		}
		if got := quoteLiteral(tt.in); got != tt.literal {
			t.Errorf("quoteLiteral(%q) = %s, want %s", tt.in, got, tt.literal)
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	admin := &pgconn.Config{User: "admin", Password: "admin-secret-password"}
	base := func() Options { return Options{Store: fakeStore{}, Admin: admin, Base: "pgshield"} }
	tests := []struct {
		name string
		mod  func(*Options)
		want string // "" means valid
	}{
		{"valid", func(*Options) {}, ""},
		{"no store", func(o *Options) { o.Store = nil }, "Store"},
		{"no admin", func(o *Options) { o.Admin = nil }, "Admin"},
		{"bad base", func(o *Options) { o.Base = "Bad-Name" }, "Base"},
		{"long base", func(o *Options) { o.Base = strings.Repeat("a", 62) }, "Base"},
		{"short password", func(o *Options) { o.PasswordHexChars = 16 }, "PasswordHexChars"},
		{"negative grace", func(o *Options) { o.Grace = -time.Second }, "Grace"},
		{"mapped is base", func(o *Options) { o.MappedRoles = []string{"pgshield_a"} }, "MappedRoles"},
		{"empty mapped", func(o *Options) { o.MappedRoles = []string{""} }, "MappedRoles"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mod(&o)
			_, err := New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New = %v, want an error mentioning %s", err, tt.want)
			}
		})
	}
	o, err := base().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Grace != DefaultGrace || o.MaxWait != DefaultMaxWait || o.PasswordHexChars != 64 || o.Login != admin {
		t.Errorf("defaults not applied: %v", o)
	}
}

func TestOptionsRedacted(t *testing.T) {
	o := Options{Admin: &pgconn.Config{User: "admin", Password: "admin-secret-password"}, Base: "pgshield"}
	o.Login = o.Admin
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		if out := fmt.Sprintf(verb, o); strings.Contains(out, "admin-secret-password") {
			t.Errorf("%s of Options prints the admin password", verb)
		}
		if out := fmt.Sprintf(verb, &o); strings.Contains(out, "admin-secret-password") {
			t.Errorf("%s of *Options prints the admin password", verb)
		}
	}
}

func TestEventString(t *testing.T) {
	e := Event{Step: StepApplied, Login: "x_b", Version: 3, Err: fmt.Errorf("boom")}
	if got, want := e.String(), "credrotate applied login=x_b version=3 error: boom"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
