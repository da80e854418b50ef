package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/firewall"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/opsserver"
)

// metricsOptions names every series up front: identities as configured,
// pools as database/login, the logins whose credentials age.
func metricsOptions(cfg *config.Config) metrics.Options {
	o := metrics.Options{FirewallRules: append(firewall.Rules(), "function_call", "read_only_identity"), Version: Version}
	seen := map[string]bool{}
	for _, id := range cfg.Identities {
		o.Identities = append(o.Identities, id.Name)
		login := cfg.Backend.LoginRole
		if cfg.RoleMode == "login" {
			login = id.Role
		}
		for _, db := range id.Databases {
			if name := db + "/" + login; !seen[name] {
				seen[name] = true
				o.Pools = append(o.Pools, name)
			}
		}
	}
	if cfg.Credentials.StoreFile != "" {
		o.Logins = []string{cfg.Backend.LoginRole + "_a", cfg.Backend.LoginRole + "_b"}
	}
	return o
}

// Version is pgshield's version, set at build time with -ldflags.
var Version = "dev"

// newOps binds the operations listener when configured (so a busy address
// fails at start); Run serves it.
func (d *Daemon) newOps() error {
	if d.cfg.Metrics.Listen == "" {
		return nil
	}
	srv, err := opsserver.New(opsserver.Options{Addr: d.cfg.Metrics.Listen, Gatherer: d.registry, Ready: d.ready,
		Logger: d.log, Pprof: d.cfg.Metrics.Pprof})
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	d.ops, d.opsAddr = srv, srv.Addr()
	return nil
}

// startOps serves the operations listener; the returned function stops it.
func (d *Daemon) startOps(ctx context.Context) (stop func(), err error) {
	if d.ops == nil {
		return func() {}, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.ops.Serve(ctx)
	}()
	d.log.Info("operations listener", "addr", d.opsAddr.String(), "loopback", d.ops.Loopback())
	return func() {
		d.ops.Close()
		<-done
	}, nil
}

// OpsAddr is the operations listener's address (nil when off).
func (d *Daemon) OpsAddr() net.Addr { return d.opsAddr }

// ready: the backend answers and the audit log can be written.
func (d *Daemon) ready(ctx context.Context) error {
	b := d.cfg.Backend
	network, addr := "tcp", net.JoinHostPort(b.Host, strconv.Itoa(b.Port))
	if b.IsUnixSocket() {
		network, addr = "unix", filepath.Join(b.Host, fmt.Sprintf(".s.PGSQL.%d", b.Port))
	}
	var dialer net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := dialer.DialContext(dctx, network, addr)
	if err != nil {
		return errors.New("backend unreachable")
	}
	conn.Close()
	if d.audit != nil && d.audit.Stats().Unavailable {
		return errors.New("audit log cannot be written")
	}
	return nil
}

// observe refreshes the metrics that are read rather than counted.
func (d *Daemon) observe(lastCheckpoints *uint64) {
	exp := d.tls.Expiry()
	d.metrics.SetCertificateExpiry(exp.ServerNotAfter, exp.ClientCANotAfter, exp.CRLNextUpdate, time.Now())
	if d.audit != nil {
		st := d.audit.Stats()
		d.metrics.SetAuditUnavailable(st.Unavailable)
		for ; *lastCheckpoints < st.Checkpoints; *lastCheckpoints++ {
			d.metrics.AuditCheckpoint()
		}
	}
	if d.creds != nil {
		st := d.creds.store.Snapshot()
		for _, login := range []string{d.cfg.Backend.LoginRole + "_a", d.cfg.Backend.LoginRole + "_b"} {
			if c, ok := st.Active(login); ok {
				d.metrics.SetCredentialVersion(login, c.ActivatedAt)
			} else {
				d.metrics.SetCredentialVersion(login, time.Time{})
			}
		}
	}
}
