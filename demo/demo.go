package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/dbinit"
	"github.com/pgshield/pgshield/devcerts"
	"github.com/pgshield/pgshield/internal/pgcluster"
)

// Options configures Run.
type Options struct {
	// Dir holds certificates, the config, secrets and demo.env; created 0700.
	Dir string
	// Listen is the proxy's address; 127.0.0.1:6432 when empty.
	Listen string
	// Out receives the human instructions (psql command lines).
	Out io.Writer
	// Logger receives pgshield's log.
	Logger *slog.Logger
}

// Identities the demo issues certificates for, and the roles they map to:
// app reads and writes the items table, analyst only reads it (read-only).
var (
	identities = []string{"app", "analyst", "admin"}
	roles      = map[string]string{"app": "app_rw", "analyst": "analyst_ro"}
	// poolSize is deliberately small so that the pooling shows.
	poolSize = 5
)

const (
	database  = "appdb"
	loginRole = "pgshield_authenticator"
)

// demoPlan is init-db's plan for the demo database: the least-privilege
// layout every deployment should have.
const demoPlan = `
database: appdb
authenticator: pgshield_authenticator
noaccess_role: pgshield_noaccess
tables:
  - name: items
    columns: "id bigserial primary key, name text not null, created_at timestamptz not null default now()"
roles:
  - name: app_rw
    grants: [{table: items, privileges: [select, insert, update, delete]}]
  - name: analyst_ro
    grants: [{table: items, privileges: [select]}]
`

// Run starts the cluster and the proxy, writes demo.env once the proxy
// accepts connections, and serves until ctx ends. It leaves nothing running.
func Run(ctx context.Context, opts Options) error {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:6432"
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	os.Chmod(dir, 0o700)
	envFile := filepath.Join(dir, "demo.env")
	os.Remove(envFile) // a stale file would point at a dead cluster

	fmt.Fprintln(opts.Out, "pgshield demo: starting an ephemeral PostgreSQL cluster…")
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer cluster.Stop()

	if err := setupDatabase(ctx, cluster); err != nil {
		return err
	}
	adminDSN := filepath.Join(dir, "secrets", "admin.dsn")
	if err := os.WriteFile(adminDSN, []byte(fmt.Sprintf("host=%s port=%d user=%s dbname=%s password=%s\n",
		cluster.SocketDir, cluster.Port, cluster.Superuser, database, cluster.Password())), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	files, err := devcerts.Init(filepath.Join(dir, "certs"), identities)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	auditDir := filepath.Join(dir, "audit")
	auditKey, auditPub := filepath.Join(dir, "secrets", "audit.key"), filepath.Join(dir, "audit.pub")
	if _, err := os.Stat(auditKey); os.IsNotExist(err) {
		if err := audit.WriteKeyFiles(io.Discard, "pgshield-demo", auditKey, auditPub); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	cfgFile := filepath.Join(dir, "pgshield.yaml")
	os.Remove(filepath.Join(dir, "secrets", "db.enc")) // a new cluster: new logins
	if err := os.WriteFile(cfgFile, []byte(configYAML(opts.Listen, cluster, files, adminDSN, auditDir, auditKey)), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return fmt.Errorf("demo: generated config: %w", err)
	}
	if err := bootstrapCredentials(ctx, cfg, cluster); err != nil {
		return err
	}
	d, err := daemon.New(cfg, daemon.Options{Logger: opts.Logger, Report: opts.Out, ConfigPath: cfgFile})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	runErr := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { runErr <- d.Run(runCtx) }()

	host, port, _ := net.SplitHostPort(d.Addr().String())
	vars := envVars(cfgFile, host, port, files, cluster)
	vars["PGSHIELD_POOL_SIZE"] = fmt.Sprint(poolSize)
	vars["PGSHIELD_AUDIT_DIR"] = auditDir
	vars["PGSHIELD_AUDIT_PUBKEY"] = auditPub
	if a := d.OpsAddr(); a != nil {
		vars["PGSHIELD_METRICS_URL"] = "http://" + a.String() + "/metrics"
		vars["PGSHIELD_ADMIN_URL"] = "http://" + a.String()
	}
	if err := writeEnv(envFile, vars); err != nil {
		stop()
		<-runErr
		return err
	}
	defer os.Remove(envFile)
	printInstructions(opts.Out, envFile, host, port, files)
	err = <-runErr
	fmt.Fprintln(opts.Out, "pgshield demo: stopped; the ephemeral cluster is removed.")
	return err
}

// setupDatabase creates the demo database and applies demoPlan with
// init-db: the authenticator group role, the no-privilege role it lands on,
// and the mapped roles.
func setupDatabase(ctx context.Context, c *pgcluster.Cluster) error {
	if err := c.Exec(ctx, "", "CREATE DATABASE "+database); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	plan, err := dbinit.ParsePlan([]byte(demoPlan))
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	su, err := c.Config(database)
	if err != nil {
		return err
	}
	in, err := dbinit.New(dbinit.Options{Config: su})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if _, err := in.Apply(ctx, plan); err != nil {
		return fmt.Errorf("demo: init-db: %w", err)
	}
	// With the credential store, the authenticator is the group role of two
	// alternating logins (pgshield_authenticator_a/_b) and logs in itself never.
	if err := c.Exec(ctx, database, "INSERT INTO public.items (name) VALUES ('first'), ('second'), ('third')",
		"ALTER ROLE "+loginRole+" NOLOGIN"); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// bootstrapCredentials creates the two alternating logins and stores the
// first one's generated password in the encrypted store (pgshield creds init).
func bootstrapCredentials(ctx context.Context, cfg *config.Config, c *pgcluster.Cluster) error {
	creds, err := daemon.OpenCredentials(ctx, cfg, slog.New(slog.DiscardHandler), nil, false)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer creds.Close()
	su, err := c.Config(database)
	if err != nil {
		return err
	}
	if err := creds.Bootstrap(ctx, su); err != nil {
		return fmt.Errorf("demo: creds init: %w", err)
	}
	return nil
}

func configYAML(listen string, c *pgcluster.Cluster, f devcerts.Files, adminDSN, auditDir, auditKey string) string {
	var ids strings.Builder
	for _, id := range identities {
		if roles[id] == "" {
			continue // admin only opens the console
		}
		fmt.Fprintf(&ids, "  - name: %s\n    role: %s\n    databases: [%s]\n    read_only: %v\n", id, roles[id], database, id == "analyst")
	}
	return fmt.Sprintf(`# Generated by pgshield demo. See configs/pgshield.example.yaml for every key.
listen: %q
tls:
  cert_file: %s
  key_file: %s
  client_ca_file: %s
  crl_file: %s
  min_version: "1.3"
role_mode: set_local
firewall:
  enabled: true
backend:
  host: %s
  port: %d
  login_role: %s
credentials:
  # The logins' passwords: generated, encrypted, rotated every 2 minutes
  # (pgshield creds status --config "$PGSHIELD_CONFIG").
  store_file: %s
  identity_key_file: %s
  rotate: true
  rotation_interval: 2m
  grace_period: 10s
  terminate_after_grace: true
  admin_dsn_file: %s
identities:
%spool:
  mode: transaction
  size: %d
audit:
  dir: %s
  signing_key_file: %s
  mode: batch
admin:
  identities: [admin]
metrics:
  listen: 127.0.0.1:0
shutdown_grace: 5s
`, listen, f.ServerCert, f.ServerKey, f.CACert, f.CRL, c.SocketDir, c.Port, loginRole,
		filepath.Join(filepath.Dir(adminDSN), "db.enc"), filepath.Join(filepath.Dir(adminDSN), "node.key"), adminDSN, ids.String(),
		poolSize, auditDir, auditKey)
}

// envVars are demo.env's variables; README.md documents each.
func envVars(cfgFile, host, port string, f devcerts.Files, c *pgcluster.Cluster) map[string]string {
	v := map[string]string{
		"PGSHIELD_CONFIG":                 cfgFile,
		"PGSHIELD_HOST":                   host,
		"PGSHIELD_PORT":                   port,
		"PGSHIELD_DB":                     database,
		"PGSHIELD_CA":                     f.CACert,
		"BACKEND_SOCKET_DIR":              c.SocketDir,
		"BACKEND_PORT":                    fmt.Sprint(c.Port),
		"BACKEND_DB":                      database,
		"BACKEND_SUPERUSER":               c.Superuser,
		"BACKEND_SUPERUSER_PASSWORD_FILE": c.PasswordFile,
		"PGSHIELD_AUTHENTICATOR":          loginRole,
	}
	for _, id := range identities {
		up := strings.ToUpper(id)
		if roles[id] != "" {
			v["PGSHIELD_ROLE_"+up] = roles[id]
		}
		v["PGSHIELD_CERT_"+up] = f.Clients[id].Cert
		v["PGSHIELD_KEY_"+up] = f.Clients[id].Key
	}
	return v
}

func writeEnv(path string, vars map[string]string) error {
	names := make([]string, 0, len(vars))
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by pgshield demo at %s; removed when the demo stops.\n", time.Now().UTC().Format(time.RFC3339))
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%s\n", k, shellQuote(vars[k]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return os.Rename(tmp, path)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func printInstructions(w io.Writer, envFile, host, port string, f devcerts.Files) {
	fmt.Fprintf(w, "\npgshield is listening on %s:%s (TLS 1.3, client certificates required).\n", host, port)
	fmt.Fprintf(w, "Variables for scripts: %s\n\nConnect as each identity:\n", envFile)
	for _, id := range identities {
		db := database
		if roles[id] == "" {
			db = "pgshield" // the admin console: SHOW POOLS, SHOW CLIENTS, KILL <identity> …
		}
		fmt.Fprintf(w, "  psql \"host=%s port=%s dbname=%s user=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s\"\n",
			host, port, db, id, f.CACert, f.Clients[id].Cert, f.Clients[id].Key)
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop the demo and remove the cluster.")
}
