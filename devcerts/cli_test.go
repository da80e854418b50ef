package devcerts

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		want    []string
	}{
		{"no subcommand", nil, true, nil},
		{"unknown subcommand", []string{"rotate"}, true, nil},
		{"missing dir", []string{"init", "--client", "a"}, true, nil},
		{"bad name", []string{"init", "--dir", dir, "--client", "../x"}, true, nil},
		{"init", []string{"init", "--dir", dir, "--client", "alice", "--client", "bob"}, false,
			[]string{"created  CA key", "client alice key", "client bob cert"}},
		{"again", []string{"init", "--dir", dir, "--client", "alice"}, false, []string{"kept     CA key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Command(tc.args, &out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if strings.Contains(out.String(), "PRIVATE KEY") {
				t.Error("output contains key material")
			}
		})
	}
}
