package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/daemon"
	"github.com/pgshield/pgshield/devcerts"
	"github.com/pgshield/pgshield/internal/pgcluster"
	"github.com/pgshield/pgshield/internal/syncbuf"
)

// Env is a PostgreSQL cluster and PKI shared by one test binary.
type Env struct {
	Dir     string
	Cluster *pgcluster.Cluster
	PKI     *PKI
	// LoginRole logs pgshield into Database; its password is in LoginPasswordFile.
	LoginRole         string
	LoginPasswordFile string
	loginPassword     string
	Database          string
}

// Start creates the cluster; the authenticator login role, the mapped roles
// app_rw (owner of the test database) and analyst_ro (read access), and
// pgshield_noaccess; and the PKI with certificates for "app" and "analyst".
func Start(ctx context.Context, settings map[string]string) (*Env, error) {
	dir, err := os.MkdirTemp("", "pgshield-e2e-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, LoginRole: "pgshield_login", Database: "appdb"}
	ok := false
	defer func() {
		if !ok {
			e.Stop()
		}
	}()
	if e.Cluster, err = pgcluster.Start(ctx, pgcluster.Options{Settings: settings}); err != nil {
		return nil, err
	}
	pw := make([]byte, 32)
	rand.Read(pw)
	e.loginPassword = hex.EncodeToString(pw)
	e.LoginPasswordFile = filepath.Join(dir, "login.pw")
	if err := os.WriteFile(e.LoginPasswordFile, []byte(e.loginPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	// The least-privilege layout of init-db: an authenticator that inherits
	// nothing and lands on a no-privilege role, mapped roles it may switch to.
	if err := e.Cluster.Exec(ctx, "",
		"CREATE ROLE pgshield_noaccess NOLOGIN",
		"CREATE ROLE app_rw NOLOGIN",
		"CREATE ROLE analyst_ro NOLOGIN",
		fmt.Sprintf("CREATE ROLE %s LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD '%s'", e.LoginRole, e.loginPassword),
		fmt.Sprintf("GRANT pgshield_noaccess, app_rw, analyst_ro TO %s", e.LoginRole),
		fmt.Sprintf("ALTER ROLE %s SET role = 'pgshield_noaccess'", e.LoginRole),
		fmt.Sprintf("CREATE DATABASE %s OWNER app_rw", e.Database),
	); err != nil {
		return nil, err
	}
	if err := e.Cluster.Exec(ctx, e.Database,
		"GRANT USAGE ON SCHEMA public TO analyst_ro",
		"ALTER DEFAULT PRIVILEGES FOR ROLE app_rw IN SCHEMA public GRANT SELECT ON TABLES TO analyst_ro",
	); err != nil {
		return nil, err
	}
	if e.PKI, err = NewPKI(filepath.Join(dir, "pki")); err != nil {
		return nil, err
	}
	for _, id := range []string{"app", "analyst"} {
		if _, _, err := e.PKI.Client(id, devcerts.ClientOptions{}); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

// MustStart is Start for TestMain: it exits the process on failure.
func MustStart(settings map[string]string) *Env {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := Start(ctx, settings)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
	return e
}

// Stop removes the cluster and every file.
func (e *Env) Stop() {
	if e.Cluster != nil {
		e.Cluster.Stop()
	}
	os.RemoveAll(e.Dir)
}

// LoginPassword is the backend password, for tests that check it never leaks.
func (e *Env) LoginPassword() string { return e.loginPassword }

// Config is a pgshield config for this env: identities app and analyst on
// Database, CRL checked, TLS 1.3 only.
func (e *Env) Config() *config.Config {
	yaml := fmt.Sprintf(`
listen: 127.0.0.1:0
tls:
  cert_file: %s
  key_file: %s
  client_ca_file: %s
  crl_file: %s
backend:
  host: %s
  port: %d
  login_role: %s
  password_file: %s
identities:
  - name: app
    role: app_rw
    databases: [%s]
  - name: analyst
    role: analyst_ro
    databases: [%s]
    read_only: true
shutdown_grace: 5s
`, e.PKI.ServerCert, e.PKI.ServerKey, e.PKI.CAFile, e.PKI.CRLFile, e.Cluster.SocketDir, e.Cluster.Port,
		e.LoginRole, e.LoginPasswordFile, e.Database, e.Database)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		panic(err)
	}
	// Tests refuse clients on purpose, all from 127.0.0.1: the throttle
	// would block the next test. TestThrottle turns it on.
	cfg.Limits.AuthFailures = -1
	cfg.Limits.PerIdentityConnections = -1
	return cfg
}

// Proxy is a running pgshield.
type Proxy struct {
	Daemon *daemon.Daemon
	Host   string
	Port   string
	Log    *syncbuf.Buffer
	cancel context.CancelFunc
	done   chan error
}

// StartProxy runs pgshield with cfg until the test ends.
func (e *Env) StartProxy(t testing.TB, cfg *config.Config) *Proxy {
	return e.StartProxyWith(t, cfg, daemon.Options{})
}

// StartProxyWith is StartProxy with daemon options (a config path for
// reloads, a security report writer); Logger and Listener are set here.
func (e *Env) StartProxyWith(t testing.TB, cfg *config.Config, opts daemon.Options) *Proxy {
	t.Helper()
	var ln net.Listener
	var err error
	if !cfg.ListenReusePort { // with SO_REUSEPORT the daemon listens itself
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Logger, opts.Listener = log, ln
	d, err := daemon.New(cfg, opts)
	if err != nil {
		if ln != nil {
			ln.Close()
		}
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{Daemon: d, Log: logs, cancel: cancel, done: make(chan error, 1)}
	p.Host, p.Port, _ = net.SplitHostPort(d.Addr().String())
	go func() { p.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pgshield log:\n%s", logs.String())
		}
	})
	return p
}

// Stop is SIGTERM: it drains and waits for Run to return.
func (p *Proxy) Stop() error {
	p.cancel()
	return <-p.doneOnce()
}

func (p *Proxy) doneOnce() chan error {
	c := make(chan error, 1)
	select {
	case err, ok := <-p.done:
		if ok {
			close(p.done)
		}
		c <- err
	}
	return c
}

// Shutdown starts a drain (as SIGTERM) and returns a channel that reports
// when Run returned.
func (p *Proxy) Shutdown() <-chan error {
	p.cancel()
	return p.doneOnce()
}

// DSN is a libpq connection string for identity (its certificate) with extra
// keyword=value pairs appended (later keys win in libpq).
func (e *Env) DSN(p *Proxy, identity string, extra ...string) string {
	cert := filepath.Join(e.PKI.Dir, "client-"+identity+".crt")
	key := filepath.Join(e.PKI.Dir, "client-"+identity+".key")
	kv := []string{
		"host=" + p.Host, "port=" + p.Port, "dbname=" + e.Database, "user=" + identity,
		"sslmode=verify-full", "sslrootcert=" + e.PKI.CAFile, "sslcert=" + cert, "sslkey=" + key,
		"connect_timeout=10",
	}
	return strings.Join(append(kv, extra...), " ")
}
