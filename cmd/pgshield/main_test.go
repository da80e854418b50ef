package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgshield/pgshield/internal/syncbuf"
)

// binary is pgshield built once for the tests that run it as users do.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pgshield-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "pgshield")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// readEnv parses demo.env's KEY='value' lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		vars[k] = strings.Trim(v, "'")
	}
	return vars
}

// TestDemo runs `pgshield demo` as a user would: demo.env appears once the
// proxy accepts connections, psql connects with what it says, SIGTERM stops
// everything and leaves nothing running.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "demo", "--dir", dir, "--listen", "127.0.0.1:0")
	var stdout, stderr syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "demo.env")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		if _, err := os.Stat(envFile); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("demo exited early (%v)\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > time.Minute {
			cmd.Process.Kill()
			t.Fatalf("no demo.env within a minute\n%s\n%s", stdout.String(), stderr.String())
		}
	}
	t.Logf("demo ready in %v", time.Since(start).Round(time.Millisecond))
	vars := readEnv(t, envFile)
	for _, k := range []string{"PGSHIELD_CONFIG", "PGSHIELD_HOST", "PGSHIELD_PORT", "PGSHIELD_DB", "PGSHIELD_CA",
		"PGSHIELD_CERT_APP", "PGSHIELD_KEY_APP", "PGSHIELD_CERT_ANALYST", "PGSHIELD_KEY_ANALYST",
		"BACKEND_SOCKET_DIR", "BACKEND_PORT", "BACKEND_DB", "BACKEND_SUPERUSER", "BACKEND_SUPERUSER_PASSWORD_FILE",
		"PGSHIELD_ROLE_APP", "PGSHIELD_ROLE_ANALYST", "PGSHIELD_AUTHENTICATOR",
		"PGSHIELD_CERT_ADMIN", "PGSHIELD_KEY_ADMIN", "PGSHIELD_POOL_SIZE", "PGSHIELD_AUDIT_DIR", "PGSHIELD_AUDIT_PUBKEY",
		"PGSHIELD_METRICS_URL", "PGSHIELD_ADMIN_URL"} {
		if vars[k] == "" {
			t.Errorf("demo.env lacks %s", k)
		}
	}
	if st, err := os.Stat(vars["BACKEND_SUPERUSER_PASSWORD_FILE"]); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("superuser password file: %v %v", st, err)
	}
	dsn := fmt.Sprintf("host=%s port=%s dbname=%s user=app sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s",
		vars["PGSHIELD_HOST"], vars["PGSHIELD_PORT"], vars["PGSHIELD_DB"], vars["PGSHIELD_CA"], vars["PGSHIELD_CERT_APP"], vars["PGSHIELD_KEY_APP"])
	out, err := exec.Command("psql", "-X", "-A", "-t", "-d", dsn, "-c", "select current_user, count(*) from items group by 1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != vars["PGSHIELD_ROLE_APP"]+"|3" {
		t.Fatalf("psql: %v %s", err, out)
	}
	// analyst is read-only: it reads, and its write is refused.
	analyst := strings.NewReplacer(vars["PGSHIELD_CERT_APP"], vars["PGSHIELD_CERT_ANALYST"], vars["PGSHIELD_KEY_APP"], vars["PGSHIELD_KEY_ANALYST"], "user=app", "user=analyst").Replace(dsn)
	if out, err := exec.Command("psql", "-X", "-A", "-t", "-d", analyst, "-c", "select count(*) from items").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "3" {
		t.Fatalf("analyst read: %v %s", err, out)
	}
	if out, err := exec.Command("psql", "-X", "-A", "-t", "-d", analyst, "-c", "insert into items (name) values ('x')").CombinedOutput(); err == nil {
		t.Fatalf("analyst wrote: %s", out)
	}
	if out, err := exec.Command("psql", "-X", "-A", "-t", "-d", dsn, "-c", "reset role").CombinedOutput(); err == nil || !strings.Contains(string(out), "42501") && !strings.Contains(string(out), "not allowed") {
		t.Fatalf("reset role through the demo: %v %s", err, out)
	}
	// A psql command line per identity is printed right after demo.env.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(stdout.String(), "Press Ctrl-C"); {
		if time.Now().After(deadline) {
			t.Fatalf("no instructions printed:\n%s", stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Count(stdout.String(), "psql \"host=") != 3 {
		t.Fatalf("want a psql command per identity:\n%s", stdout.String())
	}
	// The admin console answers the admin identity.
	adminDSN := strings.NewReplacer(vars["PGSHIELD_CERT_APP"], vars["PGSHIELD_CERT_ADMIN"], vars["PGSHIELD_KEY_APP"], vars["PGSHIELD_KEY_ADMIN"],
		"user=app", "user=admin", "dbname="+vars["PGSHIELD_DB"], "dbname=pgshield").Replace(dsn)
	if out, err := exec.Command("psql", "-X", "-A", "-t", "-d", adminDSN, "-c", "SHOW POOLS").CombinedOutput(); err != nil || !strings.Contains(string(out), "appdb") {
		t.Fatalf("SHOW POOLS: %v %s", err, out)
	}
	// The metrics and health endpoints answer.
	for _, u := range []string{vars["PGSHIELD_METRICS_URL"], vars["PGSHIELD_ADMIN_URL"] + "/healthz", vars["PGSHIELD_ADMIN_URL"] + "/readyz"} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", u, err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasSuffix(u, "/metrics") && !strings.Contains(string(body), "pgshield_client_connections") {
			t.Fatalf("metrics lack pgshield series")
		}
	}
	// creds status shows the encrypted store without a secret in it.
	out, err = exec.Command(binary, "creds", "status", "--config", vars["PGSHIELD_CONFIG"]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), vars["PGSHIELD_AUTHENTICATOR"]+"_a") || !strings.Contains(string(out), "active") {
		t.Fatalf("creds status: %v\n%s", err, out)
	}
	// config check accepts the config the demo wrote.
	if out, err := exec.Command(binary, "config", "check", "--config", vars["PGSHIELD_CONFIG"]).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v %s", err, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("demo did not stop on SIGTERM")
	}
	if _, err := os.Stat(vars["BACKEND_SOCKET_DIR"]); !os.IsNotExist(err) {
		t.Errorf("cluster directory left behind: %v", err)
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Errorf("demo.env left behind after stop")
	}
	// The demo's audit log verifies after a clean stop.
	if out, err := exec.Command(binary, "audit", "verify", "--dir", vars["PGSHIELD_AUDIT_DIR"], "--pubkey", vars["PGSHIELD_AUDIT_PUBKEY"]).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets", "db.enc")); err != nil {
		t.Errorf("no credential store: %v", err)
	}
}

// TestCLIErrors: bad input gives a one-line message and a non-zero exit.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:1\ntls: {min_version: \"1.0\"}\nbogus: 1\n"), 0o600)
	key := filepath.Join(dir, "node.key")
	os.WriteFile(key, []byte("not a key"), 0o644)
	store := filepath.Join(dir, "store.yaml")
	os.WriteFile(store, []byte(`
tls: {cert_file: s.crt, key_file: s.key, client_ca_file: ca.crt}
backend: {host: /sock, login_role: l}
identities: [{name: app, role: r, databases: [db]}]
credentials: {store_file: db.enc, identity_key_file: node.key}
`), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"loose identity key", []string{"creds", "status", "--config", store}, "has mode 0644; want 0600"},
		{"no config", []string{"serve"}, "--config is required"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown key", []string{"config", "check", "--config", bad}, "bogus"},
		{"missing file", []string{"config", "check", "--config", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"bad client name", []string{"certs", "init", "--dir", dir, "--client", "a/b"}, "invalid client name"},
	}
	for _, tt := range tests {
		out, err := exec.Command(binary, tt.args...).CombinedOutput()
		if err == nil {
			t.Errorf("%s: exit 0", tt.name)
		}
		s := strings.TrimSpace(string(out))
		if !strings.Contains(s, tt.want) || strings.Count(s, "\n") > 0 {
			t.Errorf("%s: output %q, want one line with %q", tt.name, s, tt.want)
		}
	}
}
