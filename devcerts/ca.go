package devcerts

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// Default validity periods. The CA outlives everything it issues so a dev
// setup keeps working after leaf certificates are re-issued.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour

	// backdate is subtracted from "now" for NotBefore so that small clock
	// differences between machines do not make a fresh certificate invalid.
	backdate = 5 * time.Minute
)

// CA is a certificate authority whose key is held in memory.
// It is safe for concurrent use: all methods only read its fields.
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA private key; it signs every certificate and CRL.
	Key crypto.Signer

	// now is the clock used for NotBefore/ThisUpdate; never nil.
	now func() time.Time
}

// Option adjusts how a certificate is created.
type Option func(*options)

type options struct {
	now      func() time.Time
	validity time.Duration
}

// WithNow sets the clock used for validity periods (default time.Now).
// On NewCA and LoadCA it also becomes the default clock of the CA.
func WithNow(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithValidity sets how long a certificate is valid from now (defaults:
// DefaultCAValidity for CAs, DefaultLeafValidity for leaves).
func WithValidity(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.validity = d
		}
	}
}

func buildOptions(now func() time.Time, validity time.Duration, opts []Option) options {
	o := options{now: now, validity: validity}
	if o.now == nil {
		o.now = time.Now
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// NewCA creates a self-signed root CA with a fresh ECDSA P-256 key.
func NewCA(commonName string, opts ...Option) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("devcerts: CA common name is empty")
	}
	o := buildOptions(nil, DefaultCAValidity, opts)
	return newCA(commonName, o, nil)
}

// IssueIntermediate creates an intermediate CA signed by ca.
func (ca *CA) IssueIntermediate(commonName string, opts ...Option) (*CA, error) {
	if commonName == "" {
		return nil, errors.New("devcerts: intermediate common name is empty")
	}
	o := buildOptions(ca.now, DefaultCAValidity, opts)
	return newCA(commonName, o, ca)
}

func newCA(commonName string, o options, parent *CA) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcerts: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := o.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(o.validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// SubjectKeyId is filled in by x509.CreateCertificate for CAs.
	}
	signerCert, signerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("devcerts: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcerts: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, now: o.now}, nil
}

// IssueServer issues a server certificate (serverAuth EKU) for hosts, each
// either a DNS name or an IP address. The first host is also the CommonName.
func (ca *CA) IssueServer(hosts []string, opts ...Option) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("devcerts: server certificate needs at least one host")
	}
	o := buildOptions(ca.now, DefaultLeafValidity, opts)
	now := o.now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		NotBefore:   now.Add(-backdate),
		NotAfter:    now.Add(o.validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	issued, err := ca.issue(tmpl)
	if err != nil {
		return nil, nil, err
	}
	return issued.CertPEM, issued.KeyPEM, nil
}

// ClientOptions describes a client certificate. Zero values are defaults.
type ClientOptions struct {
	// CommonName is the Subject CN. It may be empty when URIs or Emails
	// carry the identity.
	CommonName string
	// URIs become URI SANs; each must parse as an absolute URL.
	URIs []string
	// Emails become email (rfc822Name) SANs.
	Emails []string
	// NotBefore defaults to now minus a few minutes.
	NotBefore time.Time
	// NotAfter defaults to NotBefore plus DefaultLeafValidity. Tests set
	// both to make expired or not-yet-valid certificates.
	NotAfter time.Time
	// ExtKeyUsage defaults (when nil) to clientAuth only. A non-nil empty
	// slice leaves the extension out, for tests of bad key usage.
	ExtKeyUsage []x509.ExtKeyUsage
}

// Issued is a freshly issued leaf certificate with its key.
type Issued struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte // PKCS#8 "PRIVATE KEY"; secret.
}

// IssueClient issues a client certificate and returns it PEM encoded.
func (ca *CA) IssueClient(opts ClientOptions) (certPEM, keyPEM []byte, err error) {
	issued, err := ca.IssueClientCert(opts)
	if err != nil {
		return nil, nil, err
	}
	return issued.CertPEM, issued.KeyPEM, nil
}

// IssueClientCert is IssueClient that also returns the parsed certificate,
// whose SerialNumber a test can pass to CRL.
func (ca *CA) IssueClientCert(opts ClientOptions) (*Issued, error) {
	if opts.CommonName == "" && len(opts.URIs) == 0 && len(opts.Emails) == 0 {
		return nil, errors.New("devcerts: client certificate needs a common name, URI or email")
	}
	notBefore := opts.NotBefore
	if notBefore.IsZero() {
		notBefore = ca.now().Add(-backdate)
	}
	notAfter := opts.NotAfter
	if notAfter.IsZero() {
		notAfter = notBefore.Add(DefaultLeafValidity)
	}
	if !notAfter.After(notBefore) {
		return nil, errors.New("devcerts: client certificate NotAfter is not after NotBefore")
	}
	eku := opts.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		Subject:        pkix.Name{CommonName: opts.CommonName},
		NotBefore:      notBefore,
		NotAfter:       notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    eku,
		EmailAddresses: opts.Emails,
	}
	for _, s := range opts.URIs {
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() {
			return nil, fmt.Errorf("devcerts: client URI %q is not an absolute URL", s)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	return ca.issue(tmpl)
}

// issue fills in serial and key, signs tmpl with the CA and encodes it.
func (ca *CA) issue(tmpl *x509.Certificate) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcerts: generate key: %w", err)
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devcerts: create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcerts: parse certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Issued{Cert: cert, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// CRL returns a PEM "X509 CRL" signed by the CA that revokes the given
// serial numbers. ThisUpdate is the CA clock's now.
func (ca *CA) CRL(revoked []*big.Int, nextUpdate time.Time) ([]byte, error) {
	now := ca.now()
	number, err := newSerial()
	if err != nil {
		return nil, err
	}
	entries := make([]x509.RevocationListEntry, 0, len(revoked))
	for _, s := range revoked {
		if s == nil {
			return nil, errors.New("devcerts: nil serial number in revocation list")
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: now})
	}
	tmpl := &x509.RevocationList{
		Number:                    number,
		ThisUpdate:                now.Add(-backdate),
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devcerts: create CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// CertPEM returns the CA certificate PEM encoded.
func (ca *CA) CertPEM() []byte { return encodeCert(ca.Cert.Raw) }

// KeyPEM returns the CA private key as PKCS#8 PEM. The result is secret.
func (ca *CA) KeyPEM() ([]byte, error) { return encodeKey(ca.Key) }

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		// The error from MarshalPKCS8PrivateKey names only the key type.
		return nil, fmt.Errorf("devcerts: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial returns a random positive 128-bit serial number, as RFC 5280
// asks for unpredictable serials.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("devcerts: random serial: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}
