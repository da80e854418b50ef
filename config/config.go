package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole of pgshield's configuration.
type Config struct {
	// Listen is the TCP address clients connect to; "127.0.0.1:6432" when empty.
	Listen string `yaml:"listen"`
	// TLS configures the client-facing TLS termination.
	TLS TLS `yaml:"tls"`
	// Backend is the PostgreSQL server pgshield logs into.
	Backend Backend `yaml:"backend"`
	// Identities declares who may connect: every client certificate identity
	// must match exactly one entry. An empty list admits no one.
	Identities []Identity `yaml:"identities"`
	// RoleMode is how identities' roles are enforced: "set_local" (default:
	// one authenticator login, every transaction runs under SET LOCAL ROLE of
	// the mapped role) or "login" (a backend login per mapped role, no role
	// switching at all; role passwords in backend.role_password_dir).
	RoleMode string `yaml:"role_mode"`
	// Firewall decides which statements may reach the backend.
	Firewall Firewall `yaml:"firewall"`
	// Pool configures backend connection pooling.
	Pool Pool `yaml:"pool"`
	// Audit configures the tamper-evident audit log; off when audit.dir is
	// empty (the security report marks that down).
	Audit Audit `yaml:"audit"`
	// Client bounds what a client may send before and after start-up.
	Client Client `yaml:"client"`
	// ShutdownGrace is how long SIGTERM lets sessions finish before they are
	// closed with 57P01; 30s when zero.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Credentials keeps the backend login credentials in pgshield's
	// encrypted store and rotates them; off when credentials.store_file is
	// empty (backend.password_file or password_env is used instead).
	Credentials Credentials `yaml:"credentials"`
	// Metrics configures the operations HTTP listener (/metrics, /healthz,
	// /readyz).
	Metrics Metrics `yaml:"metrics"`
	// ProxyProtocol accepts PROXY protocol headers from trusted load
	// balancers; off when trusted_cidrs is empty.
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol"`
	// Limits protect the proxy itself.
	Limits Limits `yaml:"limits"`
	// Peering lets a CancelRequest that lands on another instance reach the
	// instance that issued its key.
	Peering Peering `yaml:"peering"`
	// ListenReusePort sets SO_REUSEPORT so a second instance can take over
	// the listen address for a rolling restart.
	ListenReusePort bool `yaml:"listen_reuse_port"`
	// Admin lists the identities that may open the admin console (the
	// virtual database "pgshield"). Empty: nobody.
	Admin Admin `yaml:"admin"`
	// Security sets the minimum security level and what happens below it.
	Security Security `yaml:"security"`
	// Log configures pgshield's own structured log.
	Log Log `yaml:"log"`

	// dir is the directory of the config file; relative paths resolve against it.
	dir string
}

// TLS configures client-facing TLS.
type TLS struct {
	// CertFile and KeyFile are the server certificate chain and key (PEM). Required.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile is the dedicated CA bundle client certificates must chain
	// to. Required; the system roots are never used.
	ClientCAFile string `yaml:"client_ca_file"`
	// CRLFile is an optional CRL, checked on every connection.
	CRLFile string `yaml:"crl_file"`
	// MinVersion is "1.3" (the default) or "1.2".
	MinVersion string `yaml:"min_version"`
	// IdentityFrom names where the identity comes from: "cn" (default,
	// Subject CommonName, exact and case-sensitive), "san_uri" or "san_email".
	IdentityFrom string `yaml:"identity_from"`
	// HandshakeTimeout bounds the TLS handshake; 10s when zero.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
}

// Backend is the PostgreSQL server behind pgshield.
type Backend struct {
	// Host is a unix socket directory (starting with /) or a host name or IP.
	Host string `yaml:"host"`
	// Port is the server's port (also the socket's name); 5432 when zero.
	Port int `yaml:"port"`
	// LoginRole is the role pgshield logs in as. Required.
	LoginRole string `yaml:"login_role"`
	// PasswordFile or PasswordEnv (exactly one) holds LoginRole's password.
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// TLSMode is "disable" (only allowed for a unix socket) or "verify-full"
	// (required over TCP). Empty means: disable for a socket, verify-full for TCP.
	TLSMode string `yaml:"tls_mode"`
	// TLSCAFile is the CA bundle that verifies the backend's certificate.
	TLSCAFile string `yaml:"tls_ca_file"`
	// TLSServerName overrides the name checked against the backend certificate.
	TLSServerName string `yaml:"tls_server_name"`
	// ConnectTimeout bounds a backend login; 5s when zero.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RolePasswordDir holds, in role_mode login, one file per mapped role
	// (named after the role, mode 0600) with that role's login password.
	RolePasswordDir string `yaml:"role_password_dir"`
}

// Identity is one entry of the identity map.
type Identity struct {
	// Name is the exact certificate identity, or a glob (`scrape-*`).
	Name string `yaml:"name"`
	// Role is the least-privilege database role the identity runs as.
	Role string `yaml:"role"`
	// Users are the startup user names the identity may give. Empty means
	// the identity's own name (as PostgreSQL's cert method); for a glob the
	// client's identity itself.
	Users []string `yaml:"users"`
	// Databases the identity may use. Empty admits none.
	Databases []string `yaml:"databases"`
	// ReadOnly runs the identity's transactions read-only.
	ReadOnly bool `yaml:"read_only"`
	// AllowedCIDRs are the client addresses (the real ones behind a PROXY
	// protocol load balancer) the identity may connect from; empty: any.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// MaxConnections caps the identity's connections; 0: limits default.
	MaxConnections int `yaml:"max_connections"`
}

// Metrics configures the operations HTTP listener.
type Metrics struct {
	// Listen is its address; empty: off. Keep it on loopback (the security
	// report marks anything else down) unless a scraper needs the pod IP.
	Listen string `yaml:"listen"`
	// Pprof serves /debug/pprof (loopback only).
	Pprof bool `yaml:"pprof"`
}

// ProxyProtocol configures PROXY protocol v1/v2 acceptance.
type ProxyProtocol struct {
	// TrustedCIDRs are the load balancers allowed to send a header; a header
	// from anyone else is refused. Empty: the PROXY protocol is off.
	TrustedCIDRs []string `yaml:"trusted_cidrs"`
	// Required refuses a trusted upstream's connection without a header.
	Required bool `yaml:"required"`
	// HeaderTimeout bounds reading the header; 5s when zero.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
}

// Limits protect pgshield from floods and brute force.
type Limits struct {
	// AuthFailures from one source address within AuthFailureWindow block
	// it for AuthBlock: further attempts are refused early and counted.
	// Defaults 10, 1m, 5m; AuthFailures -1 turns throttling off.
	AuthFailures      int           `yaml:"auth_failures"`
	AuthFailureWindow time.Duration `yaml:"auth_failure_window"`
	AuthBlock         time.Duration `yaml:"auth_block"`
	// MaxHandshakes caps concurrent TLS handshakes (a flood is refused, not
	// queued); 256 when zero, -1 unlimited.
	MaxHandshakes int `yaml:"max_handshakes"`
	// PerIdentityConnections caps each identity's connections; 100 when
	// zero, -1 unlimited. identities[].max_connections overrides it.
	PerIdentityConnections int `yaml:"per_identity_connections"`
}

// Peering names this instance and its peers for cancel forwarding.
type Peering struct {
	// Instance is this instance's number, 0..15; proxy-issued cancel keys
	// carry it.
	Instance int `yaml:"instance"`
	// Peers maps other instances' numbers to their client listen address.
	Peers map[int]string `yaml:"peers"`
}

// Credentials configures the encrypted credential store and rotation. The
// store holds the passwords of backend.login_role's two alternating logins,
// <login_role>_a and <login_role>_b (pgshield creds init creates them).
type Credentials struct {
	// StoreFile is the encrypted store. Empty: the store is off.
	StoreFile string `yaml:"store_file"`
	// IdentityKeyFile is the node's Ed25519 identity key the store key is
	// derived from; created 0600 on first use, refused when group or world
	// readable. Default: secrets/node.key beside the config.
	IdentityKeyFile string `yaml:"identity_key_file"`
	// Method is hybrid (default), x25519 or hkdf.
	Method string `yaml:"method"`
	// RotationInterval between scheduled rotations; 168h when zero.
	RotationInterval time.Duration `yaml:"rotation_interval"`
	// Rotate turns scheduled rotation on (needs an admin DSN).
	Rotate bool `yaml:"rotate"`
	// GracePeriod lets sessions on the old login drain; 5m when zero.
	GracePeriod time.Duration `yaml:"grace_period"`
	// TerminateAfterGrace ends old-login sessions still open after the
	// grace period (and max wait) instead of waiting for them.
	TerminateAfterGrace bool `yaml:"terminate_after_grace"`
	// PasswordHexChars is the length of generated passwords: 64 (256 bits)
	// by default, never below 32.
	PasswordHexChars int `yaml:"password_hex_chars"`
	// AdminDSNEnv or AdminDSNFile give the connection (a CREATEROLE role,
	// not the logins themselves) that changes the logins' passwords. Never a
	// flag or an inline value.
	AdminDSNEnv  string `yaml:"admin_dsn_env"`
	AdminDSNFile string `yaml:"admin_dsn_file"`
}

// Admin configures the admin console.
type Admin struct {
	// Identities may use the console (exact certificate identities).
	Identities []string `yaml:"identities"`
}

// Security configures the start-up security report.
type Security struct {
	// MinimumLevel is maximum, high, moderate (default) or reduced.
	MinimumLevel string `yaml:"minimum_level"`
	// FallbackMode decides what happens below the minimum: strict (refuse
	// to start), warn (default: start and warn) or permissive.
	FallbackMode string `yaml:"fallback_mode"`
}

// Audit configures the hash-chained audit log.
type Audit struct {
	// Dir holds the log's segments and checkpoints. Empty: no audit log.
	Dir string `yaml:"dir"`
	// SigningKeyFile is the Ed25519 note key (pgshield audit keygen) that
	// signs checkpoints; mode 0600. Required with dir.
	SigningKeyFile string `yaml:"signing_key_file"`
	// Mode is "batch" (default: written before the statement is forwarded,
	// so it survives a crash of pgshield, and fdatasync'ed within
	// sync_interval), "sync" (synced before forwarding; concurrent
	// sessions share one sync) or "async" (written within sync_interval).
	// In every mode a statement's outcome record is written with the next
	// record or within sync_interval.
	Mode string `yaml:"mode"`
	// SyncInterval is how often batch mode fdatasyncs the log (what a power
	// loss can take) and async mode writes it (what a crash can take);
	// 100ms when zero.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// FailOpen lets statements through when the log cannot be written. The
	// default refuses them (58030) until it can; the security report marks
	// fail_open down.
	FailOpen bool `yaml:"fail_open"`
	// Params is how bind parameter values are recorded: "hash" (default,
	// SHA-256 of each value), "none" or "full".
	Params string `yaml:"params"`
	// MaxStatementBytes caps the recorded statement text (its full SHA-256
	// is always recorded); 4096 when zero.
	MaxStatementBytes int `yaml:"max_statement_bytes"`
	// SegmentMaxBytes and SegmentMaxAge rotate segments; 64 MiB and 24h.
	SegmentMaxBytes int64         `yaml:"segment_max_bytes"`
	SegmentMaxAge   time.Duration `yaml:"segment_max_age"`
	// CheckpointEvery records or CheckpointInterval, whichever first, a
	// signed checkpoint is written; 1000 and 10s when zero.
	CheckpointEvery    uint64        `yaml:"checkpoint_every"`
	CheckpointInterval time.Duration `yaml:"checkpoint_interval"`
	// Origin names the log in its checkpoints; "pgshield" when empty.
	Origin string `yaml:"origin"`
	// DatabaseDSNEnv or DatabaseDSNFile also copy every record into a
	// PostgreSQL table (append-only by trigger), asynchronously: statements
	// never wait on it, and the file log stays the record of truth. Give it
	// a login that may only INSERT into the table.
	DatabaseDSNEnv  string `yaml:"database_dsn_env"`
	DatabaseDSNFile string `yaml:"database_dsn_file"`
	// DatabaseTable is the table; "pgshield_audit_log" when empty.
	DatabaseTable string `yaml:"database_table"`
}

// Pool configures backend connection pooling, with PgBouncer's meanings.
type Pool struct {
	PoolSettings `yaml:",inline"`
	// MaxClientConn caps client connections; 1000 when zero.
	MaxClientConn int `yaml:"max_client_conn"`
	// MaxDBConnections caps backend connections over all pools; zero: no cap
	// beyond each pool's size.
	MaxDBConnections int `yaml:"max_db_connections"`
	// SessionState is what transaction mode does when a client creates
	// session state that cannot move between connections (session SET,
	// LISTEN, temporary tables, session advisory locks, SQL PREPARE, WITH
	// HOLD cursors): "pin" (default: the client keeps its connection until it
	// leaves) or "refuse" (the statement fails with 0A000).
	SessionState string `yaml:"session_state"`
	// IdleTransactionTimeout ends a client idle inside a transaction
	// (25P03); zero: never.
	IdleTransactionTimeout time.Duration `yaml:"idle_transaction_timeout"`
	// ClientIdleTimeout ends a client idle outside a transaction (57P05);
	// zero: never.
	ClientIdleTimeout time.Duration `yaml:"client_idle_timeout"`
	// Databases override the pool settings per database.
	Databases map[string]PoolSettings `yaml:"databases"`
}

// PoolSettings are one pool's settings; zero values take the defaults.
type PoolSettings struct {
	// Mode is "transaction" (default) or "session".
	Mode string `yaml:"mode"`
	// Size is the most backend connections one pool opens; 20 when zero.
	Size int `yaml:"size"`
	// MinIdle connections are kept open; zero: none.
	MinIdle int `yaml:"min_idle"`
	// QueryWaitTimeout bounds a client's wait for a free connection; 120s.
	QueryWaitTimeout time.Duration `yaml:"query_wait_timeout"`
	// ServerLifetime closes a connection this old when it is released; 1h.
	ServerLifetime time.Duration `yaml:"server_lifetime"`
	// ServerIdleTimeout closes a connection idle this long; 10m.
	ServerIdleTimeout time.Duration `yaml:"server_idle_timeout"`
	// ServerConnectRetries more logins are tried after a failed one,
	// ServerConnectRetryDelay (200ms) apart; each is bounded by
	// backend.connect_timeout.
	ServerConnectRetries    int           `yaml:"server_connect_retries"`
	ServerConnectRetryDelay time.Duration `yaml:"server_connect_retry_delay"`
	// MaxPreparedStatements bounds the client statements cached per backend
	// connection; 256 when zero.
	MaxPreparedStatements int `yaml:"max_prepared_statements"`
}

// Firewall configures the statement firewall.
type Firewall struct {
	// Enabled turns the firewall on; nil means on. Turning it off in
	// set_local mode lets clients leave their role (RESET ROLE), so pgshield
	// logs a warning at start and the security report marks it down.
	Enabled *bool `yaml:"enabled"`
	// IdentitySetting is the custom setting that carries the certificate
	// identity in every transaction; "pgshield.identity" when empty.
	// Clients may neither set nor reset it.
	IdentitySetting string `yaml:"identity_setting"`
	// ExtraDeniedFunctions are further function names (lower case) whose
	// calls are refused, in any schema.
	ExtraDeniedFunctions []string `yaml:"extra_denied_functions"`
}

// On reports whether the firewall is enabled.
func (f Firewall) On() bool { return f.Enabled == nil || *f.Enabled }

// Client bounds client behaviour.
type Client struct {
	// StartupTimeout bounds everything from accept to the first
	// ReadyForQuery (TLS, startup packet, backend login); 15s when zero.
	StartupTimeout time.Duration `yaml:"startup_timeout"`
	// MaxMessageBytes caps one client message; 64 MiB when zero.
	MaxMessageBytes int `yaml:"max_message_bytes"`
	// AllowSearchPath lets clients set search_path at start-up.
	AllowSearchPath bool `yaml:"allow_search_path"`
}

// Log configures pgshield's own log.
type Log struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
}

// Load reads, decodes and validates the file at path. Unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg.dir = abs
	cfg.resolvePaths()
	return cfg, nil
}

// Parse decodes and validates YAML; relative paths stay relative.
func Parse(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty configuration")
		}
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Dir is the directory relative paths were resolved against ("" for Parse).
func (c *Config) Dir() string { return c.dir }

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:6432"
	}
	if c.TLS.MinVersion == "" {
		c.TLS.MinVersion = "1.3"
	}
	if c.TLS.IdentityFrom == "" {
		c.TLS.IdentityFrom = "cn"
	}
	if c.TLS.HandshakeTimeout == 0 {
		c.TLS.HandshakeTimeout = 10 * time.Second
	}
	if c.Backend.Port == 0 {
		c.Backend.Port = 5432
	}
	if c.Backend.TLSMode == "" {
		c.Backend.TLSMode = "verify-full"
		if c.Backend.IsUnixSocket() {
			c.Backend.TLSMode = "disable"
		}
	}
	if c.Backend.ConnectTimeout == 0 {
		c.Backend.ConnectTimeout = 5 * time.Second
	}
	if c.Client.StartupTimeout == 0 {
		c.Client.StartupTimeout = 15 * time.Second
	}
	if c.Client.MaxMessageBytes == 0 {
		c.Client.MaxMessageBytes = 64 << 20
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Credentials.StoreFile != "" && c.Credentials.IdentityKeyFile == "" {
		c.Credentials.IdentityKeyFile = filepath.Join("secrets", "node.key")
	}
	if c.Pool.Mode == "" {
		c.Pool.Mode = "transaction"
	}
	if c.Pool.MaxClientConn == 0 {
		c.Pool.MaxClientConn = 1000
	}
	if c.Pool.SessionState == "" {
		c.Pool.SessionState = "pin"
	}
	if c.RoleMode == "" {
		c.RoleMode = "set_local"
	}
	if c.Firewall.IdentitySetting == "" {
		c.Firewall.IdentitySetting = "pgshield.identity"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
}

// IsUnixSocket reports whether Host names a unix socket directory.
func (b Backend) IsUnixSocket() bool { return filepath.IsAbs(b.Host) }

func (c *Config) resolvePaths() {
	for _, p := range []*string{&c.TLS.CertFile, &c.TLS.KeyFile, &c.TLS.ClientCAFile, &c.TLS.CRLFile,
		&c.Backend.PasswordFile, &c.Backend.TLSCAFile, &c.Backend.RolePasswordDir, &c.Audit.Dir, &c.Audit.SigningKeyFile, &c.Audit.DatabaseDSNFile,
		&c.Credentials.StoreFile, &c.Credentials.IdentityKeyFile, &c.Credentials.AdminDSNFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.dir, *p)
		}
	}
}

// BackendPassword reads the login role's password from its file or variable.
// The error never contains the password.
func (c *Config) BackendPassword() (string, error) {
	return secret("backend.password", c.Backend.PasswordEnv, c.Backend.PasswordFile)
}

// RolePassword reads a mapped role's login password (role_mode login).
func (c *Config) RolePassword(role string) (string, error) {
	if strings.ContainsAny(role, "/\\\x00") || role == "" || role == "." || role == ".." {
		return "", fmt.Errorf("backend.role_password_dir: role name %q cannot name a file", role)
	}
	return secret("backend.role_password", "", filepath.Join(c.Backend.RolePasswordDir, role))
}

// AdminDSN reads the credential rotation admin DSN from its variable or file.
func (c *Config) AdminDSN() (string, error) {
	return secret("credentials.admin_dsn", c.Credentials.AdminDSNEnv, c.Credentials.AdminDSNFile)
}

// AuditDSN reads the audit table's DSN from its variable or file.
func (c *Config) AuditDSN() (string, error) {
	return secret("audit.database_dsn", c.Audit.DatabaseDSNEnv, c.Audit.DatabaseDSNFile)
}

// secret reads a secret from an environment variable or, when none is
// named, a file (trailing newline trimmed). Errors name the key (key_env or
// key_file) and never the value; an empty secret is an error.
func secret(key, env, file string) (string, error) {
	if env != "" {
		v := os.Getenv(env)
		if v == "" {
			return "", fmt.Errorf("%s_env: variable %s is not set", key, env)
		}
		return v, nil
	}
	if file == "" {
		return "", fmt.Errorf("%s: set %s_env or %s_file", key, key, key)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", key, err)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s_file: %s is empty", key, file)
	}
	return v, nil
}
