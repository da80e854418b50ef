package e2e

import (
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestGSSENCThenSSL: a GSSENCRequest is answered N and the client goes on
// with an SSLRequest, as libpq does with gssencmode=prefer.
func TestGSSENCThenSSL(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	raw, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}) // GSSENCRequest
	var b [1]byte
	if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'N' {
		t.Fatalf("GSSENCRequest answered %q %v", b, err)
	}
	raw.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	if _, err := io.ReadFull(raw, b[:]); err != nil || b[0] != 'S' {
		t.Fatalf("SSLRequest answered %q %v", b, err)
	}
	conn := tls.Client(raw, clientTLS(t, "app"))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "app", "database": env.Database}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if er, ok := msg.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("refused: %s", er.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return
		}
	}
}

// TestDataAfterSSLRequest: plaintext bytes sent along with the SSLRequest
// (before the S) are refused, as PostgreSQL does against injection.
func TestDataAfterSSLRequest(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	raw, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	before := len(p.Log.String())
	startup := make([]byte, 9)
	binary.BigEndian.PutUint32(startup, 9)
	binary.BigEndian.PutUint32(startup[4:], 3<<16)
	raw.Write(append([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, startup...))
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := raw.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatal("the SSLRequest was answered despite injected bytes")
	}
	waitLog(t, p.Log, before, "reason=data_after_ssl_request")
}

// TestCancelKeys: clients get proxy-issued keys, never the backend's; a
// CancelRequest with a wrong secret does nothing; the right one cancels.
func TestCancelKeys(t *testing.T) {
	p := env.StartProxy(t, env.Config())
	conn := pgxConnect(t, env.DSN(p, "app"))
	c := ctx(t)
	var backendPID uint32
	if err := conn.QueryRow(c, "select pg_backend_pid()").Scan(&backendPID); err != nil {
		t.Fatal(err)
	}
	pc := conn.PgConn()
	if pc.PID() == backendPID {
		t.Fatal("the client learned the backend pid")
	}
	sendCancel := func(pid uint32, secret []byte) {
		raw, err := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port))
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		b, _ := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}).Encode(nil)
		raw.Write(b)
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		raw.Read(make([]byte, 1)) // closed by pgshield once handled
	}
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Exec(c, "select pg_sleep(1.5)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(1.5)")
	wrong := append([]byte(nil), pc.SecretKey()...)
	wrong[0] ^= 0xff
	sendCancel(pc.PID(), wrong)
	sendCancel(backendPID, pc.SecretKey())
	if err := <-errc; err != nil {
		t.Fatalf("a non-matching cancel cancelled the query: %v", err)
	}
	go func() {
		_, err := conn.Exec(c, "select pg_sleep(30)")
		errc <- err
	}()
	waitBackendQuery(t, "pg_sleep(30)")
	sendCancel(pc.PID(), pc.SecretKey())
	select {
	case err := <-errc:
		if pgErr, ok := err.(*pgconn.PgError); !ok || pgErr.Code != "57014" {
			t.Fatalf("want 57014, got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancel did not arrive")
	}
}

// TestNoGoroutineLeak: sessions of every ending leave no goroutine behind
// once the proxy has stopped.
func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	p := env.StartProxy(t, env.Config())
	for i := range 10 {
		out, _, err := psql(t, env.DSN(p, "app"), "-c", fmt.Sprintf("select %d", i))
		if err != nil || out != fmt.Sprint(i) {
			t.Fatalf("psql: %v %q", err, out)
		}
		psql(t, env.DSN(p, "mallory-unknown")) // refused
	}
	raw, _ := net.Dial("tcp", net.JoinHostPort(p.Host, p.Port)) // says nothing; stop ends it
	defer raw.Close()
	p.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			stacks := string(buf[:n])
			if strings.Contains(stacks, "pgshield/proxy") {
				t.Fatalf("goroutines left: %d > %d\n%s", runtime.NumGoroutine(), base, stacks)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
