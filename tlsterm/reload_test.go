package tlsterm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// silentClient connects and never sends a byte.
func silentClient(t *testing.T, term *Terminator, ctxLimit time.Duration) (serverResult, time.Duration) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	ctx := context.Background()
	if ctxLimit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ctxLimit)
		defer cancel()
	}
	start := time.Now()
	tc, _, err := term.Handshake(ctx, sc, nil, false)
	return serverResult{err: err, gotConn: tc != nil}, time.Since(start)
}

func TestReloadCRL(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	term := p.terminator(nil)
	alice, aliceCert := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})
	ccfg := p.clientConfig(alice)

	if res, _ := connect(t, term, ccfg, false); res.err != nil {
		t.Fatalf("before revocation: %v", res.err)
	}
	p.writeCRL(aliceCert.SerialNumber)
	// Without Reload the old CRL stays in force.
	if res, _ := connect(t, term, ccfg, false); res.err != nil {
		t.Fatalf("CRL must only change on Reload: %v", res.err)
	}
	if err := term.Reload(); err != nil {
		t.Fatal(err)
	}
	if res, _ := connect(t, term, ccfg, false); reasonOf(res.err) != ReasonRevoked {
		t.Fatalf("after reload: %v", res.err)
	}
}

func TestReloadBrokenFileKeepsOldState(t *testing.T) {
	checkGoroutines(t)
	other, err := devcerts.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherCRL, err := other.CRL(nil, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file string
		data []byte
	}{
		{"garbage CRL", "crl.pem", []byte("not a crl")},
		{"CRL from a foreign CA", "crl.pem", otherCRL},
		{"empty CA bundle", "clientca.crt", nil},
		{"leaf in CA bundle", "clientca.crt", nil}, // filled below
		{"truncated server key", "server.key", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t)
			term := p.terminator(nil)
			alice, aliceCert := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})
			before := term.Expiry()
			data := tc.data
			if tc.name == "leaf in CA bundle" {
				data = devcertsPEM(aliceCert)
			}
			p.write(tc.file, data)
			err := term.Reload()
			if err == nil {
				t.Fatal("Reload accepted a broken file")
			}
			if strings.Contains(err.Error(), "AAAA") {
				t.Errorf("error leaks key material: %v", err)
			}
			if term.Expiry() != before {
				t.Error("state changed after a failed reload")
			}
			if res, cerr := connect(t, term, p.clientConfig(alice), false); res.err != nil || cerr != nil {
				t.Fatalf("old state not kept: %v / %v", res.err, cerr)
			}
		})
	}
}

func devcertsPEM(c *x509.Certificate) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + wrap64(c.Raw) + "-----END CERTIFICATE-----\n")
}

func TestServerCertReplacedOnDisk(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	term := p.terminator(nil)
	alice, _ := p.client(p.ca, devcerts.ClientOptions{CommonName: "alice"})

	served := func() *x509.Certificate {
		var got *x509.Certificate
		ccfg := p.clientConfig(alice)
		ccfg.VerifyConnection = func(cs tls.ConnectionState) error {
			got = cs.PeerCertificates[0]
			return nil
		}
		if res, err := connect(t, term, ccfg, false); res.err != nil || err != nil {
			t.Fatalf("handshake: %v / %v", res.err, err)
		}
		return got
	}
	first := served()
	fresh := p.writeServerCert()
	// Make the change visible even on file systems with coarse mtimes.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{p.cfg.CertFile, p.cfg.KeyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := served(); !got.Equal(first) {
		t.Fatal("file checked again within a second")
	}
	p.clock.Advance(2 * time.Second)
	if got := served(); !got.Equal(fresh) {
		t.Fatalf("served serial %v, want the replaced certificate %v", got.SerialNumber, fresh.SerialNumber)
	}
	if !term.Expiry().ServerNotAfter.Equal(fresh.NotAfter) {
		t.Error("Expiry does not report the new server certificate")
	}

	// A broken replacement keeps serving the last good certificate.
	p.write("server.key", []byte("broken"))
	p.clock.Advance(2 * time.Second)
	if got := served(); !got.Equal(fresh) {
		t.Fatal("broken replacement was not ignored")
	}
}

func TestNewValidates(t *testing.T) {
	p := newPKI(t)
	other, err := devcerts.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherCRL, _ := other.CRL(nil, time.Now().Add(time.Hour))
	p.write("other-crl.pem", otherCRL)
	_, otherKey, _ := other.IssueServer([]string{"x"})
	p.write("other.key", otherKey)
	noNext, _ := p.ca.CRL(nil, time.Time{})
	p.write("nonext-crl.pem", noNext)
	p.write("der-crl.der", pemBody(t, p.path("crl.pem")))

	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(c *Config) {}, true},
		{"DER CRL", func(c *Config) { c.CRLFile = p.path("der-crl.der") }, true},
		{"no CRL", func(c *Config) { c.CRLFile = "" }, true},
		{"TLS 1.2", func(c *Config) { c.MinVersion = tls.VersionTLS12 }, true},
		{"TLS 1.1", func(c *Config) { c.MinVersion = tls.VersionTLS11 }, false},
		{"bad identity source", func(c *Config) { c.IdentityFrom = "dn" }, false},
		{"negative timeout", func(c *Config) { c.HandshakeTimeout = -time.Second }, false},
		{"missing cert", func(c *Config) { c.CertFile = "" }, false},
		{"missing CA", func(c *Config) { c.ClientCAFile = "" }, false},
		{"CA file absent", func(c *Config) { c.ClientCAFile = p.path("nope") }, false},
		{"key mismatch", func(c *Config) { c.KeyFile = p.path("other.key") }, false},
		{"CRL from foreign CA", func(c *Config) { c.CRLFile = p.path("other-crl.pem") }, false},
		{"CRL without NextUpdate", func(c *Config) { c.CRLFile = p.path("nonext-crl.pem") }, false},
		{"server cert expired", func(c *Config) {
			clock := newFakeClock()
			clock.Advance(3 * 365 * 24 * time.Hour)
			c.Now = clock.Now
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := p.cfg
			tc.mod(&cfg)
			term, err := New(cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error mentions key material: %v", err)
			}
			if tc.ok {
				e := term.Expiry()
				if e.ServerNotAfter.IsZero() || e.ClientCANotAfter.IsZero() || (cfg.CRLFile != "") == e.CRLNextUpdate.IsZero() {
					t.Errorf("Expiry = %+v", e)
				}
			}
		})
	}
}

func TestPeekedConnReplaysEarlyBytes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	early := []byte("he")
	c := newPeekedConn(a, early)
	early[0] = 'X' // the caller may reuse its buffer
	go func() { b.Write([]byte("llo")) }()
	buf := make([]byte, 5)
	n, err := readFull(c, buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if newPeekedConn(a, nil) != a {
		t.Error("no early bytes should not wrap")
	}
}

func readFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestHandshakeUnknownReasonIsHandshake(t *testing.T) {
	checkGoroutines(t)
	p := newPKI(t)
	term := p.terminator(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		c.Write([]byte("GET / HTTP/1.1\r\n\r\n")) // not TLS at all
		c.Close()
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	tc, _, err := term.Handshake(context.Background(), sc, nil, false)
	<-done
	var re *RejectError
	if tc != nil || !errors.As(err, &re) || re.Reason != ReasonHandshake {
		t.Fatalf("got conn=%v err=%v", tc != nil, err)
	}
}
