package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultBufferSize is the read buffer of a Forwarder: large enough that most
// result batches leave in one write, small enough for thousands of sessions.
const DefaultBufferSize = 16 << 10

// ErrMessageTooLarge reports a message over the configured bound.
type ErrMessageTooLarge struct {
	Type   byte
	Length int
	Max    int
}

func (e *ErrMessageTooLarge) Error() string {
	return fmt.Sprintf("message %q of %d bytes exceeds the limit of %d", e.Type, e.Length, e.Max)
}

// Watch is the set of message types a Forwarder hands to its callback.
type Watch [256]bool

// NewWatch returns a Watch of the given types.
func NewWatch(types ...byte) Watch {
	var w Watch
	for _, t := range types {
		w[t] = true
	}
	return w
}

// Forwarder copies whole protocol messages from a source to a destination.
// Unwatched messages leave in bulk, straight from the read buffer; each
// watched message is handed to the callback complete before it is written.
// A Forwarder is used by one goroutine.
type Forwarder struct {
	src *bufio.Reader
	// MaxWatched bounds a watched message, which must fit in memory at once.
	maxWatched int
	// maxLen bounds any message.
	maxLen  int
	scratch []byte
}

// NewForwarder reads from src with a buffer of bufSize bytes. maxLen bounds
// every message; maxWatched bounds messages handed to the callback.
func NewForwarder(src io.Reader, bufSize, maxLen, maxWatched int) *Forwarder {
	return &Forwarder{src: bufio.NewReaderSize(src, bufSize), maxLen: maxLen, maxWatched: maxWatched}
}

// Buffered reports how many bytes are read but not yet forwarded.
func (f *Forwarder) Buffered() int { return f.src.Buffered() }

// Action is what an OnMessage callback decides for one message.
type Action struct {
	// Stop ends Forward once this message (or its replacement) is written.
	Stop bool
	// Drop keeps the message from the destination.
	Drop bool
	// Replace, when not nil, is written instead of the message (implies Drop).
	Replace []byte
}

// OnMessage sees one watched message. body is valid only during the call.
type OnMessage func(typ byte, body []byte) (Action, error)

// Forward copies messages to dst until fn asks to stop or an error occurs.
// Everything read and not dropped is written before Forward returns, so dst
// is always left at a message boundary.
func (f *Forwarder) Forward(dst io.Writer, watch *Watch, fn OnMessage) error {
next:
	for {
		// Block for at least one header, then take everything buffered.
		if _, err := f.src.Peek(5); err != nil {
			return err
		}
		buf, _ := f.src.Peek(f.src.Buffered())
		off := 0
		for off+5 <= len(buf) {
			typ := buf[off]
			n := int(binary.BigEndian.Uint32(buf[off+1:]))
			if n < 4 || n > f.maxLen {
				return &ErrMessageTooLarge{Type: typ, Length: n, Max: f.maxLen}
			}
			end := off + 1 + n
			if end > len(buf) {
				break
			}
			if watch[typ] {
				act, err := fn(typ, buf[off+5:end])
				if err != nil {
					return err
				}
				switch {
				case act.Drop || act.Replace != nil:
					if err := f.flush(dst, buf[:off], end); err != nil {
						return err
					}
					if act.Replace != nil {
						if _, err := dst.Write(act.Replace); err != nil {
							return err
						}
					}
					if act.Stop {
						return nil
					}
					continue next
				case act.Stop:
					return f.flush(dst, buf[:end], end)
				}
			}
			off = end
		}
		if off > 0 {
			if err := f.flush(dst, buf[:off], off); err != nil {
				return err
			}
			continue
		}
		// The next message is not complete in the buffer.
		if err := f.forwardLarge(dst, watch, fn); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
}

// errStop ends Forward from forwardLarge without an error.
var errStop = errors.New("stop")

// flush writes b and discards n read bytes (n >= len(b) when dropping).
func (f *Forwarder) flush(dst io.Writer, b []byte, n int) error {
	if len(b) > 0 {
		if _, err := dst.Write(b); err != nil {
			return err
		}
	}
	_, err := f.src.Discard(n)
	return err
}

// forwardLarge handles a message at the head of the buffer that is not yet
// complete: it waits for it when it fits the buffer, reads a watched one into
// scratch, and streams an unwatched one through.
func (f *Forwarder) forwardLarge(dst io.Writer, watch *Watch, fn OnMessage) error {
	hdr, err := f.src.Peek(5)
	if err != nil {
		return err
	}
	typ := hdr[0]
	total := 1 + int(binary.BigEndian.Uint32(hdr[1:]))
	if total <= f.src.Size() {
		_, err := f.src.Peek(total) // blocks until it is whole; the loop then sends it
		return err
	}
	if watch[typ] {
		if total-5 > f.maxWatched {
			return &ErrMessageTooLarge{Type: typ, Length: total - 1, Max: f.maxWatched}
		}
		if cap(f.scratch) < total {
			f.scratch = make([]byte, total)
		}
		msg := f.scratch[:total]
		if _, err := io.ReadFull(f.src, msg); err != nil {
			return err
		}
		act, err := fn(typ, msg[5:])
		if err != nil {
			return err
		}
		out := msg
		switch {
		case act.Replace != nil:
			out = act.Replace
		case act.Drop:
			out = nil
		}
		if len(out) > 0 {
			if _, err := dst.Write(out); err != nil {
				return err
			}
		}
		if cap(f.scratch) > 1<<20 {
			f.scratch = nil // do not pin a huge buffer for the session's life
		}
		if act.Stop {
			return errStop
		}
		return nil
	}
	for remaining := total; remaining > 0; {
		if _, err := f.src.Peek(1); err != nil {
			return err
		}
		chunk, _ := f.src.Peek(min(f.src.Buffered(), remaining))
		if _, err := dst.Write(chunk); err != nil {
			return err
		}
		f.src.Discard(len(chunk))
		remaining -= len(chunk)
	}
	return nil
}
