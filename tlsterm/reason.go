package tlsterm

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// Reason is a stable snake_case rejection code for logs and metrics.
type Reason string

// Rejection reasons. The string values are part of the package API.
const (
	ReasonNoCertificate Reason = "no_certificate"
	ReasonUnknownCA     Reason = "unknown_ca"
	ReasonExpired       Reason = "expired"
	ReasonNotYetValid   Reason = "not_yet_valid"
	ReasonRevoked       Reason = "revoked"
	ReasonCRLExpired    Reason = "crl_expired"
	ReasonNoIdentity    Reason = "no_identity"
	ReasonTLSVersion    Reason = "tls_version"
	ReasonNoALPN        Reason = "no_alpn"
	ReasonHandshake     Reason = "handshake"
	ReasonTimeout       Reason = "handshake_timeout"
	ReasonBadUsage      Reason = "bad_key_usage"
)

// Reasons lists every Reason, for pre-registering metric label values.
func Reasons() []Reason {
	return []Reason{
		ReasonNoCertificate, ReasonUnknownCA, ReasonExpired, ReasonNotYetValid,
		ReasonRevoked, ReasonCRLExpired, ReasonNoIdentity, ReasonTLSVersion,
		ReasonNoALPN, ReasonHandshake, ReasonTimeout, ReasonBadUsage,
	}
}

// RejectError reports why a client was refused.
//
// Error and ClientMessage return the same short text, which is safe to send
// to the client. The detail for logs is in Err (reachable with errors.Unwrap
// or errors.As); it never contains key material.
type RejectError struct {
	// Reason is the stable classification.
	Reason Reason
	// Fingerprint is "sha256:<hex>" of the client leaf certificate, or empty
	// when the client sent none or the handshake failed before that.
	Fingerprint string
	// Err is the underlying cause, for logs.
	Err error
}

func (e *RejectError) Error() string { return e.ClientMessage() }

// Unwrap returns the underlying cause.
func (e *RejectError) Unwrap() error { return e.Err }

// ClientMessage returns a short message for a PostgreSQL ErrorResponse.
func (e *RejectError) ClientMessage() string {
	switch e.Reason {
	case ReasonNoCertificate:
		return "a client certificate is required"
	case ReasonUnknownCA:
		return "client certificate was not issued by a trusted CA"
	case ReasonExpired:
		return "client certificate has expired"
	case ReasonNotYetValid:
		return "client certificate is not yet valid"
	case ReasonRevoked:
		return "client certificate is revoked"
	case ReasonCRLExpired:
		return "certificate revocation list is out of date; try again later"
	case ReasonNoIdentity:
		return "client certificate carries no usable identity"
	case ReasonTLSVersion:
		var v *versionError
		if errors.As(e.Err, &v) {
			return v.clientMessage()
		}
		return "the client's TLS version is not supported"
	case ReasonNoALPN:
		return `the client must negotiate the TLS ALPN protocol "postgresql"`
	case ReasonTimeout:
		return "TLS handshake timed out"
	case ReasonBadUsage:
		return "client certificate is not valid for client authentication"
	default:
		return "TLS handshake failed"
	}
}

// versionError says which TLS version was needed, so the client message can
// name it.
type versionError struct {
	min     uint16
	offered []uint16
}

func (e *versionError) Error() string {
	return fmt.Sprintf("client offered TLS versions %v; minimum is %s", versionNames(e.offered), tls.VersionName(e.min))
}

func (e *versionError) clientMessage() string {
	if e.min == tls.VersionTLS13 {
		return "TLS 1.3 is required"
	}
	return tls.VersionName(e.min) + " or newer is required"
}

func versionNames(vs []uint16) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = tls.VersionName(v)
	}
	return out
}

func reject(r Reason, fp string, err error) *RejectError {
	return &RejectError{Reason: r, Fingerprint: fp, Err: err}
}
