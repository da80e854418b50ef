// Package security grades a pgshield deployment and prints the security
// report shown at start-up and by the admin console's SHOW SECURITY.
//
// The caller gathers Facts from the configuration and the running process
// (this package does not read either itself, so it is a pure function of its
// input and the report is testable with a fixed clock). Evaluate turns Facts
// into a Report: one Check per property, and a Level. Render prints the
// report for a person, Rows returns it as a result set, and Enforce applies
// the configured minimum level and fallback mode.
//
// # Levels
//
// There are four levels, from best to worst: maximum, high, moderate and
// reduced. Every failing check carries a ceiling, the highest level the
// deployment can reach while that check fails. The level is:
//
//  1. maximum, lowered to the lowest ceiling among the failing checks;
//  2. then, if three or more checks with ceiling high fail, at most
//     moderate: each minor gap is tolerable, several together are not.
//
// So maximum means every check passes: clients must use TLS 1.3 and present
// a certificate, a CRL is loaded and not past its nextUpdate, the server
// certificate is valid for 30 more days, the backend is a unix socket or TLS
// 1.3 with verify-full, roles are enforced with per-role logins or with
// SET LOCAL behind the statement firewall, the audit log is on, fails
// closed, is not async and signs its checkpoints, backend credentials come
// from the encrypted store and rotate at least every 30 days, no key file
// is readable by group or others, the metrics and admin listeners (if any)
// are on loopback, and PROXY protocol headers (if accepted) are trusted only
// from specific networks.
//
// The ceilings, by check:
//
//	high      TLS 1.2 allowed (tls_version, backend_tls_version); no CRL or a
//	          stale one (crl); server certificate expiring within 30 days or
//	          unknown (server_cert); statement firewall off (firewall); async
//	          audit (audit); unsigned audit checkpoints (audit_checkpoints);
//	          credentials from a plaintext file (credentials); rotation off
//	          or slower than every 30 days (credential_rotation); metrics
//	          listener off loopback (metrics_listener)
//	moderate  client certificates optional (client_certs); server
//	          certificate expired (server_cert); set_local without the
//	          firewall (role_mode); audit off, or an unknown audit mode
//	          (audit); audit failing open (audit_fail_closed); credentials
//	          from the environment or an unknown source or method
//	          (credentials); a key file readable or writable by its group
//	          (key_file); admin listener off loopback (admin_listener)
//	reduced   TLS older than 1.2 (tls_version, backend_tls_version); a
//	          plaintext or unknown backend transport (backend_transport); an
//	          unknown role mode (role_mode); a key file open to others
//	          (key_file); PROXY headers trusted from anywhere
//	          (proxy_protocol)
//
// Unknown or missing facts fail closed: an unrecognised transport or mode
// string, a zero server certificate expiry or a zero Facts.Now is reported
// as a failing check, never as a pass.
//
// # Fallback modes
//
// Enforce compares the level with a minimum. Below it, FallbackStrict
// refuses to start (Enforce returns an error wrapping ErrBelowMinimum),
// FallbackWarn starts and the report says so, FallbackPermissive starts and
// the report only notes it. Report.WithPolicy records the outcome so Render
// and Rows show it.
package security
