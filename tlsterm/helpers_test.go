package tlsterm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgshield/pgshield/devcerts"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// pki is a test PKI written to a temp dir, plus a Terminator config for it.
type pki struct {
	t        *testing.T
	dir      string
	clock    *fakeClock
	ca       *devcerts.CA
	serverCA *devcerts.CA
	cfg      Config
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir(), clock: newFakeClock()}
	var err error
	if p.ca, err = devcerts.NewCA("client CA", devcerts.WithNow(p.clock.Now)); err != nil {
		t.Fatal(err)
	}
	if p.serverCA, err = devcerts.NewCA("server CA"); err != nil {
		t.Fatal(err)
	}
	p.writeServerCert()
	p.write("clientca.crt", p.ca.CertPEM())
	p.writeCRL()
	p.cfg = Config{
		CertFile:     p.path("server.crt"),
		KeyFile:      p.path("server.key"),
		ClientCAFile: p.path("clientca.crt"),
		CRLFile:      p.path("crl.pem"),
		Now:          p.clock.Now,
	}
	return p
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

func (p *pki) write(name string, data []byte) {
	p.t.Helper()
	// Write then rename, as deployment tools do, so readers never see a
	// half-written file.
	tmp := p.path(name + ".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, p.path(name)); err != nil {
		p.t.Fatal(err)
	}
}

// writeServerCert issues a new server certificate and returns it.
func (p *pki) writeServerCert() *x509.Certificate {
	p.t.Helper()
	certPEM, keyPEM, err := p.serverCA.IssueServer([]string{"localhost", "127.0.0.1"})
	if err != nil {
		p.t.Fatal(err)
	}
	p.write("server.key", keyPEM)
	p.write("server.crt", certPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return pair.Leaf
}

func (p *pki) writeCRL(revoked ...*big.Int) {
	p.t.Helper()
	crl, err := p.ca.CRL(revoked, p.clock.Now().Add(24*time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	p.write("crl.pem", crl)
}

func (p *pki) terminator(mod func(*Config)) *Terminator {
	p.t.Helper()
	cfg := p.cfg
	if mod != nil {
		mod(&cfg)
	}
	term, err := New(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	return term
}

// client issues a client certificate from ca.
func (p *pki) client(ca *devcerts.CA, opts devcerts.ClientOptions) (tls.Certificate, *x509.Certificate) {
	p.t.Helper()
	iss, err := ca.IssueClientCert(opts)
	if err != nil {
		p.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	return pair, iss.Cert
}

// clientConfig is a client that trusts the server CA and presents certs.
func (p *pki) clientConfig(certs ...tls.Certificate) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(p.serverCA.Cert)
	return &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: certs, NextProtos: []string{ALPNProtocol}}
}

// serverResult is what Handshake returned, plus the resumption flag of a
// rejected connection (whose Peer is empty).
type serverResult struct {
	peer    Peer
	err     error
	gotConn bool
	resumed bool
}

// connect runs one real loopback TCP handshake between a crypto/tls client
// and term. On success the server writes "K", on rejection over TLS "E", so
// the client also processes post-handshake session tickets.
func connect(t *testing.T, term *Terminator, ccfg *tls.Config, direct bool) (serverResult, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientErr := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			clientErr <- err
			return
		}
		defer c.Close()
		tc := tls.Client(c, ccfg)
		if err := tc.Handshake(); err != nil {
			clientErr <- err
			return
		}
		b := make([]byte, 1)
		// Read may return the byte together with io.EOF (close_notify).
		if n, err := tc.Read(b); n == 0 {
			clientErr <- err
			return
		}
		if b[0] != 'K' {
			clientErr <- errors.New("rejected by server")
			return
		}
		clientErr <- nil
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var early []byte
	if direct {
		// Like the proxy: peek the first byte to detect a TLS record.
		early = make([]byte, 1)
		if _, err := sc.Read(early); err != nil || early[0] != 0x16 {
			t.Fatalf("peek: %v %x", err, early)
		}
	}
	tc, peer, err := term.Handshake(context.Background(), sc, early, direct)
	res := serverResult{peer: peer, err: err, gotConn: tc != nil}
	if tc != nil {
		res.resumed = tc.ConnectionState().DidResume
		msg := "K"
		if err != nil {
			msg = "E"
		}
		if _, werr := tc.Write([]byte(msg)); werr != nil {
			t.Errorf("server write: %v", werr)
		}
		tc.Close()
	} else {
		sc.Close() // unblock a client still waiting for the handshake
	}
	return res, <-clientErr
}

func reasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	if err != nil {
		return "not a RejectError: " + Reason(err.Error())
	}
	return ""
}

// checkGoroutines fails the test if goroutines started during it are still
// running at cleanup (after a grace period for closing connections).
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func wrap64(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64] + "\n")
		s = s[64:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func pemBody(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM")
	}
	return block.Bytes
}
