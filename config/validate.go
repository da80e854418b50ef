package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
)

// FieldError names the key that is wrong and why.
type FieldError struct {
	Key    string
	Reason string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Reason }

func fieldErr(key, format string, args ...any) error {
	return &FieldError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Validate checks every field and the rules that span fields. It returns all
// problems found, joined, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add(fieldErr("listen", "%q is not host:port", c.Listen))
	}
	add(c.TLS.validate())
	add(c.Backend.validate())
	add(validateIdentities(c.Identities, c.RoleMode))
	add(c.Pool.validate())
	add(c.Audit.validate())
	add(c.validateCredentials())
	add(c.validateEdge())
	switch c.Security.MinimumLevel {
	case "", "maximum", "high", "moderate", "reduced":
	default:
		add(fieldErr("security.minimum_level", "%q is not maximum, high, moderate or reduced", c.Security.MinimumLevel))
	}
	switch c.Security.FallbackMode {
	case "", "strict", "warn", "permissive":
	default:
		add(fieldErr("security.fallback_mode", "%q is not strict, warn or permissive", c.Security.FallbackMode))
	}
	switch c.RoleMode {
	case "set_local":
	case "login":
		if c.Backend.RolePasswordDir == "" && c.Credentials.StoreFile == "" {
			add(fieldErr("backend.role_password_dir", "required with role_mode login (or credentials.store_file)"))
		}
	default:
		add(fieldErr("role_mode", "%q is not set_local or login", c.RoleMode))
	}
	if !validSettingName(c.Firewall.IdentitySetting) {
		add(fieldErr("firewall.identity_setting", "%q is not a custom setting name such as pgshield.identity", c.Firewall.IdentitySetting))
	}
	if c.Client.StartupTimeout < 0 {
		add(fieldErr("client.startup_timeout", "must be positive"))
	}
	if c.Client.MaxMessageBytes < 1024 || c.Client.MaxMessageBytes > 1<<30 {
		add(fieldErr("client.max_message_bytes", "%d is outside 1024..1073741824", c.Client.MaxMessageBytes))
	}
	if c.ShutdownGrace < 0 {
		add(fieldErr("shutdown_grace", "must be positive"))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add(fieldErr("log.format", "%q is not text or json", c.Log.Format))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fieldErr("log.level", "%q is not debug, info, warn or error", c.Log.Level))
	}
	return errors.Join(errs...)
}

func (t TLS) validate() error {
	var errs []error
	if t.CertFile == "" {
		errs = append(errs, fieldErr("tls.cert_file", "required"))
	}
	if t.KeyFile == "" {
		errs = append(errs, fieldErr("tls.key_file", "required"))
	}
	if t.ClientCAFile == "" {
		errs = append(errs, fieldErr("tls.client_ca_file", "required: client certificates are verified against a dedicated CA, never the system roots"))
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		errs = append(errs, fieldErr("tls.min_version", "%q is not 1.2 or 1.3 (nothing below 1.2 is allowed)", t.MinVersion))
	}
	switch t.IdentityFrom {
	case "cn", "san_uri", "san_email":
	default:
		errs = append(errs, fieldErr("tls.identity_from", "%q is not cn, san_uri or san_email", t.IdentityFrom))
	}
	if t.HandshakeTimeout < 0 {
		errs = append(errs, fieldErr("tls.handshake_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

func (b Backend) validate() error {
	var errs []error
	if b.Host == "" {
		errs = append(errs, fieldErr("backend.host", "required (a unix socket directory or a host)"))
	}
	if b.Port < 1 || b.Port > 65535 {
		errs = append(errs, fieldErr("backend.port", "%d is not a port", b.Port))
	}
	if b.LoginRole == "" {
		errs = append(errs, fieldErr("backend.login_role", "required"))
	}
	if b.PasswordFile != "" && b.PasswordEnv != "" {
		errs = append(errs, fieldErr("backend.password_file", "set only one of backend.password_file and backend.password_env"))
	}
	switch b.TLSMode {
	case "disable":
		if !b.IsUnixSocket() {
			errs = append(errs, fieldErr("backend.tls_mode", "disable is only allowed for a unix socket; use verify-full over TCP"))
		}
	case "verify-full":
		if b.IsUnixSocket() {
			errs = append(errs, fieldErr("backend.tls_mode", "verify-full needs a TCP host, not a unix socket"))
		}
		if b.TLSCAFile == "" && !b.IsUnixSocket() {
			errs = append(errs, fieldErr("backend.tls_ca_file", "required with tls_mode verify-full"))
		}
	default:
		errs = append(errs, fieldErr("backend.tls_mode", "%q is not disable or verify-full", b.TLSMode))
	}
	if b.ConnectTimeout < 0 {
		errs = append(errs, fieldErr("backend.connect_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

// validSettingName accepts prefix.name custom settings of plain identifier parts.
func validSettingName(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 63 {
			return false
		}
		for i, r := range p {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

func validateIdentities(ids []Identity, roleMode string) error {
	var errs []error
	seen := map[string]int{}
	for i, id := range ids {
		key := fmt.Sprintf("identities[%d]", i)
		if id.Name == "" {
			errs = append(errs, fieldErr(key+".name", "required"))
			continue
		}
		if _, err := path.Match(id.Name, ""); err != nil {
			errs = append(errs, fieldErr(key+".name", "bad glob %q: %v", id.Name, err))
		}
		if strings.ContainsAny(id.Name, "\x00\n") {
			errs = append(errs, fieldErr(key+".name", "contains a control character"))
		}
		if j, dup := seen[id.Name]; dup {
			errs = append(errs, fieldErr(key+".name", "%q is declared twice (also identities[%d])", id.Name, j))
		}
		seen[id.Name] = i
		if id.Role == "" {
			errs = append(errs, fieldErr(key+".role", "required: the least-privilege role the identity runs as"))
		} else if strings.ContainsAny(id.Role, "\x00\n") {
			errs = append(errs, fieldErr(key+".role", "contains a control character"))
		}
		if len(id.Databases) == 0 {
			errs = append(errs, fieldErr(key+".databases", "empty: the identity could use no database"))
		}
	}
	return errors.Join(errs...)
}

func (p Pool) validate() error {
	var errs []error
	check := func(key string, s PoolSettings) {
		switch s.Mode {
		case "", "transaction", "session":
		default:
			errs = append(errs, fieldErr(key+".mode", "%q is not transaction or session", s.Mode))
		}
		if s.Size < 0 || s.MinIdle < 0 || s.MinIdle > max(s.Size, 20) {
			errs = append(errs, fieldErr(key+".size", "size %d / min_idle %d are not a valid pool", s.Size, s.MinIdle))
		}
		if s.QueryWaitTimeout < 0 || s.ServerLifetime < 0 || s.ServerIdleTimeout < 0 || s.ServerConnectRetryDelay < 0 {
			errs = append(errs, fieldErr(key, "timeouts must be positive"))
		}
		if s.ServerConnectRetries < 0 || s.MaxPreparedStatements < 0 {
			errs = append(errs, fieldErr(key, "counts must be positive"))
		}
	}
	check("pool", p.PoolSettings)
	for db, s := range p.Databases {
		check("pool.databases."+db, s)
	}
	if p.MaxClientConn < 1 {
		errs = append(errs, fieldErr("pool.max_client_conn", "must be at least 1"))
	}
	if p.MaxDBConnections < 0 {
		errs = append(errs, fieldErr("pool.max_db_connections", "must be positive"))
	}
	switch p.SessionState {
	case "pin", "refuse":
	default:
		errs = append(errs, fieldErr("pool.session_state", "%q is not pin or refuse", p.SessionState))
	}
	if p.IdleTransactionTimeout < 0 || p.ClientIdleTimeout < 0 {
		errs = append(errs, fieldErr("pool", "idle timeouts must be positive"))
	}
	return errors.Join(errs...)
}

func (a Audit) validate() error {
	if a.Dir == "" {
		return nil
	}
	var errs []error
	if a.SigningKeyFile == "" {
		errs = append(errs, fieldErr("audit.signing_key_file", "required with audit.dir (create one with pgshield audit keygen)"))
	}
	switch a.Mode {
	case "", "batch", "sync", "async":
	default:
		errs = append(errs, fieldErr("audit.mode", "%q is not batch, sync or async", a.Mode))
	}
	switch a.Params {
	case "", "hash", "none", "full":
	default:
		errs = append(errs, fieldErr("audit.params", "%q is not hash, none or full", a.Params))
	}
	if a.MaxStatementBytes < 0 || a.SegmentMaxBytes < 0 || a.SegmentMaxAge < 0 || a.CheckpointInterval < 0 {
		errs = append(errs, fieldErr("audit", "sizes and durations must be positive"))
	}
	if a.SyncInterval < 0 {
		errs = append(errs, fieldErr("audit.sync_interval", "%s is negative", a.SyncInterval))
	}
	return errors.Join(errs...)
}

func (c *Config) validateCredentials() error {
	cr := c.Credentials
	hasPassword := c.Backend.PasswordFile != "" || c.Backend.PasswordEnv != ""
	if cr.StoreFile == "" {
		if !hasPassword && c.RoleMode == "set_local" {
			return fieldErr("backend.password_file", "set backend.password_file, backend.password_env or credentials.store_file (secrets are never inline)")
		}
		return nil
	}
	var errs []error
	if hasPassword {
		errs = append(errs, fieldErr("credentials.store_file", "the credential store replaces backend.password_file/password_env: set one or the other"))
	}
	switch cr.Method {
	case "", "hybrid", "x25519", "hkdf":
	default:
		errs = append(errs, fieldErr("credentials.method", "%q is not hybrid, x25519 or hkdf", cr.Method))
	}
	if cr.PasswordHexChars != 0 && cr.PasswordHexChars < 32 {
		errs = append(errs, fieldErr("credentials.password_hex_chars", "%d is below 32", cr.PasswordHexChars))
	}
	if cr.Rotate && cr.AdminDSNEnv == "" && cr.AdminDSNFile == "" {
		errs = append(errs, fieldErr("credentials.admin_dsn_env", "rotation needs admin_dsn_env or admin_dsn_file"))
	}
	if cr.RotationInterval < 0 || cr.GracePeriod < 0 {
		errs = append(errs, fieldErr("credentials", "durations must be positive"))
	}
	return errors.Join(errs...)
}

func (c *Config) validateEdge() error {
	var errs []error
	for i, cidr := range c.ProxyProtocol.TrustedCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			if _, err2 := netip.ParseAddr(cidr); err2 != nil {
				errs = append(errs, fieldErr(fmt.Sprintf("proxy_protocol.trusted_cidrs[%d]", i), "%q is not a CIDR or an address", cidr))
			}
		}
	}
	for i, id := range c.Identities {
		for j, cidr := range id.AllowedCIDRs {
			if _, err := netip.ParsePrefix(cidr); err != nil {
				if _, err2 := netip.ParseAddr(cidr); err2 != nil {
					errs = append(errs, fieldErr(fmt.Sprintf("identities[%d].allowed_cidrs[%d]", i, j), "%q is not a CIDR or an address", cidr))
				}
			}
		}
		if id.MaxConnections < 0 {
			errs = append(errs, fieldErr(fmt.Sprintf("identities[%d].max_connections", i), "must be positive"))
		}
	}
	if c.Peering.Instance < 0 || c.Peering.Instance > 15 {
		errs = append(errs, fieldErr("peering.instance", "%d is outside 0..15", c.Peering.Instance))
	}
	for n, addr := range c.Peering.Peers {
		if n < 0 || n > 15 || n == c.Peering.Instance {
			errs = append(errs, fieldErr("peering.peers", "peer number %d is outside 0..15 or this instance's own", n))
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fieldErr("peering.peers", "%q is not host:port", addr))
		}
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			errs = append(errs, fieldErr("metrics.listen", "%q is not host:port", c.Metrics.Listen))
		}
	}
	return errors.Join(errs...)
}
