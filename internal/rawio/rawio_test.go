package rawio

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// pair returns a connected (wrapped, peer) pair of the given network.
func pair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	w := Wrap(c)
	if _, ok := w.(*Conn); !ok {
		t.Fatalf("Wrap(%T) did not wrap", c)
	}
	t.Cleanup(func() { w.Close(); peer.Close() })
	return w, peer
}

func TestConn(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network+"/round trip of more than the socket buffers hold", func(t *testing.T) {
			c, peer := pair(t, network)
			data := make([]byte, 8<<20)
			rand.Read(data)
			errc := make(chan error, 1)
			go func() { // the peer echoes, slowly at first, so writes hit EAGAIN
				time.Sleep(50 * time.Millisecond)
				_, err := io.CopyN(peer, peer, int64(len(data)))
				errc <- err
			}()
			werr := make(chan error, 1)
			go func() {
				n, err := c.Write(data)
				if err == nil && n != len(data) {
					err = io.ErrShortWrite
				}
				werr <- err
			}()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if err := <-werr; err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("data differs")
			}
		})
		t.Run(network+"/peer close is EOF", func(t *testing.T) {
			c, peer := pair(t, network)
			peer.Write([]byte("x"))
			peer.Close()
			b := make([]byte, 4)
			if n, err := c.Read(b); n != 1 || err != nil {
				t.Fatalf("first read %d %v", n, err)
			}
			if _, err := c.Read(b); err != io.EOF {
				t.Fatalf("read after close: %v, want io.EOF", err)
			}
		})
		t.Run(network+"/read deadline is a timeout", func(t *testing.T) {
			c, _ := pair(t, network)
			c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read past deadline: %v, want a timeout", err)
			}
		})
		t.Run(network+"/close unblocks a read", func(t *testing.T) {
			c, _ := pair(t, network)
			errc := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 1))
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			c.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read after Close: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock Read")
			}
		})
	}
}

func TestWrapLeavesOtherConnsAlone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("Wrap wrapped a net.Pipe")
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	osf, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFile(osf)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for _, size := range []int{0, 1, 300, 1 << 20} {
		b := make([]byte, size)
		rand.Read(b)
		n, err := f.Write(b)
		if n != size || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", size, n, err)
		}
		want.Write(b)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()[:5]) {
		t.Fatalf("file holds %d bytes, want the first 5 of what was written", len(got))
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close: %v, want os.ErrClosed", err)
	}

	// A write the kernel refuses comes back as a *PathError naming the file.
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rf, err := NewFile(ro)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rf.Write([]byte("x"))
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Write to a read-only file: %v, want a PathError for %s wrapping EBADF", err, path)
	}
}
