package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pgshield/pgshield/internal/pgcluster"
)

// Names shared by every target: the benchmark database, the client
// certificate identity (also the startup user) and the roles behind it.
const (
	database  = "appdb"
	identity  = "app"
	appRole   = "app_rw"
	loginRole = "pgshield_login"
)

// world is what every target shares: one work directory, one PKI, one
// PostgreSQL cluster with the pgbench tables.
type world struct {
	dir     string
	pki     *pki
	cluster *pgcluster.Cluster
	// serverKey is a copy of the server key the unprivileged service user
	// (PostgreSQL, PgBouncer) can read; cred is that user, nil when not root.
	serverKey string
	cred      *syscall.Credential
	uid, gid  int
	// appPassword is the backend password of role app (PgBouncer's and
	// HAProxy's path log in with it); loginPasswordFile holds pgshield's.
	appPassword       string
	loginPasswordFile string
}

// newWorld creates the work directory, the PKI and the cluster (TLS 1.3,
// pg_hba `hostssl … cert` for the client identity) and loads pgbench data.
func newWorld(ctx context.Context, scale int, logf func(string, ...any)) (w *world, err error) {
	w = &world{uid: os.Getuid(), gid: os.Getgid()}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.dir, err = os.MkdirTemp("", "pgshield-bench-"); err != nil {
		return nil, err
	}
	if err := os.Chmod(w.dir, 0o755); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the system user postgres: %w", err)
		}
		w.uid, _ = strconv.Atoi(u.Uid)
		w.gid, _ = strconv.Atoi(u.Gid)
		w.cred = &syscall.Credential{Uid: uint32(w.uid), Gid: uint32(w.gid)}
	}
	if err := w.makePKI(); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	logf("starting PostgreSQL")
	w.cluster, err = pgcluster.Start(ctx, pgcluster.Options{TCP: true, ParentDir: w.dir, Settings: map[string]string{
		"ssl":                      "on",
		"ssl_cert_file":            w.pki.ServerCert,
		"ssl_key_file":             w.serverKey,
		"ssl_ca_file":              w.pki.CAFile,
		"ssl_crl_file":             w.pki.CRLFile,
		"ssl_min_protocol_version": "TLSv1.3",
		"max_connections":          "600",
		"shared_buffers":           "256MB",
	}})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	if err := w.setupDatabase(ctx, scale, logf); err != nil {
		return nil, fmt.Errorf("PostgreSQL set-up: %w", err)
	}
	return w, nil
}

func (w *world) makePKI() error {
	var err error
	if w.pki, err = newPKI(filepath.Join(w.dir, "pki"), identity); err != nil {
		return err
	}
	key, err := os.ReadFile(w.pki.ServerKey)
	if err != nil {
		return err
	}
	w.serverKey = filepath.Join(w.pki.Dir, "server-service.key")
	return w.writeOwned(w.serverKey, key, 0o600)
}

// writeOwned writes a file the service user owns.
func (w *world) writeOwned(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	if w.cred != nil {
		return os.Chown(path, w.uid, w.gid)
	}
	return nil
}

// mkdirOwned creates a directory the service user owns.
func (w *world) mkdirOwned(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	if w.cred != nil {
		return os.Chown(path, w.uid, w.gid)
	}
	return nil
}

func (w *world) setupDatabase(ctx context.Context, scale int, logf func(string, ...any)) error {
	w.appPassword = randomHex(24)
	loginPassword := randomHex(24)
	w.loginPasswordFile = filepath.Join(w.dir, "login.pw")
	if err := os.WriteFile(w.loginPasswordFile, []byte(loginPassword+"\n"), 0o600); err != nil {
		return err
	}
	// pgshield's least-privilege layout (as init-db makes it), and a login
	// role app that the other targets use, inheriting app_rw's privileges.
	if err := w.cluster.Exec(ctx, "",
		"CREATE ROLE pgshield_noaccess NOLOGIN",
		"CREATE ROLE "+appRole+" NOLOGIN",
		fmt.Sprintf("CREATE ROLE %s LOGIN NOINHERIT PASSWORD '%s'", loginRole, loginPassword),
		fmt.Sprintf("GRANT pgshield_noaccess, %s TO %s", appRole, loginRole),
		fmt.Sprintf("ALTER ROLE %s SET role = 'pgshield_noaccess'", loginRole),
		fmt.Sprintf("CREATE ROLE %s LOGIN INHERIT PASSWORD '%s' IN ROLE %s", identity, w.appPassword, appRole),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", database, appRole),
	); err != nil {
		return err
	}
	hba := fmt.Sprintf(`# pgshield bench: certificates for the client identity, SCRAM elsewhere
local all all scram-sha-256
hostssl %s %s 127.0.0.1/32 cert
hostnossl %s %s 127.0.0.1/32 scram-sha-256
`, database, identity, database, identity)
	if err := w.writeOwned(filepath.Join(w.cluster.Dir, "data", "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	if err := w.cluster.Exec(ctx, "", "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	logf("pgbench -i -s %d", scale)
	env := []string{"PGPASSWORD=" + w.cluster.Password()}
	if _, err := runCmd(ctx, 10*time.Minute, env, "pgbench", "-i", "-q", "-s", strconv.Itoa(scale),
		"-h", w.cluster.SocketDir, "-p", strconv.Itoa(w.cluster.Port), "-U", w.cluster.Superuser, database); err != nil {
		return err
	}
	return w.cluster.Exec(ctx, database,
		"GRANT ALL ON ALL TABLES IN SCHEMA public TO "+appRole,
		"ANALYZE")
}

// close stops the cluster and removes every file.
func (w *world) close() {
	if w.cluster != nil {
		_ = w.cluster.Stop()
	}
	if w.dir != "" {
		_ = os.RemoveAll(w.dir)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
