package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/devcerts"
)

// TestRefusals: every way a client can be refused is refused, with the
// reason in pgshield's log and, where the protocol allows, in the client's
// error.
func TestRefusals(t *testing.T) {
	for _, name := range []string{"mallory", "App"} {
		if _, _, err := env.PKI.Client(name, devcerts.ClientOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := env.PKI.ForeignClient("foreign"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.PKI.ExpiredClient("expired"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.PKI.RevokedClient("revoked"); err != nil {
		t.Fatal(err)
	}
	p := env.StartProxy(t, env.Config())
	noCert := strings.Join([]string{"host=" + p.Host, "port=" + p.Port, "dbname=appdb", "user=app",
		"sslmode=verify-full", "sslrootcert=" + env.PKI.CAFile}, " ")
	tests := []struct {
		name      string
		dsn       string
		clientMsg string // in psql's stderr
		reason    string // in pgshield's log
		withFP    bool   // the log names the certificate's fingerprint
	}{
		{"no certificate", noCert, "a client certificate is required", "no_certificate", false},
		{"other CA", env.DSN(p, "foreign"), "not issued by a trusted CA", "unknown_ca", true},
		{"expired", env.DSN(p, "expired"), "client certificate has expired", "expired", true},
		{"revoked", env.DSN(p, "revoked"), "client certificate is revoked", "revoked", true},
		{"unknown CN", env.DSN(p, "mallory"), `certificate identity "mallory" is not allowed`, "unknown_identity", true},
		{"CN other case", env.DSN(p, "App"), `certificate identity "App" is not allowed`, "unknown_identity", true},
		{"TLS 1.2 only", env.DSN(p, "app", "ssl_max_protocol_version=TLSv1.2"), "protocol version", "tls_version", false},
		{"plaintext", env.DSN(p, "app", "sslmode=disable"), "requires TLS", "plaintext_startup", false},
		{"user not allowed", env.DSN(p, "app", "user=postgres"), `may not connect as user "postgres"`, "user_not_allowed", true},
		{"database not allowed", env.DSN(p, "app", "dbname=postgres"), `may not use database "postgres"`, "database_not_allowed", true},
		{"options role", env.DSN(p, "app", "options='-c role=x'"), `startup parameter "options" is not allowed`, "parameter_not_allowed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(p.Log.String())
			out, stderr, err := psql(t, tt.dsn, "-c", "select 'in'")
			if err == nil || out == "in" {
				t.Fatalf("connection was accepted: out=%q", out)
			}
			if !strings.Contains(stderr, tt.clientMsg) {
				t.Errorf("client error %q lacks %q", stderr, tt.clientMsg)
			}
			logs := waitLog(t, p.Log, before, "reason="+tt.reason)
			if tt.withFP && !strings.Contains(logs, "fingerprint=sha256:") {
				t.Errorf("log lacks the certificate fingerprint:\n%s", logs)
			}
		})
	}

	t.Run("direct TLS without ALPN", func(t *testing.T) {
		before := len(p.Log.String())
		cfg := clientTLS(t, "app")
		cfg.NextProtos = nil
		conn, err := tls.Dial("tcp", net.JoinHostPort(p.Host, p.Port), cfg)
		if err == nil {
			err = conn.Handshake()
			if err == nil {
				_, err = conn.Read(make([]byte, 1))
			}
			conn.Close()
		}
		if err == nil {
			t.Fatal("direct TLS without ALPN accepted")
		}
		waitLog(t, p.Log, before, "reason=no_alpn")
	})

	t.Run("startup packet over the cap, plaintext", func(t *testing.T) {
		before := len(p.Log.String())
		conn, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		big := make([]byte, 20000)
		binary.BigEndian.PutUint32(big, uint32(len(big)))
		binary.BigEndian.PutUint32(big[4:], 3<<16)
		conn.Write(big)
		expectFatal(t, conn, "08P01")
		waitLog(t, p.Log, before, "reason=startup_packet_invalid")
	})

	t.Run("startup packet over the cap, inside TLS", func(t *testing.T) {
		before := len(p.Log.String())
		conn := sslRequestDial(t, net.JoinHostPort(p.Host, p.Port), clientTLS(t, "app"))
		defer conn.Close()
		big := make([]byte, 10005) // PostgreSQL's cap is 10000 after the length word
		binary.BigEndian.PutUint32(big, uint32(len(big)))
		binary.BigEndian.PutUint32(big[4:], 3<<16)
		conn.Write(big)
		expectFatal(t, conn, "08P01")
		waitLog(t, p.Log, before, "reason=startup_packet_invalid")
	})

	if logs := p.Log.String(); strings.Contains(logs, env.LoginPassword()) {
		t.Fatal("backend password in the log")
	}
}

// TestSlowClientDropped: a client that connects and says nothing (or
// trickles) is dropped at the startup timeout.
func TestSlowClientDropped(t *testing.T) {
	cfg := env.Config()
	cfg.Client.StartupTimeout = time.Second
	p := env.StartProxy(t, cfg)
	conn, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{0, 0}) // half a length, then nothing
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = conn.Read(make([]byte, 1))
	if err == nil || os.IsTimeout(err) {
		t.Fatalf("slow client not dropped: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("dropped after %v", d)
	}
}

// clientTLS is a TLS config for identity's certificate, trusting the test CA.
func clientTLS(t *testing.T, identity string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.PKI.Dir, "client-"+identity+".crt"), filepath.Join(env.PKI.Dir, "client-"+identity+".key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(env.PKI.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1",
		NextProtos: []string{"postgresql"}, MinVersion: tls.VersionTLS12}
}

// sslRequestDial connects with an SSLRequest and a TLS handshake.
func sslRequestDial(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	var s [1]byte
	if _, err := io.ReadFull(raw, s[:]); err != nil || s[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v", s, err)
	}
	conn := tls.Client(raw, cfg)
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// expectFatal reads one message from conn and checks it is an ErrorResponse with code.
func expectFatal(t *testing.T, conn net.Conn, code string) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	msg, err := fe.Receive()
	if err != nil {
		t.Fatalf("no error response: %v", err)
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok || er.Code != code || er.Severity != "FATAL" {
		t.Fatalf("got %#v, want FATAL %s", msg, code)
	}
}

// waitLog waits until the log written after offset contains want.
func waitLog(t *testing.T, log interface{ String() string }, offset int, want string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := log.String()[offset:]
		if strings.Contains(s, want) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
