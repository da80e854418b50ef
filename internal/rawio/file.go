package rawio

import (
	"io"
	"os"
	"syscall"
)

// File is an *os.File whose Write is a raw system call. It is for small
// appends to a file in the page cache (the audit log writes one record per
// statement): such a write takes about a microsecond, but as a plain
// system call each one wakes the runtime's monitor from its deep sleep, and
// the monitor then ticks every 20µs for the next millisecond. At one
// transaction every few hundred microseconds it never sleeps again: at one
// client, three context switches and ~45µs of CPU per transaction.
//
// The cost of the raw form: a write the kernel makes wait (dirty-page
// throttling under memory pressure) holds its processor until it returns,
// instead of letting another thread take it. Sync stays a plain system
// call, since it always waits for the disk.
type File struct {
	*os.File
	rc syscall.RawConn
}

// NewFile returns f with raw writes.
func NewFile(f *os.File) (*File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &File{File: f, rc: rc}, nil
}

// Write writes all of b, retrying short writes and EINTR, as os.File does.
func (f *File) Write(b []byte) (int, error) {
	written := 0
	var errno syscall.Errno
	err := f.rc.Write(func(fd uintptr) bool {
		_, errno = writeRaw(fd, b, &written) // a regular file never says EAGAIN
		return true
	})
	switch {
	case err != nil:
		// The callback never asks to wait, so the only failure left is
		// the file being closed, which os.File reports as ErrClosed.
		err = os.ErrClosed
	case errno != 0:
		err = errno
	case written < len(b):
		err = io.ErrShortWrite
	}
	if err != nil {
		return written, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return written, nil
}

var _ io.Writer = (*File)(nil)
