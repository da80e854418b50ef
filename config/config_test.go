package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParses(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "configs", "pgshield.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.MinVersion != "1.3" || len(cfg.Identities) != 2 || cfg.Client.MaxMessageBytes != 64<<20 || cfg.Audit.SyncInterval != 100*time.Millisecond {
		t.Fatalf("unexpected %+v", cfg)
	}
}

const base = `
tls: {cert_file: s.crt, key_file: s.key, client_ca_file: ca.crt}
backend: {host: /sock, login_role: l, password_file: pw}
identities: [{name: app, role: r, databases: [db]}]
`

func TestValidationNamesTheKey(t *testing.T) {
	tests := []struct {
		name, yaml, key string
	}{
		{"unknown key", base + "bogus: 1\n", "bogus"},
		{"tls 1.1", strings.Replace(base, "ca.crt}", "ca.crt, min_version: \"1.1\"}", 1), "tls.min_version"},
		{"no client CA", strings.Replace(base, ", client_ca_file: ca.crt", "", 1), "tls.client_ca_file"},
		{"both secrets", strings.Replace(base, "password_file: pw", "password_file: pw, password_env: X", 1), "backend.password_file"},
		{"no secret", strings.Replace(base, ", password_file: pw", "", 1), "backend.password_file"},
		{"store and file", base + "credentials: {store_file: db.enc}\n", "credentials.store_file"},
		{"rotation without admin", strings.Replace(base, ", password_file: pw", "", 1) + "credentials: {store_file: db.enc, rotate: true}\n", "credentials.admin_dsn_env"},
		{"inline password", strings.Replace(base, "password_file: pw", "password: hunter2", 1), "password"},
		{"tcp without tls", strings.Replace(base, "host: /sock", "host: db.internal, tls_mode: disable", 1), "backend.tls_mode"},
		{"no databases", strings.Replace(base, ", databases: [db]", "", 1), "identities[0].databases"},
		{"no role", strings.Replace(base, "role: r, ", "", 1), "identities[0].role"},
		{"bad role mode", base + "role_mode: sudo\n", "role_mode"},
		{"login without passwords", base + "role_mode: login\n", "backend.role_password_dir"},
		{"bad identity setting", base + "firewall: {identity_setting: \"x'y\"}\n", "firewall.identity_setting"},
		{"duplicate identity", strings.Replace(base, "identities: [{name: app, role: r, databases: [db]}]", "identities: [{name: app, role: r, databases: [db]}, {name: app, role: r, databases: [db]}]", 1), "identities[1].name"},
		{"bad listen", base + "listen: nope\n", "listen"},
		{"bad log format", base + "log: {format: xml}\n", "log.format"},
		{"negative audit sync interval", base + "audit: {dir: /a, signing_key_file: k, sync_interval: -1s}\n", "audit.sync_interval"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml))
		if err == nil {
			t.Errorf("%s: accepted", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s: error %q does not name %q", tt.name, err, tt.key)
		}
	}
	if _, err := Parse([]byte(base)); err != nil {
		t.Fatalf("base config: %v", err)
	}
	var fe *FieldError
	_, err := Parse([]byte(strings.Replace(base, "login_role: l, ", "", 1)))
	if !errors.As(err, &fe) || fe.Key != "backend.login_role" {
		t.Fatalf("want FieldError for backend.login_role, got %v", err)
	}
}

func TestBackendPasswordNeverInError(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret-value\n"), 0o600)
	cfg, err := Parse([]byte(strings.Replace(base, "password_file: pw", "password_file: "+pw, 1)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.BackendPassword()
	if err != nil || got != "s3cret-value" {
		t.Fatalf("%q %v", got, err)
	}
	cfg.Backend.PasswordFile, cfg.Backend.PasswordEnv = "", "PGSHIELD_TEST_UNSET_VAR"
	if _, err := cfg.BackendPassword(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("err %v", err)
	}
}
