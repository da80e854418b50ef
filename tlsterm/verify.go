package tlsterm

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Peer is a client whose certificate was verified.
type Peer struct {
	// Identity comes from the verified leaf per Config.IdentityFrom, exactly
	// as written in the certificate (no case folding).
	Identity string
	// Fingerprint is "sha256:" + lowercase hex of the leaf DER.
	Fingerprint string
	// Subject is the leaf Subject in RFC 2253 form, for logs.
	Subject     string
	NotAfter    time.Time
	TLSVersion  uint16
	CipherSuite uint16
	ALPN        string
	Resumed     bool
}

// Fingerprint returns "sha256:" + lowercase hex of a certificate's DER.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// verifyPeer authenticates the client from the connection state: chain to
// the client CA pool at Now with clientAuth, revocation of every chain
// certificate, CRL freshness, then the identity. It runs for resumed
// sessions too, whose certificates come from the session ticket.
func (t *Terminator) verifyPeer(st *state, cs *tls.ConnectionState) (Peer, *RejectError) {
	if len(cs.PeerCertificates) == 0 {
		return Peer{}, reject(ReasonNoCertificate, "", errors.New("client sent no certificate"))
	}
	leaf := cs.PeerCertificates[0]
	fp := Fingerprint(leaf)
	now := t.cfg.Now()

	// Check the leaf dates first so the reason is precise; x509 reports
	// both cases as one "expired" error.
	switch {
	case now.Before(leaf.NotBefore):
		return Peer{}, reject(ReasonNotYetValid, fp, fmt.Errorf("leaf %q valid from %s", leaf.Subject, leaf.NotBefore.UTC().Format(time.RFC3339)))
	case now.After(leaf.NotAfter):
		return Peer{}, reject(ReasonExpired, fp, fmt.Errorf("leaf %q expired at %s", leaf.Subject, leaf.NotAfter.UTC().Format(time.RFC3339)))
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         st.clientCAs,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return Peer{}, reject(classifyVerifyError(err, now), fp, err)
	}
	// x509 treats a leaf without any EKU as good for every purpose; we
	// require clientAuth explicitly (after the chain, so an untrusted
	// certificate is reported as such).
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return Peer{}, reject(ReasonBadUsage, fp, fmt.Errorf("leaf %q lacks the clientAuth extended key usage", leaf.Subject))
	}
	if r := checkRevocation(st, chains, now); r != nil {
		r.Fingerprint = fp
		return Peer{}, r
	}
	id, err := t.identity(leaf)
	if err != nil {
		return Peer{}, reject(ReasonNoIdentity, fp, err)
	}
	return Peer{
		Identity:    id,
		Fingerprint: fp,
		Subject:     leaf.Subject.String(),
		NotAfter:    leaf.NotAfter,
		TLSVersion:  cs.Version,
		CipherSuite: cs.CipherSuite,
		ALPN:        cs.NegotiatedProtocol,
		Resumed:     cs.DidResume,
	}, nil
}

func classifyVerifyError(err error, now time.Time) Reason {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			if inv.Cert != nil && now.Before(inv.Cert.NotBefore) {
				return ReasonNotYetValid
			}
			return ReasonExpired
		case x509.IncompatibleUsage:
			return ReasonBadUsage
		}
	}
	// Unknown authority and every other chain problem: not trusted.
	return ReasonUnknownCA
}

// checkRevocation looks up every certificate of every verified chain in the
// CRL of its issuer. Any chain containing a revoked certificate, or relying
// on a stale CRL, rejects the client: with a single CA hierarchy there is one
// chain, and with several we prefer refusing over picking a lucky one.
func checkRevocation(st *state, chains [][]*x509.Certificate, now time.Time) *RejectError {
	if st.crls == nil {
		return nil
	}
	for _, chain := range chains {
		for _, c := range chain {
			rl, ok := st.crls[string(c.RawIssuer)]
			if !ok {
				continue // this issuer publishes no CRL here
			}
			if _, revoked := rl.revoked[c.SerialNumber.String()]; revoked {
				return reject(ReasonRevoked, "", fmt.Errorf("certificate %q serial %s is revoked", c.Subject, c.SerialNumber))
			}
			if now.After(rl.nextUpdate) {
				return reject(ReasonCRLExpired, "", fmt.Errorf("CRL of %q expired at %s", c.Issuer, rl.nextUpdate.UTC().Format(time.RFC3339)))
			}
		}
	}
	return nil
}

// identity extracts the identity per Config.IdentityFrom. Ambiguity (several
// SANs of the requested kind) and control characters are refused.
func (t *Terminator) identity(leaf *x509.Certificate) (string, error) {
	var candidates []string
	switch t.cfg.IdentityFrom {
	case IdentitySANURI:
		for _, u := range leaf.URIs {
			candidates = append(candidates, u.String())
		}
	case IdentitySANEmail:
		candidates = leaf.EmailAddresses
	default:
		if leaf.Subject.CommonName != "" {
			candidates = []string{leaf.Subject.CommonName}
		}
	}
	switch {
	case len(candidates) == 0:
		return "", fmt.Errorf("leaf %q has no %s identity", leaf.Subject, t.cfg.IdentityFrom)
	case len(candidates) > 1:
		return "", fmt.Errorf("leaf %q has %d %s identities; exactly one is required", leaf.Subject, len(candidates), t.cfg.IdentityFrom)
	}
	id := candidates[0]
	if strings.ContainsFunc(id, unicode.IsControl) {
		return "", fmt.Errorf("leaf %q identity contains control characters", leaf.Subject)
	}
	return id, nil
}
