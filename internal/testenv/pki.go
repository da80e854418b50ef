package testenv

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// PKI is a CA with a server certificate and a CRL, writing client
// certificates on demand.
type PKI struct {
	Dir        string
	CA         *devcerts.CA
	CAFile     string
	ServerCert string
	ServerKey  string
	CRLFile    string

	mu      sync.Mutex
	revoked []*big.Int
}

// NewPKI creates a CA and server certificate (localhost, 127.0.0.1) in dir.
func NewPKI(dir string) (*PKI, error) {
	ca, err := devcerts.NewCA("pgshield test CA")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, CA: ca,
		CAFile:     filepath.Join(dir, "ca.crt"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		CRLFile:    filepath.Join(dir, "crl.pem"),
	}
	if err := os.WriteFile(p.CAFile, ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	cert, key, err := ca.IssueServer([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		return nil, err
	}
	if err := writePair(p.ServerCert, p.ServerKey, cert, key); err != nil {
		return nil, err
	}
	return p, p.writeCRL()
}

// Client writes a client certificate for opts under name and returns its
// certificate and key paths. The zero ClientOptions.CommonName is name.
func (p *PKI) Client(name string, opts devcerts.ClientOptions) (certFile, keyFile string, err error) {
	return p.clientFrom(p.CA, name, opts)
}

// ForeignClient writes a certificate for name issued by an unrelated CA.
func (p *PKI) ForeignClient(name string) (certFile, keyFile string, err error) {
	other, err := devcerts.NewCA("some other CA")
	if err != nil {
		return "", "", err
	}
	return p.clientFrom(other, name, devcerts.ClientOptions{})
}

// ExpiredClient writes a certificate for name that expired an hour ago.
func (p *PKI) ExpiredClient(name string) (string, string, error) {
	now := time.Now()
	return p.Client(name, devcerts.ClientOptions{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
}

// RevokedClient writes a certificate for name and revokes it in the CRL.
func (p *PKI) RevokedClient(name string) (string, string, error) {
	issued, err := p.CA.IssueClientCert(devcerts.ClientOptions{CommonName: name})
	if err != nil {
		return "", "", err
	}
	certFile, keyFile := p.paths(name)
	if err := writePair(certFile, keyFile, issued.CertPEM, issued.KeyPEM); err != nil {
		return "", "", err
	}
	p.mu.Lock()
	p.revoked = append(p.revoked, issued.Cert.SerialNumber)
	p.mu.Unlock()
	return certFile, keyFile, p.writeCRL()
}

func (p *PKI) clientFrom(ca *devcerts.CA, name string, opts devcerts.ClientOptions) (string, string, error) {
	if opts.CommonName == "" {
		opts.CommonName = name
	}
	cert, key, err := ca.IssueClient(opts)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile := p.paths(name)
	return certFile, keyFile, writePair(certFile, keyFile, cert, key)
}

func (p *PKI) paths(name string) (string, string) {
	return filepath.Join(p.Dir, "client-"+name+".crt"), filepath.Join(p.Dir, "client-"+name+".key")
}

func (p *PKI) writeCRL() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	crl, err := p.CA.CRL(p.revoked, time.Now().Add(24*time.Hour))
	if err != nil {
		return err
	}
	tmp := p.CRLFile + ".tmp"
	if err := os.WriteFile(tmp, crl, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p.CRLFile)
}

func writePair(certFile, keyFile string, cert, key []byte) error {
	if err := os.WriteFile(certFile, cert, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", certFile, err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", keyFile, err)
	}
	return nil
}
