package metrics

// Label values for unmatched inputs. They are reserved: a configured
// identity named "unknown" or a firewall rule named "other" is rejected by
// New, so a real series is never merged with the catch-all.
const (
	// UnknownIdentity labels connections whose identity is not yet known
	// (still in the TLS handshake) or matched no configured entry.
	UnknownIdentity = "unknown"
	// Other labels a reason, rule, kind or outcome outside the fixed list.
	Other = "other"
)

// TLSFailureReasons lists the reason label values of
// pgshield_tls_handshake_failures_total, matching tlsterm.Reasons.
func TLSFailureReasons() []string {
	return []string{
		"no_certificate", "unknown_ca", "expired", "not_yet_valid",
		"revoked", "crl_expired", "no_identity", "tls_version",
		"no_alpn", "handshake", "handshake_timeout", "bad_key_usage",
	}
}

// AuthFailureReasons lists the reason label values of
// pgshield_auth_failures_total: auth.Reason values plus the proxy's own
// startup refusals.
func AuthFailureReasons() []string {
	return []string{
		"unknown_identity", "user_not_allowed", "database_not_allowed",
		"parameter_not_allowed", "bad_parameter", "no_user",
		"plaintext_startup", "startup_packet_invalid", "address_not_allowed",
		"throttled", "too_many_connections",
	}
}

// AuditKinds lists the kind label values of pgshield_audit_records_total,
// matching the audit package's record kinds.
func AuditKinds() []string {
	return []string{
		"statement", "outcome", "denied", "connect", "auth_failure",
		"disconnect", "restart", "reload", "kill", "credential_rotation",
		"admin", "segment_start",
	}
}

// BackendConnectReasons lists the reason label values of
// pgshield_backend_connect_errors_total.
func BackendConnectReasons() []string {
	return []string{"dial", "timeout", "tls", "auth", "protocol"}
}

// State is where a client connection is in its life; it is the state label
// of pgshield_client_connections.
type State uint8

// Connection states, in the order a connection usually passes through them.
const (
	// StateHandshake: TLS handshake in progress; identity unknown.
	StateHandshake State = iota
	// StateStartup: TLS done, startup packet and authorisation in progress.
	StateStartup
	// StateActive: inside a transaction or running a statement.
	StateActive
	// StateIdle: authenticated, between transactions.
	StateIdle
	// StateWaiting: waiting for a backend connection from the pool.
	StateWaiting
	numStates
)

// String returns the label value, or "invalid" for an unknown State.
func (s State) String() string {
	switch s {
	case StateHandshake:
		return "handshake"
	case StateStartup:
		return "startup"
	case StateActive:
		return "active"
	case StateIdle:
		return "idle"
	case StateWaiting:
		return "waiting"
	}
	return "invalid"
}

// reasonSet maps a fixed list of label values, plus Other, to their
// pre-resolved children. It is built once in New and only read afterwards.
type reasonSet[T any] struct {
	// byName holds every listed value; it is never written after New.
	byName map[string]T
	// other receives values missing from byName.
	other T
}

func (r reasonSet[T]) get(name string) T {
	if c, ok := r.byName[name]; ok {
		return c
	}
	return r.other
}

func newReasonSet[T any](names []string, child func(string) T) reasonSet[T] {
	r := reasonSet[T]{byName: make(map[string]T, len(names)), other: child(Other)}
	for _, n := range names {
		r.byName[n] = child(n)
	}
	return r
}
