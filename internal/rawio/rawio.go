// Package rawio reads and writes sockets with raw system calls, waiting for
// readiness through Go's network poller as net.Conn does, and appends to
// files the same way (File).
//
// A plain system call tells the Go scheduler that the goroutine may block.
// When the thread is descheduled inside it (a write to a loopback socket
// wakes the reader, which then takes the CPU), the runtime's monitor
// retakes the goroutine's processor for another thread, and keeps itself
// waking every 20µs while that happens. On a small machine, that churn of
// threads costs more than the proxy's own work. Read and write on a
// non-blocking socket never block, so the raw form is safe: EAGAIN sends
// the goroutine to the poller. gVisor's rawfile package does the same for
// its non-blocking endpoints.
package rawio

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// Conn is a socket whose Read and Write make raw system calls.
type Conn struct {
	net.Conn
	rc      syscall.RawConn
	network string
}

// Wrap returns c with raw reads and writes when it is a plain TCP or unix
// socket; anything else (a TLS connection, a PROXY-protocol reader with
// buffered bytes) is returned as it is.
func Wrap(c net.Conn) net.Conn {
	var (
		sc      syscall.Conn
		network string
	)
	switch t := c.(type) {
	case *net.TCPConn:
		sc, network = t, "tcp"
	case *net.UnixConn:
		sc, network = t, "unix"
	default:
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &Conn{Conn: c, rc: rc, network: network}
}

// SyscallConn exposes the socket (for a liveness peek).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n     int
		errno syscall.Errno
	)
	err := c.rc.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // wait for the poller
			}
			n, errno = int(r), e
			return true
		}
	})
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) Write(b []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		var again bool
		again, errno = writeRaw(fd, b, &written)
		return !again // EAGAIN: wait until the socket takes more
	})
	if err == nil && errno != 0 {
		err = errno
	}
	if err == nil && written < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return written, c.opError("write", err)
	}
	return written, nil
}

// writeRaw writes b[*written:] to fd with raw write calls, retrying short
// writes and EINTR, until all of it is written, the fd would block (again),
// a call fails (errno) or one makes no progress (neither: *written is
// short).
func writeRaw(fd uintptr, b []byte, written *int) (again bool, errno syscall.Errno) {
	for *written < len(b) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[*written])), uintptr(len(b)-*written))
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return true, 0
		case e != 0:
			return false, e
		case r == 0:
			return false, 0 // no progress and no error: do not spin
		default:
			*written += int(r)
		}
	}
	return false, 0
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
