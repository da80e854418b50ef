package devcerts

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseCertPEM(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChainsVerify(t *testing.T) {
	root, err := NewCA("root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.IssueIntermediate("inter")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters := x509.NewCertPool()
	inters.AddCert(inter.Cert)

	srvPEM, srvKey, err := root.IssueServer([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(srvPEM, srvKey); err != nil {
		t.Fatalf("server pair: %v", err)
	}
	cliPEM, cliKey, err := inter.IssueClient(ClientOptions{
		CommonName: "alice", URIs: []string{"spiffe://example.org/alice"}, Emails: []string{"alice@example.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(cliPEM, cliKey); err != nil {
		t.Fatalf("client pair: %v", err)
	}
	srv, cli := parseCertPEM(t, srvPEM), parseCertPEM(t, cliPEM)

	tests := []struct {
		name string
		cert *x509.Certificate
		opts x509.VerifyOptions
	}{
		{"server by DNS", srv, x509.VerifyOptions{Roots: roots, DNSName: "localhost"}},
		{"server by IPv4", srv, x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}},
		{"server by IPv6", srv, x509.VerifyOptions{Roots: roots, DNSName: "::1"}},
		{"client via intermediate", cli, x509.VerifyOptions{Roots: roots, Intermediates: inters,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.cert.Verify(tc.opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	if cli.Subject.CommonName != "alice" || len(cli.URIs) != 1 || cli.EmailAddresses[0] != "alice@example.org" {
		t.Errorf("client identity fields wrong: %v %v %v", cli.Subject, cli.URIs, cli.EmailAddresses)
	}
	if cli.SerialNumber.BitLen() < 64 {
		t.Errorf("serial %v looks too short for 128 random bits", cli.SerialNumber)
	}
	// The server certificate must not be usable as a client certificate.
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("server certificate verified for clientAuth")
	}
}

func TestClientValidityOverride(t *testing.T) {
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	nb := time.Now().Add(-48 * time.Hour)
	na := time.Now().Add(-24 * time.Hour)
	iss, err := ca.IssueClientCert(ClientOptions{CommonName: "old", NotBefore: nb, NotAfter: na})
	if err != nil {
		t.Fatal(err)
	}
	if !iss.Cert.NotAfter.Equal(na.Truncate(time.Second)) {
		t.Errorf("NotAfter = %v, want %v", iss.Cert.NotAfter, na)
	}
	if _, _, err := ca.IssueClient(ClientOptions{}); err == nil {
		t.Error("client without any identity was issued")
	}
	if _, _, err := ca.IssueClient(ClientOptions{CommonName: "x", NotBefore: na, NotAfter: nb}); err == nil {
		t.Error("NotAfter before NotBefore was accepted")
	}
}

func TestCRL(t *testing.T) {
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(12345)
	next := time.Now().Add(time.Hour)
	crlPEM, err := ca.CRL([]*big.Int{serial}, next)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(crlPEM)
	if block == nil || block.Type != "X509 CRL" {
		t.Fatal("CRL is not PEM X509 CRL")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(serial) != 0 {
		t.Errorf("revoked entries = %v", crl.RevokedCertificateEntries)
	}
	if !crl.NextUpdate.Equal(next.Truncate(time.Second)) {
		t.Errorf("NextUpdate = %v, want %v", crl.NextUpdate, next)
	}
}

func TestLoadCARoundTrip(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := ca.KeyPEM()
	otherKey, _ := other.KeyPEM()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPath, keyPath := write("ca.crt", ca.CertPEM()), write("ca.key", keyPEM)
	loaded, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) {
		t.Error("loaded a different certificate")
	}
	_, err = LoadCA(certPath, write("other.key", otherKey))
	if err == nil || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("mismatched key: err = %v", err)
	}
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	f, err := Init(dir, []string{"alice", "bob.smith"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Created) != 9 {
		t.Errorf("created %d files, want 9: %v", len(f.Created), f.Created)
	}
	modes := map[string]os.FileMode{
		dir: 0o700, f.CAKey: 0o600, f.ServerKey: 0o600, f.CACert: 0o644, f.CRL: 0o644,
		f.Clients["alice"].Key: 0o600, f.Clients["bob.smith"].Key: 0o600,
	}
	for p, want := range modes {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode %o, want %o", p, got, want)
		}
	}
	ca, err := LoadCA(f.CACert, f.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	alicePEM, _ := os.ReadFile(f.Clients["alice"].Cert)
	alice := parseCertPEM(t, alicePEM)
	if alice.Subject.CommonName != "alice" {
		t.Errorf("CN = %q", alice.Subject.CommonName)
	}
	if _, err := alice.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client does not verify against the written CA: %v", err)
	}
	srvPEM, _ := os.ReadFile(f.ServerCert)
	if _, err := parseCertPEM(t, srvPEM).Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("server does not verify: %v", err)
	}

	// Second run: same CA, nothing overwritten, only the new client written.
	f2, err := Init(dir, []string{"alice", "carol"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f2.Created) != 2 {
		t.Errorf("second run created %v, want only carol's pair", f2.Created)
	}
	alicePEM2, _ := os.ReadFile(f.Clients["alice"].Cert)
	if string(alicePEM2) != string(alicePEM) {
		t.Error("existing client certificate was overwritten")
	}
	ca2, err := LoadCA(f2.CACert, f2.CAKey)
	if err != nil || !ca2.Cert.Equal(ca.Cert) {
		t.Errorf("CA was not reused: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}

	// A half-present pair is an error, not something to overwrite.
	if err := os.Remove(f.Clients["alice"].Key); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(dir, []string{"alice"}); err == nil {
		t.Error("certificate without key was not reported")
	}
}

func TestInitRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../x", "a b", "é", "x\n", strings.Repeat("a", 65), "a;rm"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pki")
			_, err := Init(dir, []string{"ok", name})
			if err == nil {
				t.Fatalf("name %q accepted", name)
			}
			if _, statErr := os.Stat(dir); statErr == nil {
				t.Error("files were written before names were validated")
			}
		})
	}
	for _, name := range []string{"a", "A.b_c-1", strings.Repeat("z", 64)} {
		if err := ValidateClientName(name); err != nil {
			t.Errorf("%q rejected: %v", name, err)
		}
	}
}
