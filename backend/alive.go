package backend

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// Alive reports whether an idle connection is still usable: the socket is
// open and nothing is waiting to be read. A server that shut down or
// terminated the session has sent an error and closed; a zero-wait peek at
// the socket (MSG_PEEK|MSG_DONTWAIT, so no byte is consumed and nothing
// blocks) finds either. A read deadline in the past would not: Go fails such
// a read before asking the kernel.
func (c *Conn) Alive() bool {
	raw := c.Conn
	if tc, ok := raw.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return true // cannot tell; the first read will
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK):
			alive = true // open, and quiet
		case rerr == nil && n > 0:
			alive = false // unsolicited data: an error or notice from a dying server
		default:
			alive = false // EOF or a socket error
		}
		return true // never wait for readability
	})
	return err == nil && alive
}

var _ net.Conn = (*Conn)(nil)
