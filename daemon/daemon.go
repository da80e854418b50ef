package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgshield/pgshield/admin"
	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/auditdb"
	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/backend"
	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/credrotate"
	"github.com/pgshield/pgshield/firewall"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/opsserver"
	"github.com/pgshield/pgshield/proxy"
	"github.com/pgshield/pgshield/rolemap"
	"github.com/pgshield/pgshield/tlsterm"
)

// Daemon is pgshield built from one config and listening.
type Daemon struct {
	cfg    *config.Config
	log    *slog.Logger
	tls    *tlsterm.Terminator
	server *proxy.Server
	ln     net.Listener
	// audit is the audit log, nil when off; closed after the server.
	audit audit.Sink
	// registry and metrics are this daemon's Prometheus collectors.
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	// ops is the operations listener, nil when off; opsAddr its address.
	ops     *opsserver.Server
	opsAddr net.Addr
	// configPath is where Reload reads the config again; "" disables it.
	configPath string
	// reloadMu serializes reloads.
	reloadMu sync.Mutex
	// creds is the credential store, nil when off.
	creds *creds
	// stop ends Run (the admin console's SHUTDOWN); set by Run.
	stopMu sync.Mutex
	stopFn context.CancelFunc
}

// stop ends Run as SIGTERM would.
func (d *Daemon) stop() {
	d.stopMu.Lock()
	defer d.stopMu.Unlock()
	if d.stopFn != nil {
		d.stopFn()
	}
}

// Options are what a Daemon takes besides its config.
type Options struct {
	// Logger receives pgshield's log; discarded when nil.
	Logger *slog.Logger
	// Report receives the security report at start; nil: not printed.
	Report io.Writer
	// ConfigPath is the file Reload reads again; "" reloads only the
	// certificate files.
	ConfigPath string
	// Listener, when set, is used instead of listening on cfg.Listen.
	Listener net.Listener
}

// New checks everything cfg points at and starts listening. Nothing is
// served until Run.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	term, err := NewTerminator(cfg, log)
	if err != nil {
		return nil, err
	}
	resolver, err := rolemap.New(cfg.Identities)
	if err != nil {
		return nil, fmt.Errorf("identities: %w", err)
	}
	// Read the password once now so a missing secret fails at start.
	if cfg.Credentials.StoreFile == "" && cfg.RoleMode == proxy.RoleModeSetLocal {
		if _, err := cfg.BackendPassword(); err != nil {
			return nil, err
		}
	}
	d := &Daemon{cfg: cfg, log: log, tls: term, configPath: opts.ConfigPath}
	conn, err := backend.New(backend.Options{
		Host:           cfg.Backend.Host,
		Port:           cfg.Backend.Port,
		TLSMode:        cfg.Backend.TLSMode,
		TLSCAFile:      cfg.Backend.TLSCAFile,
		TLSServerName:  cfg.Backend.TLSServerName,
		ConnectTimeout: cfg.Backend.ConnectTimeout,
		Around: func(role string, login func() error) error {
			if d.creds != nil {
				return d.creds.around(role, login)
			}
			return login()
		},
		Credentials: func(role string) (string, string, error) {
			if d.creds != nil {
				return d.creds.activeFor(role)
			}
			if role != "" {
				pw, err := cfg.RolePassword(role)
				return role, pw, err
			}
			pw, err := cfg.BackendPassword()
			return cfg.Backend.LoginRole, pw, err
		},
	})
	if err != nil {
		return nil, err
	}
	var fw firewall.Checker
	if cfg.Firewall.On() {
		f, err := firewall.New(firewall.Config{IdentitySetting: cfg.Firewall.IdentitySetting,
			ExtraDeniedFunctions: cfg.Firewall.ExtraDeniedFunctions})
		if err != nil {
			return nil, fmt.Errorf("firewall: %w", err)
		}
		fw = f
	} else if cfg.RoleMode == proxy.RoleModeSetLocal {
		log.Warn("the statement firewall is off: in set_local mode clients can leave their role (RESET ROLE)")
	}
	d.registry = prometheus.NewRegistry()
	if d.metrics, err = metrics.New(d.registry, metricsOptions(cfg)); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	sink, err := openAudit(cfg, log, d.metrics)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials.StoreFile != "" {
		retire := func() {
			if srv := d.server; srv != nil {
				srv.RetireConnections()
			}
		}
		if d.creds, err = openCredentials(context.Background(), cfg, log, sink, true, retire, d.metrics); err != nil {
			if sink != nil {
				sink.Close()
			}
			return nil, err
		}
	}
	edgeCfg, err := buildEdge(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := proxy.New(proxy.Options{
		Edge:            edgeCfg,
		Metrics:         d.metrics,
		LoginName:       cfg.Backend.LoginRole,
		InstanceID:      cfg.Peering.Instance,
		Peers:           cfg.Peering.Peers,
		AdminIdentities: cfg.Admin.Identities,
		Admin: func(ctx context.Context, fe *pgproto3.Backend, w io.Writer, identity string) error {
			return admin.New(admin.Options{Backend: controller{d}, Logger: log}).Serve(ctx, fe, w, identity)
		},
		Firewall:               fw,
		Audit:                  sink,
		Pool:                   poolSettings(cfg.Pool.PoolSettings, cfg.Pool.PoolSettings),
		PoolOverrides:          poolOverrides(cfg.Pool),
		SessionState:           cfg.Pool.SessionState,
		IdleTransactionTimeout: cfg.Pool.IdleTransactionTimeout,
		ClientIdleTimeout:      cfg.Pool.ClientIdleTimeout,
		MaxClientConn:          cfg.Pool.MaxClientConn,
		MaxDBConnections:       cfg.Pool.MaxDBConnections,
		RoleMode:               cfg.RoleMode,
		IdentitySetting:        cfg.Firewall.IdentitySetting,
		TLS:                    term,
		Auth:                   auth.New(auth.Options{Resolver: resolver, AllowSearchPath: cfg.Client.AllowSearchPath}),
		Backend:                conn,
		Logger:                 log,
		StartupTimeout:         cfg.Client.StartupTimeout,
		MaxMessageBytes:        cfg.Client.MaxMessageBytes,
	})
	if err != nil {
		if sink != nil {
			sink.Close()
		}
		return nil, err
	}
	ln, err := listen(cfg, opts.Listener)
	if err != nil {
		srv.Close()
		if sink != nil {
			sink.Close()
		}
		return nil, err
	}
	d.server, d.ln, d.audit = srv, ln, sink
	if err := d.newOps(); err != nil {
		d.Close()
		return nil, err
	}
	if opts.Report != nil {
		if err := d.reportSecurity(opts.Report); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// NewTerminator builds the client TLS terminator from cfg; `config check`
// uses it to prove the certificate files load.
func NewTerminator(cfg *config.Config, log *slog.Logger) (*tlsterm.Terminator, error) {
	minVersion := uint16(tls.VersionTLS13)
	if cfg.TLS.MinVersion == "1.2" {
		minVersion = tls.VersionTLS12
	}
	term, err := tlsterm.New(tlsterm.Config{
		CertFile:         cfg.TLS.CertFile,
		KeyFile:          cfg.TLS.KeyFile,
		ClientCAFile:     cfg.TLS.ClientCAFile,
		CRLFile:          cfg.TLS.CRLFile,
		MinVersion:       minVersion,
		IdentityFrom:     cfg.TLS.IdentityFrom,
		HandshakeTimeout: cfg.TLS.HandshakeTimeout,
		Logger:           log,
	})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return term, nil
}

// Addr is the address clients connect to.
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// Reload re-reads the config file and applies what can change while
// sessions run: certificates, CA bundle and CRL; identities and role
// mappings; allow-lists and limits; pool sizes. A config that does not
// validate, or whose files do not load, is refused whole and the old one
// stays in force. Sessions already open keep working.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.configPath == "" {
		return d.tls.Reload()
	}
	next, err := config.Load(d.configPath)
	if err != nil {
		d.log.Error("reload refused: the old configuration stays in force", "err", err)
		return err
	}
	resolver, err := rolemap.New(next.Identities)
	if err != nil {
		d.log.Error("reload refused: the old configuration stays in force", "err", err)
		return fmt.Errorf("identities: %w", err)
	}
	edgeCfg, err := buildEdge(next)
	if err != nil {
		d.log.Error("reload refused: the old configuration stays in force", "err", err)
		return err
	}
	if next.TLS != d.cfg.TLS || next.Backend != d.cfg.Backend || next.Listen != d.cfg.Listen || next.RoleMode != d.cfg.RoleMode {
		d.log.Warn("reload: changes to listen, tls file paths, backend and role_mode need a restart; they were not applied")
	}
	if err := d.tls.Reload(); err != nil {
		d.log.Error("reload refused: the old configuration stays in force", "err", err)
		return err
	}
	d.server.SetAuth(auth.New(auth.Options{Resolver: resolver, AllowSearchPath: next.Client.AllowSearchPath}))
	d.server.SetEdge(edgeCfg)
	d.server.SetPoolSettings(poolSettings(next.Pool.PoolSettings, next.Pool.PoolSettings), poolOverrides(next.Pool))
	if d.audit != nil {
		d.audit.Append(context.Background(), &audit.Record{Kind: audit.KindReload, Detail: map[string]string{"identities": fmt.Sprint(len(next.Identities))}})
	}
	d.log.Info("configuration reloaded", "identities", len(next.Identities))
	return nil
}

// Run serves until ctx ends, then stops accepting, lets sessions finish for
// the configured grace period and ends the rest with 57P01.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.stopMu.Lock()
	d.stopFn = cancel
	d.stopMu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- d.server.Serve(d.ln) }()
	stopOps, err := d.startOps(ctx)
	if err != nil {
		d.server.Close()
		return err
	}
	defer stopOps()
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		var checkpoints uint64
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			d.observe(&checkpoints)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	stopObserving := func() {
		cancel()
		<-observed
	}
	if d.creds != nil && d.creds.rot != nil && d.cfg.Credentials.Rotate && d.creds.loginMode {
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.rotateLoginsOnSchedule(ctx)
		}()
		defer func() { <-done }()
	}
	if d.creds != nil && d.creds.rot != nil && d.cfg.Credentials.Rotate && !d.creds.loginMode {
		sched, err := credrotate.NewScheduler(credrotate.SchedulerOptions{Rotator: d.creds.rot,
			Interval: d.cfg.Credentials.RotationInterval, Logger: d.log})
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			sched.Run(ctx)
		}()
		defer func() {
			sched.Close()
			<-done
		}()
		d.log.Info("credential rotation scheduled", "interval", d.cfg.Credentials.RotationInterval)
	}
	d.log.Info("pgshield listening", "addr", d.ln.Addr().String(), "backend", d.cfg.Backend.Host,
		"identities", len(d.cfg.Identities), "tls_min", d.cfg.TLS.MinVersion)
	select {
	case err := <-errc:
		stopObserving()
		d.server.Close()
		d.closeAudit()
		return err
	case <-ctx.Done():
	}
	stopObserving()
	d.log.Info("shutting down", "grace", d.cfg.ShutdownGrace, "sessions", d.server.Sessions())
	sctx, scancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	defer scancel()
	err = d.server.Shutdown(sctx)
	d.closeAudit()
	if serr := <-errc; serr != nil && !errors.Is(serr, proxy.ErrServerClosed) {
		return serr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		d.log.Warn("grace period over; remaining sessions were terminated")
		return nil
	}
	d.log.Info("shut down cleanly")
	return err
}

// Close ends everything at once.
func (d *Daemon) Close() error {
	err := d.server.Close()
	d.closeAudit()
	d.ln.Close()
	return err
}

// closeAudit writes the final checkpoint and releases the credential store.
func (d *Daemon) closeAudit() {
	if d.creds != nil {
		d.creds.Close()
		d.creds = nil
	}
	if d.audit == nil {
		return
	}
	if err := d.audit.Close(); err != nil {
		d.log.Error("audit log close failed", "err", err)
	}
}

// openAudit opens the audit log when configured; it verifies the tail of an
// existing log and refuses to start on a corrupt one.
func openAudit(cfg *config.Config, log *slog.Logger, m *metrics.Metrics) (audit.Sink, error) {
	a := cfg.Audit
	if a.Dir == "" {
		return nil, nil
	}
	key, err := audit.LoadSigningKey(a.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key_file: %w", err)
	}
	host, _ := os.Hostname()
	sink, err := audit.Open(context.Background(), audit.Options{
		Dir:                a.Dir,
		SigningKey:         key,
		InstanceID:         fmt.Sprintf("%s/%d", host, os.Getpid()),
		Origin:             a.Origin,
		Durability:         audit.Durability(a.Mode),
		SyncInterval:       a.SyncInterval,
		MaxSegmentBytes:    a.SegmentMaxBytes,
		MaxSegmentAge:      a.SegmentMaxAge,
		CheckpointEvery:    a.CheckpointEvery,
		CheckpointInterval: a.CheckpointInterval,
		MaxStatementBytes:  a.MaxStatementBytes,
		Params:             audit.ParamPolicy(a.Params),
		FailOpen:           a.FailOpen,
		Logger:             log,
		OnSync:             m.AuditSync,
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if a.DatabaseDSNEnv == "" && a.DatabaseDSNFile == "" {
		return sink, nil
	}
	dsn, err := cfg.AuditDSN()
	if err != nil {
		sink.Close()
		return nil, err
	}
	pcfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		sink.Close()
		return nil, errors.New("audit: the database DSN does not parse") // never echo it
	}
	tee, err := auditdb.New(context.Background(), auditdb.Options{Next: sink, Config: pcfg, Table: a.DatabaseTable, Logger: log})
	if err != nil {
		sink.Close()
		return nil, err
	}
	return tee, nil
}

// poolSettings turns config pool settings into the proxy's, with unset
// per-database values taken from the defaults.
func poolSettings(s, def config.PoolSettings) proxy.PoolSettings {
	pick := func(v, d int) int {
		if v == 0 {
			return d
		}
		return v
	}
	pickD := func(v, d time.Duration) time.Duration {
		if v == 0 {
			return d
		}
		return v
	}
	mode := s.Mode
	if mode == "" {
		mode = def.Mode
	}
	return proxy.PoolSettings{
		Mode:              mode,
		Size:              pick(s.Size, def.Size),
		MinIdle:           pick(s.MinIdle, def.MinIdle),
		QueryWaitTimeout:  pickD(s.QueryWaitTimeout, def.QueryWaitTimeout),
		ServerLifetime:    pickD(s.ServerLifetime, def.ServerLifetime),
		ServerIdleTimeout: pickD(s.ServerIdleTimeout, def.ServerIdleTimeout),
		ConnectRetries:    pick(s.ServerConnectRetries, def.ServerConnectRetries),
		ConnectRetryDelay: pickD(s.ServerConnectRetryDelay, def.ServerConnectRetryDelay),
		MaxPrepared:       pick(s.MaxPreparedStatements, def.MaxPreparedStatements),
	}
}

func poolOverrides(p config.Pool) map[string]proxy.PoolSettings {
	out := map[string]proxy.PoolSettings{}
	for db, s := range p.Databases {
		out[db] = poolSettings(s, p.PoolSettings)
	}
	return out
}

// Server is the running proxy, for the admin console and tests.
func (d *Daemon) Server() *proxy.Server { return d.server }

// rotateLoginsOnSchedule rotates every role's login (role_mode login) each
// rotation interval until ctx ends.
func (d *Daemon) rotateLoginsOnSchedule(ctx context.Context) {
	every := d.cfg.Credentials.RotationInterval
	if every == 0 {
		every = credrotate.DefaultInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.creds.rotate(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("credential rotation failed; will retry at the next interval", "err", err)
		}
	}
}
