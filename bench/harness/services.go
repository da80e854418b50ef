package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// variant is a pgshield configuration under test: the YAML it adds to the
// base config. {{dir}} becomes a directory of its own, {{pool}} the pool
// size and {{maxclients}} the client cap. A variant whose keys the current
// config rejects is reported as not available yet rather than failing the
// run; the base "pgshield" falls back to the session relay with no extra
// YAML (what a binary from before pooling accepts) instead.
type variant struct {
	name   string
	desc   string
	yaml   string
	pooled bool
	// prepare is a pgshield command run before the config check (its
	// arguments substituted as the YAML), e.g. to create a signing key.
	prepare []string
}

// txPool is transaction pooling with PgBouncer's pool size.
const txPool = "pool:\n  mode: transaction\n  size: {{pool}}\n  max_client_conn: {{maxclients}}\n"

// noIdentityCap lifts pgshield's per-identity connection limit.
const noIdentityCap = "limits:\n  per_identity_connections: -1\n"

// auditKey creates the audit checkpoint signing key of an audit variant.
var auditKey = []string{"audit", "keygen", "--key", "{{dir}}/audit.key", "--pubkey", "{{dir}}/audit.pub"}

// auditYAML is txPool with the audit log in mode m.
func auditYAML(m string) string { return txPool + auditOnly(m) }

// auditOnly is the audit log in mode m.
func auditOnly(m string) string {
	return "audit:\n  dir: {{dir}}/audit\n  signing_key_file: {{dir}}/audit.key\n  mode: " + m + "\n"
}

// variants are the pgshield configurations the workloads may ask for. The
// base "pgshield" is what the brief measures and users run: set_local role
// enforcement, the firewall and the audit log in batch mode; each other
// variant changes one thing of it.
var variants = []variant{
	{name: "pgshield", desc: "transaction pooling (pool {{pool}}), set_local, firewall on, audit batch", yaml: auditYAML("batch"), pooled: true, prepare: auditKey},
	{name: "pgshield-audit-off", desc: "as pgshield, audit off", yaml: txPool, pooled: true},
	{name: "pgshield-audit-async", desc: "as pgshield, audit mode async", yaml: auditYAML("async"), pooled: true, prepare: auditKey},
	{name: "pgshield-audit-sync", desc: "as pgshield, audit mode sync", yaml: auditYAML("sync"), pooled: true, prepare: auditKey},
	{name: "pgshield-nofw", desc: "as pgshield, firewall off", yaml: auditYAML("batch") + "firewall:\n  enabled: false\n", pooled: true, prepare: auditKey},
	{name: "pgshield-session", desc: "as pgshield, pool mode session (size 100)", yaml: "pool:\n  mode: session\n  size: 100\n" + auditOnly("batch"), prepare: auditKey},
}

func findVariant(name string) (variant, bool) {
	for _, v := range variants {
		if v.name == name {
			return v, true
		}
	}
	return variant{}, false
}

// startPgshield writes v's config, checks it with `pgshield config check`
// and runs `pgshield serve`. A rejected config gives a target marked
// unavailable, not an error.
func (w *world) startPgshield(ctx context.Context, ps *procs, bin string, v variant, poolSize, maxClients int) (*target, error) {
	dir := filepath.Join(w.dir, v.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{name: v.name, port: port, directTLS: false, logFile: filepath.Join(dir, "pgshield.log"),
		pooled: v.pooled}
	subst := strings.NewReplacer("{{dir}}", dir, "{{pool}}", fmt.Sprint(poolSize), "{{maxclients}}", fmt.Sprint(maxClients))
	base := fmt.Sprintf(`listen: 127.0.0.1:%d
tls:
  cert_file: %s
  key_file: %s
  client_ca_file: %s
  crl_file: %s
  min_version: "1.3"
backend:
  host: %s
  port: %d
  login_role: %s
  password_file: %s
identities:
  - name: %s
    role: %s
    databases: [%s]
shutdown_grace: 1s
log:
  level: info
`, port, w.pki.ServerCert, w.pki.ServerKey, w.pki.CAFile, w.pki.CRLFile, w.cluster.SocketDir, w.cluster.Port,
		loginRole, w.loginPasswordFile, identity, appRole, database)
	cfgFile := filepath.Join(dir, "pgshield.yaml")
	check := func(extra string) (string, error) {
		if err := os.WriteFile(cfgFile, []byte(base+subst.Replace(extra)), 0o600); err != nil {
			return "", err
		}
		return runCmd(ctx, 30*time.Second, nil, bin, "config", "check", "--config", cfgFile)
	}
	t.variant, t.desc = strings.TrimSpace(subst.Replace(v.yaml)), "pgshield binary: "+subst.Replace(v.desc)
	if len(v.prepare) > 0 {
		argv := []string{bin}
		for _, a := range v.prepare {
			argv = append(argv, subst.Replace(a))
		}
		if out, err := runCmd(ctx, 30*time.Second, nil, argv...); err != nil {
			t.unavailable = "not available yet (" + strings.Join(v.prepare[:2], " ") + ": " + lastLines(out, 1) + ")"
			return t, nil
		}
	}
	// No per-identity connection cap (PgBouncer has none either): every
	// client of the benchmark is the one identity. Older configs lack the key.
	if _, err := check(v.yaml + noIdentityCap); err == nil {
		t.variant += "\n" + strings.TrimSpace(noIdentityCap)
	} else if out, err := check(v.yaml); err != nil {
		if v.name != "pgshield" {
			t.unavailable = "not available yet (config check: " + rejected(out) + ")"
			return t, nil
		}
		// An older pgshield without pooling: measure its session relay.
		t.variant, t.pooled = "", false
		t.desc = "pgshield binary without pooling: session relay, set_local, firewall on, audit off"
		if _, err := check(""); err != nil {
			return nil, fmt.Errorf("pgshield: config check: %v", err)
		}
	}
	if t.proc, err = ps.start(v.name, t.logFile, nil, bin, "serve", "--config", cfgFile); err != nil {
		return nil, err
	}
	return t, w.waitReady(ctx, t, 20*time.Second)
}

// startPgbouncer runs PgBouncer in transaction mode with TLS 1.3 only,
// verify-full client certificates and auth_type cert (the user name must be
// the certificate's CN). It logs into PostgreSQL over the unix socket as the
// same user, with the password from its auth_file.
func (w *world) startPgbouncer(ctx context.Context, ps *procs, poolSize, maxClients int) (*target, error) {
	dir := filepath.Join(w.dir, "pgbouncer")
	if err := w.mkdirOwned(dir); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{name: "pgbouncer", port: port, logFile: filepath.Join(dir, "pgbouncer.log"), pooled: true,
		desc: fmt.Sprintf("PgBouncer, transaction mode, pool %d, auth_type cert, client_tls_sslmode verify-full, TLS 1.3", poolSize)}
	users := fmt.Sprintf("%q %q\n", identity, w.appPassword)
	if err := w.writeOwned(filepath.Join(dir, "userlist.txt"), []byte(users), 0o600); err != nil {
		return nil, err
	}
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = cert
auth_file = %s
pool_mode = transaction
default_pool_size = %d
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = %d
client_tls_sslmode = verify-full
client_tls_protocols = tlsv1.3
client_tls_cert_file = %s
client_tls_key_file = %s
client_tls_ca_file = %s
server_tls_sslmode = disable
ignore_startup_parameters = extra_float_digits
logfile = %s
`, database, w.cluster.SocketDir, w.cluster.Port, database, port, filepath.Join(dir, "userlist.txt"),
		poolSize, maxClients, w.pki.ServerCert, w.serverKey, w.pki.CAFile, t.logFile)
	iniFile := filepath.Join(dir, "pgbouncer.ini")
	if err := w.writeOwned(iniFile, []byte(ini), 0o600); err != nil {
		return nil, err
	}
	bin, err := lookBin("pgbouncer")
	if err != nil {
		return nil, err
	}
	if t.proc, err = ps.start("pgbouncer", filepath.Join(dir, "stderr.log"), w.cred, bin, iniFile); err != nil {
		return nil, err
	}
	return t, w.waitReady(ctx, t, 20*time.Second)
}

// startHAProxy runs HAProxy in mode tcp terminating PostgreSQL 17 direct TLS
// (ALPN postgresql, TLS 1.3, client certificate required and checked
// against the CA and CRL) and forwarding to PostgreSQL's TCP port, where
// the client then logs in with SCRAM.
func (w *world) startHAProxy(ctx context.Context, ps *procs, maxConn int) (*target, error) {
	dir := filepath.Join(w.dir, "haproxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{name: "haproxy", port: port, directTLS: true, password: w.appPassword, logFile: filepath.Join(dir, "haproxy.log"),
		desc: "HAProxy mode tcp: direct TLS (ALPN postgresql), verify required, then SCRAM to PostgreSQL over TCP; loadgen only"}
	cert, err := os.ReadFile(w.pki.ServerCert)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(w.pki.ServerKey)
	if err != nil {
		return nil, err
	}
	pem := filepath.Join(dir, "server.pem")
	if err := os.WriteFile(pem, append(append(cert, '\n'), key...), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`global
  maxconn %d
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend pg
  bind 127.0.0.1:%d ssl crt %s ca-file %s crl-file %s verify required alpn postgresql ssl-min-ver TLSv1.3
  default_backend pg
backend pg
  server pg1 127.0.0.1:%d
`, maxConn, port, pem, w.pki.CAFile, w.pki.CRLFile, w.cluster.Port)
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	bin, err := lookBin("haproxy")
	if err != nil {
		return nil, err
	}
	if out, err := runCmd(ctx, 30*time.Second, nil, bin, "-c", "-f", cfgFile); err != nil {
		return nil, fmt.Errorf("haproxy: config check: %v %s", err, lastLines(out, 3))
	}
	if t.proc, err = ps.start("haproxy", t.logFile, nil, bin, "-db", "-f", cfgFile); err != nil {
		return nil, err
	}
	return t, w.waitReady(ctx, t, 20*time.Second)
}

var unknownFieldRe = regexp.MustCompile(`field (\S+) not found`)

// rejected condenses config check's complaint to the keys it does not know,
// or its last line.
func rejected(out string) string {
	var keys []string
	for _, m := range unknownFieldRe.FindAllStringSubmatch(out, -1) {
		keys = append(keys, m[1])
	}
	if len(keys) > 0 {
		return "unknown keys " + strings.Join(keys, ", ")
	}
	return lastLines(out, 1)
}
