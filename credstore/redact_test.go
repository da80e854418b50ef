package credstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsNeverFormatted prints every secret-holding type with every
// common verb, bare and nested, and looks for the password and the key.
func TestSecretsNeverFormatted(t *testing.T) {
	const pw = "s3cr3t-p4ssw0rd-do-not-print"
	key := newKey(t)
	opts := Options{Path: filepath.Join(t.TempDir(), "db.enc"), Key: key}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), addActive("app", 1, pw)); err != nil {
		t.Fatal(err)
	}
	st := s.Snapshot()
	cred, _ := s.Active("app")
	// wrapper reaches the credentials through unexported fields, where
	// fmt cannot call their Format methods. (Options, whose Key field is
	// exported, cannot be protected that way; keep it out of such structs.)
	type wrapper struct {
		c  Credential
		st State
		s  Store
	}
	values := map[string]any{
		"Credential":   cred,
		"*Credential":  &cred,
		"[]Credential": st.Credentials,
		"State":        st,
		"*State":       &st,
		"Options":      opts,
		"Store":        s,
		"wrapper":      wrapper{cred, st, s},
		"*wrapper":     &wrapper{cred, st, s},
	}
	secrets := map[string]string{
		"password":     pw,
		"password hex": hex.EncodeToString([]byte(pw)),
		"seed hex":     hex.EncodeToString(key.Seed()),
		"seed bytes":   fmt.Sprint(key.Seed()),
		"seed raw":     string(key.Seed()),
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v)
			for what, sec := range secrets {
				if strings.Contains(out, sec) {
					t.Errorf("fmt %s of %s shows the %s: %s", verb, name, what, out)
				}
			}
		}
	}
	// Password fields are unexported, so JSON of the public types is safe.
	for _, v := range []any{cred, st} {
		out, _ := json.Marshal(v)
		if strings.Contains(string(out), pw) {
			t.Errorf("json.Marshal(%T) shows the password", v)
		}
	}
	if got := fmt.Sprint(cred); !strings.Contains(got, "[REDACTED]") || !strings.Contains(got, `"app"`) {
		t.Errorf("Credential prints as %q; want login shown, password redacted", got)
	}
	if cred.Password() != pw {
		t.Error("Password() does not return the password")
	}
}
