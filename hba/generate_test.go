package hba

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestGenerateGolden(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"socket", Options{Databases: []string{"appdb"}, Roles: []string{"pgshield_authenticator"},
			ProxySocketDir: "/run/pgshield", SocketGroup: "pgshield"}},
		{"socket_admin_quoted", Options{Databases: []string{"appdb", "all", "two words"},
			Roles: []string{"auth_a", "+group", "@file"}, ProxySocketDir: "/run/pg shield",
			AdminRole: "dba", LogStatement: "ddl", Port: 5433, MaxConnections: 50}},
		{"tcp4_clientcert", Options{Databases: []string{"appdb"}, Roles: []string{"pgshield_authenticator"},
			ProxyAddr: "10.0.0.5", ListenAddr: "10.0.0.9", ClientCert: true,
			SSLCertFile: "/etc/pg/server.crt", SSLKeyFile: "/etc/pg/server.key", SSLCAFile: "/etc/pg/ca.crt"}},
		{"tcp6_loopback", Options{Databases: []string{"appdb"}, Roles: []string{"pgshield_authenticator"},
			ProxyAddr: "::1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hbaConf, conf, err := Generate(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name+".pg_hba.conf", hbaConf)
			golden(t, tt.name+".postgresql.conf", conf)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

func TestGenerateInvariants(t *testing.T) {
	hbaConf, conf, err := Generate(Options{Databases: []string{"d"}, Roles: []string{"r"}, ProxyAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(hbaConf), "\n")
	for _, want := range []string{"local all all reject", "host all all 0.0.0.0/0 reject", "host all all ::/0 reject"} {
		found := false
		for _, l := range lines {
			found = found || strings.Join(strings.Fields(l), " ") == want
		}
		if !found {
			t.Errorf("pg_hba.conf lacks %q", want)
		}
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] != "#" && f[len(f)-1] != "reject" && !strings.Contains(l, "scram-sha-256") {
			t.Errorf("line %q is neither scram-sha-256 nor reject", l)
		}
		if strings.Contains(l, "trust") || strings.Contains(l, "md5") || strings.Contains(l, "password") {
			t.Errorf("weak method in %q", l)
		}
	}
	for _, want := range []string{"listen_addresses = '127.0.0.1'", "ssl = on", "ssl_min_protocol_version = 'TLSv1.3'",
		"password_encryption = scram-sha-256", "log_statement = 'all'", "unix_socket_permissions = 0770"} {
		if !strings.Contains(conf, want) {
			t.Errorf("postgresql.conf lacks %q", want)
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	ok := Options{Databases: []string{"d"}, Roles: []string{"r"}, ProxySocketDir: "/run/p"}
	tests := []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"no databases", func(o *Options) { o.Databases = nil }, "no databases"},
		{"no roles", func(o *Options) { o.Roles = nil }, "no roles"},
		{"empty role", func(o *Options) { o.Roles = []string{""} }, "empty"},
		{"double quote", func(o *Options) { o.Roles = []string{`a"b`} }, "double quote"},
		{"newline", func(o *Options) { o.Databases = []string{"a\nhost all all 0.0.0.0/0 trust"} }, "control"},
		{"both modes", func(o *Options) { o.ProxyAddr = "127.0.0.1" }, "exactly one"},
		{"neither mode", func(o *Options) { o.ProxySocketDir = "" }, "exactly one"},
		{"relative socket dir", func(o *Options) { o.ProxySocketDir = "run" }, "absolute"},
		{"quote in path", func(o *Options) { o.ProxySocketDir = "/run/'x" }, "quote"},
		{"ssl in socket mode", func(o *Options) { o.ClientCert = true }, "TCP mode"},
		{"bad address", func(o *Options) { o.ProxySocketDir, o.ProxyAddr = "", "10.0.0.256" }, "proxy address"},
		{"cidr", func(o *Options) { o.ProxySocketDir, o.ProxyAddr = "", "10.0.0.0/8" }, "proxy address"},
		{"wildcard proxy", func(o *Options) { o.ProxySocketDir, o.ProxyAddr = "", "0.0.0.0" }, "single host"},
		{"wildcard listen", func(o *Options) { o.ProxySocketDir, o.ProxyAddr, o.ListenAddr = "", "10.0.0.5", "::" }, "single host"},
		{"remote proxy needs listen", func(o *Options) { o.ProxySocketDir, o.ProxyAddr = "", "10.0.0.5" }, "ListenAddr is required"},
		{"clientcert needs CA", func(o *Options) { o.ProxySocketDir, o.ProxyAddr, o.ClientCert = "", "127.0.0.1", true }, "SSLCAFile"},
		{"admin is proxy role", func(o *Options) { o.AdminRole = "r" }, "also a proxy role"},
		{"log_statement", func(o *Options) { o.LogStatement = "everything" }, "log_statement"},
		{"port", func(o *Options) { o.Port = 70000 }, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mutate(&o)
			_, _, err := Generate(o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
