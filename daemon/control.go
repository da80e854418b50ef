package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/pgshield/pgshield/admin"
	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/security"
)

// controller is the admin console's view of the daemon.
type controller struct {
	d *Daemon
}

var _ admin.Controller = controller{}

func sessionNumber(id string) int64 {
	n, _ := strconv.ParseInt(id, 16, 64)
	return n
}

func (c controller) Pools() []admin.PoolInfo {
	var out []admin.PoolInfo
	for _, p := range c.d.server.Pools() {
		user := p.Role
		if user == "" {
			user = c.d.cfg.Backend.LoginRole
		}
		out = append(out, admin.PoolInfo{Database: p.Database, User: user, Mode: p.Mode, Size: p.Size,
			Active: p.Open - p.Idle, Idle: p.Idle, Waiting: p.Waiting, MaxWait: p.MaxWait})
	}
	return out
}

func (c controller) Clients() []admin.ClientInfo {
	var out []admin.ClientInfo
	for _, ci := range c.d.server.Clients() {
		out = append(out, admin.ClientInfo{SessionID: sessionNumber(ci.ID), Identity: ci.Identity, Role: ci.Role,
			Database: ci.Database, Addr: ci.Addr, TLSVersion: ci.TLSVersion, State: admin.ClientState(ci.State),
			Pinned: ci.Pinned, ConnectedAt: ci.ConnectedAt})
	}
	return out
}

func (c controller) Servers() []admin.ServerInfo {
	var out []admin.ServerInfo
	for _, si := range c.d.server.Servers() {
		state := admin.ServerIdle
		if si.Active {
			state = admin.ServerActive
		}
		user := si.Role
		if user == "" {
			user = c.d.cfg.Backend.LoginRole
		}
		out = append(out, admin.ServerInfo{PID: si.PID, Database: si.Database, User: user, State: state,
			SessionID: sessionNumber(si.Session), ConnectedAt: si.CreatedAt, LastUsed: si.LastUsed})
	}
	return out
}

func (c controller) Stats() []admin.StatsInfo {
	var out []admin.StatsInfo
	for _, st := range c.d.server.Stats() {
		out = append(out, admin.StatsInfo{Database: st.Database, Transactions: st.Transactions,
			Statements: st.Statements, Denied: st.Denied})
	}
	return out
}

// Config lists settings; secrets are never in the config, only paths.
func (c controller) Config() [][2]string {
	cfg := c.d.cfg
	return [][2]string{
		{"listen", cfg.Listen},
		{"tls.min_version", cfg.TLS.MinVersion},
		{"tls.identity_from", cfg.TLS.IdentityFrom},
		{"tls.crl_file", cfg.TLS.CRLFile},
		{"backend.host", cfg.Backend.Host},
		{"backend.port", strconv.Itoa(cfg.Backend.Port)},
		{"backend.login_role", cfg.Backend.LoginRole},
		{"backend.tls_mode", cfg.Backend.TLSMode},
		{"role_mode", cfg.RoleMode},
		{"firewall.enabled", strconv.FormatBool(cfg.Firewall.On())},
		{"pool.mode", cfg.Pool.Mode},
		{"pool.size", strconv.Itoa(cfg.Pool.Size)},
		{"pool.session_state", cfg.Pool.SessionState},
		{"audit.dir", cfg.Audit.Dir},
		{"audit.mode", cfg.Audit.Mode},
		{"audit.fail_open", strconv.FormatBool(cfg.Audit.FailOpen)},
		{"identities", strconv.Itoa(len(cfg.Identities))},
	}
}

func (c controller) Security() [][]string { return c.d.SecurityReport().Rows() }

func (c controller) Pause(ctx context.Context, database string) error {
	return c.d.server.Pause(ctx, database)
}
func (c controller) Resume(database string) error { return c.d.server.Resume(database) }
func (c controller) Reload(context.Context) error { return c.d.Reload() }
func (c controller) Kill(identity string) (int, error) {
	n := c.d.server.Kill(identity)
	if c.d.audit != nil {
		c.d.audit.Append(context.Background(), &audit.Record{Kind: audit.KindKill, Identity: identity,
			Detail: map[string]string{"sessions": strconv.Itoa(n)}})
	}
	return n, nil
}

func (c controller) RotateCredentials(ctx context.Context) error { return c.d.RotateCredentials(ctx) }
func (c controller) Shutdown() error {
	c.d.stop()
	return nil
}

// SecurityReport evaluates the running configuration.
func (d *Daemon) SecurityReport() security.Report {
	cfg := d.cfg
	exp := d.tls.Expiry()
	f := security.Facts{Now: time.Now()}
	f.TLS.MinVersion = 0x0304
	if cfg.TLS.MinVersion == "1.2" {
		f.TLS.MinVersion = 0x0303
	}
	f.TLS.ClientCertsRequired = true
	f.TLS.CRLLoaded = cfg.TLS.CRLFile != ""
	f.TLS.CRLNextUpdate = exp.CRLNextUpdate
	f.TLS.ServerCertNotAfter = exp.ServerNotAfter
	f.Backend.Transport = security.TransportUnix
	if !cfg.Backend.IsUnixSocket() {
		f.Backend.Transport = security.TransportVerifyFull
		f.Backend.TLSMinVersion = 0x0303
	}
	f.Roles.Mode = cfg.RoleMode
	f.Roles.FirewallOn = cfg.Firewall.On()
	f.Audit.Enabled = cfg.Audit.Dir != ""
	f.Audit.Mode = cfg.Audit.Mode
	if f.Audit.Enabled && f.Audit.Mode == "" {
		f.Audit.Mode = "batch"
	}
	f.Audit.FailOpen = cfg.Audit.FailOpen
	f.Audit.CheckpointsSigned = f.Audit.Enabled
	f.Credentials.Source = "file"
	if cfg.Backend.PasswordEnv != "" {
		f.Credentials.Source = "env"
	}
	for _, kf := range []struct{ path, purpose string }{
		{cfg.TLS.KeyFile, "TLS server key"},
		{cfg.Backend.PasswordFile, "backend password"},
		{cfg.Audit.SigningKeyFile, "audit signing key"},
	} {
		if kf.path == "" {
			continue
		}
		if st, err := os.Stat(kf.path); err == nil {
			f.KeyFiles = append(f.KeyFiles, security.KeyFile{Path: kf.path, Mode: st.Mode() & fs.ModePerm, Purpose: kf.purpose})
		}
	}
	f.Listeners.AdminEnabled = len(cfg.Admin.Identities) > 0
	f.Listeners.AdminLoopback = true // the console is inside the client listener, behind mTLS
	return security.Evaluate(f)
}

// reportSecurity prints the report at start and applies the policy.
func (d *Daemon) reportSecurity(w interface{ Write([]byte) (int, error) }) error {
	minimum, err := security.ParseLevel(d.cfg.Security.MinimumLevel)
	if err != nil {
		return fmt.Errorf("security.minimum_level: %w", err)
	}
	mode, err := security.ParseFallbackMode(d.cfg.Security.FallbackMode)
	if err != nil {
		return fmt.Errorf("security.fallback_mode: %w", err)
	}
	r := d.SecurityReport().WithPolicy(minimum, mode)
	if mode != security.FallbackPermissive {
		security.Render(w, r)
	}
	return security.Enforce(r, minimum, mode)
}
