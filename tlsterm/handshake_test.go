package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

func TestHandshake(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	now := p.clock.Now()
	other, err := devcerts.NewCA("other CA")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := p.ca.IssueIntermediate("intermediate")
	if err != nil {
		t.Fatal(err)
	}
	revokedInter, err := p.ca.IssueIntermediate("revoked intermediate")
	if err != nil {
		t.Fatal(err)
	}

	alice, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})
	upper, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "ALICE"})
	foreign, _ := p.client(other, devcerts.ClientOptions{CommonName: "alice"})
	expired, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice", NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)})
	revoked, revokedCert := p.client(p.ca, devcerts.ClientOptions{CommonName: "mallory"})
	noEKU, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice", ExtKeyUsage: []x509.ExtKeyUsage{}})
	serverEKU, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	noCN, _ := p.client(p.ca, devcerts.ClientOptions{Emails: []string{"alice@example.org"}})
	uri, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "x", URIs: []string{"spiffe://example.org/app"}})
	twoURIs, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "x", URIs: []string{"spiffe://a/1", "spiffe://a/2"}})
	email, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "x", Emails: []string{"Alice@Example.org"}})
	viaInter, _ := p.client(inter, devcerts.ClientOptions{CommonName: "bob"})
	viaInter.Certificate = append(viaInter.Certificate, inter.Cert.Raw)
	viaRevokedInter, _ := p.client(revokedInter, devcerts.ClientOptions{CommonName: "bob"})
	viaRevokedInter.Certificate = append(viaRevokedInter.Certificate, revokedInter.Cert.Raw)
	p.writeCRL(revokedCert.SerialNumber, revokedInter.Cert.SerialNumber)

	cn := p.terminator(nil)
	byURI := p.terminator(func(c *Config) { c.IdentityFrom = IdentitySANURI })
	byEmail := p.terminator(func(c *Config) { c.IdentityFrom = IdentitySANEmail })
	tls12 := p.terminator(func(c *Config) { c.MinVersion = tls.VersionTLS12 })

	fpRE := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	tests := []struct {
		name     string
		term     *Terminator
		cert     *tls.Certificate // nil: no client certificate
		direct   bool
		mod      func(*tls.Config)
		want     Reason // "" means accepted
		identity string
		overTLS  bool // a rejection the caller can report over TLS
	}{
		{name: "valid", term: cn, cert: &alice, identity: "alice"},
		{name: "CN case kept exactly", term: cn, cert: &upper, identity: "ALICE"},
		{name: "via intermediate", term: cn, cert: &viaInter, identity: "bob"},
		{name: "no certificate", term: cn, want: ReasonNoCertificate, overTLS: true},
		{name: "other CA", term: cn, cert: &foreign, want: ReasonUnknownCA, overTLS: true},
		{name: "expired", term: cn, cert: &expired, want: ReasonExpired, overTLS: true},
		{name: "not yet valid", term: cn, cert: &future, want: ReasonNotYetValid, overTLS: true},
		{name: "revoked", term: cn, cert: &revoked, want: ReasonRevoked, overTLS: true},
		{name: "revoked intermediate", term: cn, cert: &viaRevokedInter, want: ReasonRevoked, overTLS: true},
		{name: "no EKU", term: cn, cert: &noEKU, want: ReasonBadUsage, overTLS: true},
		{name: "serverAuth only", term: cn, cert: &serverEKU, want: ReasonBadUsage, overTLS: true},
		{name: "no CN", term: cn, cert: &noCN, want: ReasonNoIdentity, overTLS: true},
		{name: "SAN URI", term: byURI, cert: &uri, identity: "spiffe://example.org/app"},
		{name: "SAN URI missing", term: byURI, cert: &alice, want: ReasonNoIdentity, overTLS: true},
		{name: "SAN URI ambiguous", term: byURI, cert: &twoURIs, want: ReasonNoIdentity, overTLS: true},
		{name: "SAN email", term: byEmail, cert: &email, identity: "Alice@Example.org"},
		{name: "client max TLS 1.2, min 1.3", term: cn, cert: &alice, want: ReasonTLSVersion,
			mod: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }},
		{name: "client max TLS 1.2, min 1.2", term: tls12, cert: &alice, identity: "alice",
			mod: func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }},
		{name: "direct TLS with ALPN", term: cn, cert: &alice, direct: true, identity: "alice"},
		{name: "direct TLS without ALPN", term: cn, cert: &alice, direct: true, want: ReasonNoALPN,
			mod: func(c *tls.Config) { c.NextProtos = nil }},
		{name: "SSLRequest without ALPN", term: cn, cert: &alice, identity: "alice",
			mod: func(c *tls.Config) { c.NextProtos = nil }},
		{name: "SSLRequest with foreign ALPN", term: cn, cert: &alice, want: ReasonNoALPN,
			mod: func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var certs []tls.Certificate
			if tc.cert != nil {
				certs = append(certs, *tc.cert)
			}
			ccfg := p.clientConfig(certs...)
			if tc.mod != nil {
				tc.mod(ccfg)
			}
			res, clientErr := connect(t, tc.term, ccfg, tc.direct)
			if got := reasonOf(res.err); got != tc.want {
				t.Fatalf("reason = %q, want %q (err: %v)", got, tc.want, errors.Unwrap(res.err))
			}
			if tc.want == "" {
				if clientErr != nil {
					t.Errorf("client: %v", clientErr)
				}
				if res.peer.Identity != tc.identity {
					t.Errorf("identity = %q, want %q", res.peer.Identity, tc.identity)
				}
				if !fpRE.MatchString(res.peer.Fingerprint) {
					t.Errorf("fingerprint %q", res.peer.Fingerprint)
				}
				if res.peer.TLSVersion == 0 || res.peer.CipherSuite == 0 || res.peer.NotAfter.IsZero() || res.peer.Subject == "" {
					t.Errorf("peer incomplete: %+v", res.peer)
				}
				if tc.direct && res.peer.ALPN != ALPNProtocol {
					t.Errorf("ALPN = %q", res.peer.ALPN)
				}
				return
			}
			if clientErr == nil {
				t.Error("client was not refused")
			}
			if res.gotConn != tc.overTLS {
				t.Errorf("TLS conn returned = %v, want %v", res.gotConn, tc.overTLS)
			}
			var re *RejectError
			errors.As(res.err, &re)
			if re.Error() != re.ClientMessage() || re.ClientMessage() == "" {
				t.Errorf("messages: %q / %q", re.Error(), re.ClientMessage())
			}
			if tc.cert != nil && tc.overTLS && !fpRE.MatchString(re.Fingerprint) {
				t.Errorf("rejection fingerprint %q", re.Fingerprint)
			}
		})
	}
}

func TestClientMessages(t *testing.T) {
	tests := []struct {
		err  *RejectError
		want string
	}{
		{reject(ReasonExpired, "", nil), "client certificate has expired"},
		{reject(ReasonRevoked, "", nil), "client certificate is revoked"},
		{reject(ReasonUnknownCA, "", nil), "client certificate was not issued by a trusted CA"},
		{reject(ReasonNoCertificate, "", nil), "a client certificate is required"},
		{reject(ReasonTLSVersion, "", &versionError{min: tls.VersionTLS13}), "TLS 1.3 is required"},
		{reject(ReasonTLSVersion, "", &versionError{min: tls.VersionTLS12}), "TLS 1.2 or newer is required"},
		{reject("something_new", "", nil), "TLS handshake failed"},
	}
	for _, tc := range tests {
		if got := tc.err.ClientMessage(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.err.Reason, got, tc.want)
		}
	}
	for _, r := range Reasons() {
		if msg := reject(r, "", errors.New("detail")).ClientMessage(); msg == "" || msg == "TLS handshake failed" && r != ReasonHandshake {
			t.Errorf("%s has no specific message", r)
		}
	}
}

func TestCRLExpired(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	term := p.terminator(nil)
	alice, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})
	if res, err := connect(t, term, p.clientConfig(alice), false); res.err != nil || err != nil {
		t.Fatalf("fresh CRL: %v / %v", res.err, err)
	}
	p.clock.Advance(25 * time.Hour) // past NextUpdate, certificates still valid
	res, _ := connect(t, term, p.clientConfig(alice), false)
	if got := reasonOf(res.err); got != ReasonCRLExpired {
		t.Fatalf("reason = %q, want crl_expired", got)
	}
}

func TestResumedSessionIsVerifiedAgain(t *testing.T) {
	checkGoroutines(t)
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			p := newPKI(t)
			term := p.terminator(func(c *Config) { c.MinVersion = tls.VersionTLS12 })
			alice, aliceCert := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})
			ccfg := p.clientConfig(alice)
			ccfg.MaxVersion = version
			ccfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

			first, err := connect(t, term, ccfg, false)
			if first.err != nil || err != nil || first.peer.Resumed {
				t.Fatalf("first: %v / %v / resumed=%v", first.err, err, first.peer.Resumed)
			}
			second, err := connect(t, term, ccfg, false)
			if second.err != nil || err != nil || !second.peer.Resumed || second.peer.Identity != "alice" {
				t.Fatalf("second should resume: %v / %v / %+v", second.err, err, second.peer)
			}

			p.writeCRL(aliceCert.SerialNumber)
			if err := term.Reload(); err != nil {
				t.Fatal(err)
			}
			third, _ := connect(t, term, ccfg, false)
			if !third.resumed {
				t.Fatal("third connection did not resume; the test would prove nothing")
			}
			if got := reasonOf(third.err); got != ReasonRevoked {
				t.Fatalf("resumed session with revoked cert: reason %q, want revoked", got)
			}
		})
	}
}

func TestHandshakeTimeout(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	tests := []struct {
		name     string
		timeout  time.Duration
		ctxLimit time.Duration
	}{
		{"HandshakeTimeout", 150 * time.Millisecond, 0},
		{"context deadline", time.Minute, 150 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			term := p.terminator(func(c *Config) { c.HandshakeTimeout = tc.timeout })
			res, elapsed := silentClient(t, term, tc.ctxLimit)
			if got := reasonOf(res.err); got != ReasonTimeout {
				t.Fatalf("reason = %q, want handshake_timeout (%v)", got, res.err)
			}
			if res.gotConn {
				t.Error("conn returned for a failed handshake")
			}
			if elapsed > 5*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}
