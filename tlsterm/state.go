package tlsterm

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// state is everything loaded from files. It is immutable once built and is
// replaced as a whole, so a handshake sees one consistent generation.
type state struct {
	// tlsConfig is what GetConfigForClient returns: a clone of the base
	// config with this generation's server certificate.
	tlsConfig *tls.Config
	// serverLeaf is the parsed first certificate of the server chain.
	serverLeaf *x509.Certificate
	// certStamp identifies the cert and key files that were loaded, to
	// notice replacement on disk.
	certStamp fileStamp
	// clientCAs is the pool client chains must verify to.
	clientCAs *x509.CertPool
	// caNotAfter is the earliest NotAfter in the client CA bundle.
	caNotAfter time.Time
	// crls maps an issuer's raw subject to its revocation list; nil when
	// no CRLFile is configured.
	crls map[string]*crl
}

// crl is one parsed, signature-checked revocation list.
type crl struct {
	nextUpdate time.Time
	// revoked holds serial numbers in decimal (sign included), for lookup.
	revoked map[string]struct{}
}

// fileStamp is what we compare to notice that a file was replaced.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func statPair(certFile, keyFile string) (fileStamp, error) {
	c, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, err
	}
	k, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// loadServerCert reads and checks the server certificate and key.
func loadServerCert(cfg *Config) (*tls.Certificate, fileStamp, error) {
	// Stat before reading: if the files change in between, the stamp is old
	// and the next check simply loads them again.
	stamp, err := statPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("server certificate: %w", err)
	}
	certPEM, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("server certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(cfg.KeyFile)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("server key: %w", err)
	}
	// tls.X509KeyPair errors describe PEM structure and key types, never
	// key bytes, so they are safe to wrap.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("server certificate %s / key %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	now := cfg.Now()
	if now.After(pair.Leaf.NotAfter) {
		return nil, fileStamp{}, fmt.Errorf("server certificate %s expired at %s", cfg.CertFile, pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair, stamp, nil
}

// loadClientCAs reads the client CA bundle; every block must be a CA
// certificate so a mistaken leaf or key in the bundle fails at start-up.
func loadClientCAs(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	var cas []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, fmt.Errorf("client CA bundle %s: trailing data that is not PEM", file)
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("client CA bundle %s: unexpected PEM block %q", file, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client CA bundle %s: %w", file, err)
		}
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("client CA bundle %s: %q is not a CA certificate", file, c.Subject)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, fmt.Errorf("client CA bundle %s: no certificates", file)
	}
	return cas, nil
}

// loadCRLs reads PEM or DER CRLs and checks each is signed by a CA in cas.
func loadCRLs(file string, cas []*x509.Certificate) (map[string]*crl, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CRL: %w", err)
	}
	var ders [][]byte
	if bytes.Contains(data, []byte("-----BEGIN")) {
		for rest := data; ; {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "X509 CRL" {
				return nil, fmt.Errorf("CRL %s: unexpected PEM block %q", file, block.Type)
			}
			ders = append(ders, block.Bytes)
		}
	} else if len(data) > 0 {
		ders = [][]byte{data}
	}
	if len(ders) == 0 {
		return nil, fmt.Errorf("CRL %s: no CRL found", file)
	}
	out := make(map[string]*crl, len(ders))
	for _, der := range ders {
		rl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %w", file, err)
		}
		issuer, err := crlIssuer(rl, cas)
		if err != nil {
			return nil, fmt.Errorf("CRL %s: %w", file, err)
		}
		if rl.NextUpdate.IsZero() {
			// Without NextUpdate we could never tell a stale list from a
			// fresh one; refuse rather than trust it forever.
			return nil, fmt.Errorf("CRL %s from %q has no NextUpdate", file, issuer.Subject)
		}
		key := string(issuer.RawSubject)
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("CRL %s: two CRLs from %q", file, issuer.Subject)
		}
		c := &crl{nextUpdate: rl.NextUpdate, revoked: make(map[string]struct{}, len(rl.RevokedCertificateEntries))}
		for _, e := range rl.RevokedCertificateEntries {
			c.revoked[e.SerialNumber.String()] = struct{}{}
		}
		out[key] = c
	}
	return out, nil
}

func crlIssuer(rl *x509.RevocationList, cas []*x509.Certificate) (*x509.Certificate, error) {
	for _, ca := range cas {
		if bytes.Equal(ca.RawSubject, rl.RawIssuer) && rl.CheckSignatureFrom(ca) == nil {
			return ca, nil
		}
	}
	return nil, errors.New("not signed by any CA in the client CA bundle")
}
