package tlsterm

import "net"

// peekedConn is a net.Conn that replays bytes the proxy already read from
// the underlying connection (the start of a direct-TLS ClientHello) before
// reading from the connection itself.
//
// It is used only by the handshake goroutine's reads; crypto/tls never reads
// concurrently, so early needs no lock.
type peekedConn struct {
	net.Conn
	// early holds the not yet replayed bytes; it shrinks as Read consumes it.
	early []byte
}

func newPeekedConn(conn net.Conn, early []byte) net.Conn {
	if len(early) == 0 {
		return conn
	}
	// Copy so the caller's buffer can be reused once Handshake returns.
	return &peekedConn{Conn: conn, early: append([]byte(nil), early...)}
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.early) > 0 {
		n := copy(p, c.early)
		c.early = c.early[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
