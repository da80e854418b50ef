package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/pgwire"
)

// backendWatch are the backend messages the relay must understand; all
// others (rows above all) pass through undecoded.
var backendWatch = pgwire.NewWatch('Z', 'E')

// flushAt is how much client traffic may collect before it is sent on even
// without a message that asks for an answer (a long COPY FROM STDIN).
const flushAt = 32 << 10

// relay runs the established session: a clientReader goroutine feeds the
// backend while this goroutine forwards the backend's answers. It returns
// when both are done.
func (s *session) relay(fe *pgproto3.Backend) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		clientReader{s: s, fe: fe}.run()
	}()
	backendReader{s: s}.run()
	<-done
}

// clientReader forwards client messages to the backend, whole and bounded.
type clientReader struct {
	s  *session
	fe *pgproto3.Backend
}

func (r clientReader) run() {
	s := r.s
	err := pumpClient(r.fe, s.backend)
	var ce *clientError
	switch {
	case err == errTerminate:
		s.end(nil)
	case errors.As(err, &ce):
		s.end(ce)
	case errors.Is(err, errBackendWrite):
		s.end(fatal(codeConnectionFailure, "connection to the database was lost"))
	default:
		s.end(clientReadError(err))
	}
}

var (
	// errTerminate: the client said goodbye (and it was passed on).
	errTerminate = errors.New("client terminated the session")
	// errBackendWrite: the backend connection failed under a write.
	errBackendWrite = errors.New("write to backend failed")
)

// pumpClient reads whole client messages from fe and writes them to be,
// collecting them until the client waits for an answer. It returns
// errTerminate after passing on a Terminate, a *clientError for input the
// client must be told about, or the read or write error that ended it.
func pumpClient(fe *pgproto3.Backend, be io.Writer) error {
	buf := make([]byte, 0, 8<<10)
	for {
		msg, err := fe.Receive()
		if err != nil {
			return err
		}
		if buf, err = msg.Encode(buf); err != nil {
			return fatal(codeProtocolViolation, "invalid message from client")
		}
		_, terminate := msg.(*pgproto3.Terminate)
		if terminate || needsFlush(msg) || len(buf) >= flushAt {
			if _, err := be.Write(buf); err != nil {
				return fmt.Errorf("%w: %w", errBackendWrite, err)
			}
			if terminate {
				return errTerminate
			}
			if cap(buf) > 1<<20 {
				buf = make([]byte, 0, 8<<10) // let a huge message's buffer go
			}
			buf = buf[:0]
		}
	}
}

// needsFlush reports whether the client now waits for an answer, so that
// what has collected must reach the server.
func needsFlush(msg pgproto3.FrontendMessage) bool {
	switch msg.(type) {
	case *pgproto3.Sync, *pgproto3.Flush, *pgproto3.Query, *pgproto3.FunctionCall,
		*pgproto3.CopyDone, *pgproto3.CopyFail:
		return true
	}
	return false
}

// clientReadError maps a failed client read to what the client is told:
// nothing when it simply went away.
func clientReadError(err error) *clientError {
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooBig):
		return fatal(codeProtocolViolation, "message too large")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return nil
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return nil
	}
	return fatal(codeProtocolViolation, "invalid message from client")
}

// backendReader forwards backend messages to the client and is the only
// writer to the client once the session is established.
type backendReader struct {
	s *session
}

func (r backendReader) run() {
	s := r.s
	fw := pgwire.NewForwarder(s.backend, pgwire.DefaultBufferSize, 1<<30, 16<<20)
	sawFatal := false
	err := fw.Forward(s.client, &backendWatch, func(typ byte, body []byte) (bool, bool, error) {
		if typ == 'E' && isFatal(body) {
			sawFatal = true
		}
		return false, false, nil
	})
	s.end(fatal(codeConnectionFailure, "connection to the database was lost"))
	if reason := s.endReason(); reason != nil && !sawFatal {
		if err != nil && !isClosedErr(err) {
			s.log.Warn("backend connection lost", "err", err)
		}
		reason.send(s.client)
	}
	s.client.Close()
}

// isFatal reports whether an ErrorResponse body has severity FATAL or PANIC.
func isFatal(body []byte) bool {
	for len(body) > 1 && body[0] != 0 {
		field := body[0]
		end := 1
		for end < len(body) && body[end] != 0 {
			end++
		}
		if field == 'V' || field == 'S' {
			v := string(body[1:end])
			return v == "FATAL" || v == "PANIC"
		}
		body = body[min(end+1, len(body)):]
	}
	return false
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
