package tlsterm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Identity sources for Config.IdentityFrom.
const (
	IdentityCN       = "cn"        // Subject CommonName, exact and case-sensitive.
	IdentitySANURI   = "san_uri"   // The single URI SAN, e.g. spiffe://org/ns/app.
	IdentitySANEmail = "san_email" // The single email (rfc822Name) SAN.
)

// DefaultHandshakeTimeout bounds a handshake when Config.HandshakeTimeout is zero.
const DefaultHandshakeTimeout = 10 * time.Second

// Config configures a Terminator. Every file path is read at New and again
// at Reload; New validates the whole config once.
type Config struct {
	// CertFile and KeyFile are the server certificate chain and private key
	// (PEM). Required. A change of either file on disk is noticed (at most
	// once per second) and served from the next handshake on.
	CertFile, KeyFile string
	// ClientCAFile is the dedicated client CA bundle (PEM). Required; the
	// system roots are never used to authenticate clients.
	ClientCAFile string
	// CRLFile optionally holds one or more CRLs (PEM "X509 CRL" blocks or a
	// single DER CRL), each signed by a CA in ClientCAFile and carrying a
	// NextUpdate. Every certificate of a client chain whose issuer has a CRL
	// here is checked; an issuer without one is not revocation-checked.
	// Empty means no revocation checking.
	CRLFile string
	// MinVersion is the lowest TLS version accepted: tls.VersionTLS13 when
	// zero, tls.VersionTLS12 allowed; anything else is a config error.
	MinVersion uint16
	// IdentityFrom selects where Peer.Identity comes from: IdentityCN
	// (default when empty), IdentitySANURI or IdentitySANEmail.
	IdentityFrom string
	// HandshakeTimeout bounds each handshake (DefaultHandshakeTimeout when
	// zero); the context passed to Handshake can shorten it.
	HandshakeTimeout time.Duration
	// Now is the clock for certificate and CRL validity and for the
	// once-per-second file check; time.Now when nil. Socket deadlines always
	// use the real clock because the kernel does.
	Now func() time.Time
	// Logger receives reload events and failures; nothing is logged when nil.
	Logger *slog.Logger
}

// withDefaults validates c and returns a copy with zero values filled in.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("CertFile and KeyFile are required"))
	}
	if c.ClientCAFile == "" {
		errs = append(errs, errors.New("ClientCAFile is required"))
	}
	switch c.MinVersion {
	case 0:
		c.MinVersion = tls.VersionTLS13
	case tls.VersionTLS12, tls.VersionTLS13:
	default:
		errs = append(errs, fmt.Errorf("MinVersion %#04x not allowed: use TLS 1.2 or TLS 1.3", c.MinVersion))
	}
	switch c.IdentityFrom {
	case "":
		c.IdentityFrom = IdentityCN
	case IdentityCN, IdentitySANURI, IdentitySANEmail:
	default:
		errs = append(errs, fmt.Errorf("IdentityFrom %q unknown: use %q, %q or %q",
			c.IdentityFrom, IdentityCN, IdentitySANURI, IdentitySANEmail))
	}
	switch {
	case c.HandshakeTimeout < 0:
		errs = append(errs, errors.New("HandshakeTimeout is negative"))
	case c.HandshakeTimeout == 0:
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("tlsterm: invalid config: %w", err)
	}
	return c, nil
}
