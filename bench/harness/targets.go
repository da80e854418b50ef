package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// target is one thing clients connect to: direct PostgreSQL, a pgshield
// variant, PgBouncer or HAProxy.
type target struct {
	// name is how results name it ("direct", "pgshield", "pgshield-nofw", …).
	name string
	// port is its TCP port on 127.0.0.1.
	port int
	// directTLS means it only speaks PostgreSQL 17 direct TLS, so pgbench
	// (libpq 15) cannot drive it and the loadgen uses sslnegotiation=direct.
	directTLS bool
	// password is sent when the path behind the proxy asks for one (HAProxy
	// forwards to PostgreSQL's SCRAM); empty for certificate-only targets.
	password string
	// proc is its process, nil for direct PostgreSQL.
	proc *proc
	// logFile is where its output goes.
	logFile string
	// unavailable, when set, says why the target is skipped in this run.
	unavailable string
	// pooled means a client does not hold a backend connection while idle.
	pooled bool
	// variant is the YAML added to pgshield's base config ("" otherwise).
	variant string
	// desc says in a few words what it is, for the report.
	desc string
}

// libpqEnv is the environment pgbench connects to t with.
func (w *world) libpqEnv(t *target) []string {
	return []string{
		"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(t.port), "PGUSER=" + identity, "PGDATABASE=" + database,
		"PGSSLMODE=verify-full", "PGSSLROOTCERT=" + w.pki.CAFile, "PGSSLCERT=" + w.pki.ClientCert,
		"PGSSLKEY=" + w.pki.ClientKey, "PGSSLMINPROTOCOLVERSION=TLSv1.3", "PGCONNECT_TIMEOUT=10",
		"PGPASSWORD=", "PGAPPNAME=pgbench",
	}
}

// pgxConfig is the loadgen's connection config for t: TLS 1.3 only, the
// client certificate, direct TLS where the target needs it.
func (w *world) pgxConfig(t *target) (*pgconn.Config, error) {
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full sslrootcert=%s sslcert=%s sslkey=%s connect_timeout=10",
		t.port, identity, database, w.pki.CAFile, w.pki.ClientCert, w.pki.ClientKey)
	if t.directTLS {
		dsn += " sslnegotiation=direct"
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.name, err)
	}
	cfg.Password = t.password
	if cfg.TLSConfig == nil {
		return nil, fmt.Errorf("%s: no TLS config", t.name)
	}
	cfg.TLSConfig.MinVersion = tls.VersionTLS13
	return cfg, nil
}

// waitReady connects to t until it answers a query, or fails naming t and
// the end of its log.
func (w *world) waitReady(ctx context.Context, t *target, within time.Duration) error {
	cfg, err := w.pgxConfig(t)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for {
		if t.proc != nil {
			if done, perr := t.proc.exited(); done {
				return fmt.Errorf("%s exited (%v): %s", t.name, perr, logTail(t.logFile))
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := pgconn.ConnectConfig(cctx, cfg)
		if err == nil {
			_, err = c.Exec(cctx, "SELECT count(*) FROM pgbench_branches").ReadAll()
			c.Close(cctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; log: %s", t.name, within, err, logTail(t.logFile))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func logTail(path string) string {
	if path == "" {
		return "(no log)"
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return lastLines(string(b), 5)
}

// directTarget is PostgreSQL itself: TLS 1.3, hostssl … cert.
func (w *world) directTarget() *target {
	return &target{name: "direct", port: w.cluster.Port, logFile: w.cluster.LogFile,
		desc: "PostgreSQL 15, ssl=on, hostssl … cert, TLS 1.3"}
}

// rssKiB reads VmRSS of t's process from /proc.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
