package backend

import (
	"crypto/tls"
	"net"
	"syscall"
	"unsafe"
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
		// Raw, as internal/rawio's reads: MSG_DONTWAIT never blocks, and this
		// runs at every checkout.
		n, _, rerr := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK:
			alive = true // open, and quiet
		case rerr == 0 && n > 0:
			alive = false // unsolicited data: an error or notice from a dying server
		default:
			alive = false // EOF or a socket error
		}
		return true // never wait for readability
	})
	return err == nil && alive
}

var _ net.Conn = (*Conn)(nil)
