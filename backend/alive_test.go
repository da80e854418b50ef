package backend

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/pgshield/pgshield/internal/rawio"
)

// TestAlive: a quiet open socket is alive; one with unsolicited bytes or a
// closed peer is not, and peeking consumes nothing.
func TestAlive(t *testing.T) {
	for _, raw := range []bool{false, true} {
		ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() { c, _ := ln.Accept(); accepted <- c }()
		nc, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer := <-accepted
		ln.Close()
		if raw {
			nc = rawio.Wrap(nc)
		}
		c := &Conn{Conn: nc}
		if !c.Alive() {
			t.Fatalf("raw=%v: quiet socket not alive", raw)
		}
		peer.Write([]byte("E"))
		if c.Alive() || c.Alive() {
			t.Fatalf("raw=%v: socket with unsolicited bytes alive", raw)
		}
		var b [1]byte
		if n, err := nc.Read(b[:]); n != 1 || err != nil || b[0] != 'E' {
			t.Fatalf("raw=%v: peek consumed the byte: %d %v %q", raw, n, err, b[:n])
		}
		if !c.Alive() {
			t.Fatalf("raw=%v: quiet again but not alive", raw)
		}
		peer.Close()
		if c.Alive() {
			t.Fatalf("raw=%v: socket with a closed peer alive", raw)
		}
		nc.Close()
	}
}
