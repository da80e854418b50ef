package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/pgwire"
)

// flushAt is how much client traffic may collect before it is sent on even
// without a message that asks for an answer (a long COPY FROM STDIN).
const flushAt = 32 << 10

// relay runs the established session: a clientPump goroutine feeds the
// backend while this goroutine forwards the backend's answers. It returns
// when both are done.
func (s *session) relay(fe *pgproto3.Backend) {
	tx := newTxState()
	be := &lockedWriter{w: s.backend}
	pump := newClientPump(s, fe, be, tx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump.run()
	}()
	backendReader{s: s, tx: tx, be: be}.run()
	tx.close()
	<-done
}

var (
	// errTerminate: the client said goodbye (and it was passed on).
	errTerminate = errors.New("client terminated the session")
	// errBackendWrite: the backend connection failed under a write.
	errBackendWrite = errors.New("write to backend failed")
)

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

// endFor maps what ended the client pump to what the client is told.
func endFor(err error) *clientError {
	var ce *clientError
	switch {
	case err == errTerminate:
		return nil
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, errBackendWrite):
		return fatal(codeConnectionFailure, "connection to the database was lost")
	}
	return clientReadError(err)
}

// backendReader forwards backend messages to the client and is the only
// writer to the client once the session is established. It decodes only
// ReadyForQuery (transaction status), ErrorResponse (fatal errors, denial
// markers), and, while an injection is armed, the responses to it.
type backendReader struct {
	s  *session
	tx *txState
	be io.Writer
}

// backendWatch: rows ('D') and completions are watched only so that the
// responses to pgshield's own injected statement can be swallowed; the
// check is one atomic load when nothing is armed.
var backendWatch = pgwire.NewWatch('Z', 'E', '1', '2', '3', 'D', 'C')

func (r backendReader) run() {
	s := r.s
	fw := pgwire.NewForwarder(s.backend, pgwire.DefaultBufferSize, 1<<30, 16<<20)
	sawFatal := false
	err := fw.Forward(s.client, &backendWatch, func(typ byte, body []byte) (pgwire.Action, error) {
		switch typ {
		case 'Z':
			dropped := r.tx.consume()
			if len(body) == 1 {
				r.tx.readyForQuery(body[0])
			}
			return pgwire.Action{Drop: dropped}, nil
		case 'E':
			if isFatal(body) {
				sawFatal = true
			}
			if r.tx.dropping() {
				return r.injectionFailed(body)
			}
			if repl := r.tx.matchDenial(body); repl != nil {
				return pgwire.Action{Replace: repl}, nil
			}
		default:
			if r.tx.consume() {
				return pgwire.Action{Drop: true}, nil
			}
		}
		return pgwire.Action{}, nil
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

// injectionFailed handles the backend refusing pgshield's own statement (a
// mapped role that does not exist, a revoked membership): the client's
// statement does not run, and the client is told why, fail closed.
func (r backendReader) injectionFailed(body []byte) (pgwire.Action, error) {
	role := r.s.grant.Rule.Role
	r.s.log.Error("could not apply the identity's role; statement refused", "role", role,
		"backend_error", errorMessage(body))
	switch r.tx.injectionFailed() {
	case injectFatal:
		r.s.end(fatal(codeInsufficientPrivilege, fmt.Sprintf("pgshield could not run the session as role %q", role)))
		return pgwire.Action{Drop: true}, errInjectionFailed
	case injectRecoverSimple:
		// The backend skips the client's Query until a Sync; the Sync's
		// ReadyForQuery answers the Query.
		if _, err := r.be.Write([]byte{'S', 0, 0, 0, 4}); err != nil {
			return pgwire.Action{}, err
		}
	}
	ce := &clientError{severity: "ERROR", code: codeInsufficientPrivilege,
		message: fmt.Sprintf("pgshield could not run the transaction as role %q", role)}
	return pgwire.Action{Replace: ce.encode()}, nil
}

// errInjectionFailed ends the reader after a session-level role change failed.
var errInjectionFailed = errors.New("session role change failed")

// isFatal reports whether an ErrorResponse body has severity FATAL or PANIC.
func isFatal(body []byte) bool {
	v := errorField(body, 'V')
	if v == "" {
		v = errorField(body, 'S')
	}
	return v == "FATAL" || v == "PANIC"
}

func errorMessage(body []byte) string { return errorField(body, 'M') }

// errorField returns one field of an ErrorResponse body.
func errorField(body []byte, want byte) string {
	for len(body) > 1 && body[0] != 0 {
		field := body[0]
		end := 1
		for end < len(body) && body[end] != 0 {
			end++
		}
		if field == want {
			return string(body[1:end])
		}
		body = body[min(end+1, len(body)):]
	}
	return ""
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)
}
