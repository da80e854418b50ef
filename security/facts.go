package security

import (
	"io/fs"
	"net/netip"
	"time"
)

// Facts is everything Evaluate looks at. The caller fills it from the
// validated configuration and from what was actually loaded at run time
// (the CRL's nextUpdate, the server certificate's expiry, file modes).
// Strings take the configuration's spelling; a value Evaluate does not
// know fails its check, so a new option is never silently graded as safe.
type Facts struct {
	// TLS describes the client-facing TLS listener.
	TLS TLSFacts
	// Backend describes the connection to PostgreSQL.
	Backend BackendFacts
	// Roles describes how an identity's role is enforced.
	Roles RoleFacts
	// Audit describes the audit log.
	Audit AuditFacts
	// Credentials describes pgshield's own backend login.
	Credentials CredentialFacts
	// KeyFiles lists the private key and secret files in use; each gets a
	// key_file check. Nil means there are none to check.
	KeyFiles []KeyFile
	// Listeners describes the metrics and admin listeners.
	Listeners ListenerFacts
	// ProxyProtocol describes PROXY protocol header acceptance.
	ProxyProtocol ProxyProtocolFacts
	// Now is the time the report is made, used for the CRL and certificate
	// checks. The zero time fails both (fail closed): pass the clock.
	Now time.Time
}

// TLSFacts describes the client-facing TLS listener.
type TLSFacts struct {
	// MinVersion is the listener's tls.Config.MinVersion, such as
	// tls.VersionTLS13. Zero means crypto/tls's server default, TLS 1.2.
	MinVersion uint16
	// ClientCertsRequired is true when every client must present a
	// certificate that chains to the client CA.
	ClientCertsRequired bool
	// CRLLoaded is true when a certificate revocation list is checked on
	// every connection.
	CRLLoaded bool
	// CRLNextUpdate is the loaded CRL's nextUpdate. Zero means the CRL has
	// none, and it is never considered stale.
	CRLNextUpdate time.Time
	// ServerCertNotAfter is the expiry of the certificate the listener
	// presents. Zero means unknown, which fails server_cert.
	ServerCertNotAfter time.Time
}

// BackendFacts describes the connection to PostgreSQL.
type BackendFacts struct {
	// Transport is "unix" (a unix socket), "tcp-verify-full" (TLS with the
	// server certificate and host name verified) or "tcp-insecure" (TCP
	// without verified TLS). Anything else, including "", counts as
	// insecure.
	Transport string
	// TLSMinVersion is the backend tls.Config.MinVersion; it matters only
	// for "tcp-verify-full". Zero means crypto/tls's client default, TLS
	// 1.2.
	TLSMinVersion uint16
}

// The Transport values.
const (
	TransportUnix       = "unix"
	TransportVerifyFull = "tcp-verify-full"
	TransportInsecure   = "tcp-insecure"
)

// RoleFacts describes how an identity's role is enforced.
type RoleFacts struct {
	// Mode is "login" (a backend login per role) or "set_local" (one
	// login, SET LOCAL ROLE per transaction). Anything else fails
	// role_mode.
	Mode string
	// FirewallOn is true when the statement firewall runs in front of the
	// backend; set_local relies on it to refuse SET ROLE and RESET ROLE.
	FirewallOn bool
}

// AuditFacts describes the audit log.
type AuditFacts struct {
	// Enabled is true when statements are audited. When false the other
	// fields are ignored.
	Enabled bool
	// Mode is the durability: "sync", "batch" or "async"; "" means batch,
	// the audit package's default.
	Mode string
	// FailOpen is true when statements still run while the audit log
	// cannot be written.
	FailOpen bool
	// CheckpointsSigned is true when the hash chain's checkpoints are
	// signed, so a rewritten log is detectable without trusting the host.
	CheckpointsSigned bool
}

// CredentialFacts describes pgshield's own backend login password.
type CredentialFacts struct {
	// Source is "store" (the encrypted credential store), "file" (a
	// plaintext password file) or "env" (an environment variable).
	Source string
	// Method is the store's encryption: "hybrid", "x25519" or "hkdf"; ""
	// means hybrid, the store's default. It matters only for "store".
	Method string
	// RotationOn is true when the password is rotated on a schedule.
	RotationOn bool
	// RotationInterval is the schedule's period; zero means the rotation
	// scheduler's default, 168h.
	RotationInterval time.Duration
}

// KeyFile is a file holding a private key or secret.
type KeyFile struct {
	// Path is the file's path, shown in the report.
	Path string
	// Mode is the file's permission bits, from os.Stat.
	Mode fs.FileMode
	// Purpose says what the key is for, such as "TLS server key"; it is
	// shown in the report and may be empty.
	Purpose string
}

// ListenerFacts describes the optional metrics and admin listeners.
type ListenerFacts struct {
	// MetricsEnabled is true when the metrics endpoint listens at all.
	MetricsEnabled bool
	// MetricsLoopback is true when it listens on loopback addresses only.
	MetricsLoopback bool
	// AdminEnabled is true when the admin console listens at all.
	AdminEnabled bool
	// AdminLoopback is true when it listens on loopback addresses only.
	AdminLoopback bool
}

// ProxyProtocolFacts describes PROXY protocol header acceptance.
type ProxyProtocolFacts struct {
	// Enabled is true when PROXY protocol headers are accepted.
	Enabled bool
	// Trusted are the networks whose headers are believed. Empty means no
	// peer is trusted and every header is refused.
	Trusted []netip.Prefix
}
