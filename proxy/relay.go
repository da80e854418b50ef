package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/pgwire"
)

// flushAt is how much client traffic may collect before it is sent on even
// without a message that asks for an answer (a long COPY FROM STDIN).
const flushAt = 32 << 10

// relay runs the established session: this goroutine pumps client
// messages; each backend attachment has a backendReader goroutine that
// forwards the answers and hands the connection back to the pool when the
// transaction is over. It returns when the client side is done and the
// last reader has stopped.
func (s *session) relay(fe *msgReader) {
	pump := newClientPump(s, fe)
	s.end(endFor(pump.pump()))
	s.waitReaders()
}

var (
	// errTerminate: the client said goodbye.
	errTerminate = errors.New("client terminated the session")
	// errBackendWrite: the backend connection failed under a write.
	errBackendWrite = errors.New("write to backend failed")
	// errDesync: a response did not fit what pgshield sent.
	errDesync = errors.New("backend response does not match the request")
)

// clientReadError maps a failed client read to what the client is told:
// nothing when it simply went away.
func clientReadError(err error) *pgwire.Error {
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	switch {
	case errors.As(err, &tooBig), errors.Is(err, errMessageTooLarge):
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
func endFor(err error) *pgwire.Error {
	var ce *pgwire.Error
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

// backendReader forwards one attachment's backend messages to the client.
// It is the only writer to the client while it runs, and at most one runs
// per session. Rows and copy data pass undecoded; every other response is
// matched against the session's queue of expectations.
type backendReader struct {
	s  *session
	bc *backendConn
}

// backendWatch: everything but rows, copy data, notices and notifications;
// auditWatch adds copy data, whose bytes the audit record counts.
var backendWatch, auditWatch = func() (pgwire.Watch, pgwire.Watch) {
	var w pgwire.Watch
	for t := 0; t < 256; t++ {
		w[t] = true
	}
	for _, t := range []byte{'D', 'd', 'N', 'A'} {
		w[t] = false
	}
	a := w
	a['d'] = true
	return w, a
}()

func (r backendReader) run() {
	s, bc := r.s, r.bc
	defer s.readerDone()
	released := false
	watch := &backendWatch
	if s.srv.opts.Audit != nil {
		watch = &auditWatch
	}
	out := &answerWriter{s: s}
	err := bc.fw.Forward(out, watch, func(typ byte, body []byte) (pgwire.Action, error) {
		act, release, outcome, err := r.onMessage(typ, body)
		if outcome != nil {
			out.outcomes = append(out.outcomes, outcome)
		}
		if err == errNeedSync {
			// The backend skips the client's Query after pgshield's own
			// statement failed; a Sync makes it answer.
			err = bc.write([]byte{'S', 0, 0, 0, 4})
		}
		if release {
			released = true
			act.Stop = true
		}
		return act, err
	})
	out.submit() // outcomes of answers dropped rather than written
	if released {
		if bc.fw.Buffered() > 0 {
			bc.dirty = true // unsolicited bytes after the last answer: do not hand them on
		}
		bc.pool.release(bc)
		return
	}
	bc.pool.discard(bc)
	s.end(fatal(codeConnectionFailure, "connection to the database was lost"))
	if reason := s.endReason(); reason != nil && !s.sawFatal {
		if err != nil && !isClosedErr(err) && !errors.Is(err, errInjectionFailed) {
			s.log.Warn("backend connection lost", "err", err)
		}
		sendError(s.client, reason)
	}
	s.client.Close()
}

// answerWriter writes a backendReader's answers to the client and then
// records the outcomes of the statements they finish (recordAfter): the
// answer reaches the client before any audit work is done for it, and the
// client reads it while the record is written. The statement's own record
// was written before the statement was forwarded. Each reader has its own:
// the session is detached in the callback at ReadyForQuery, before that
// message is written, so the next reader may start while this one is
// still recording (a shared one raced; see the race detector in
// TestReloadUnderLoad).
type answerWriter struct {
	s        *session
	outcomes []*audit.Record
}

func (w *answerWriter) Write(b []byte) (int, error) {
	n, err := w.s.client.Write(b)
	w.submit()
	return n, err
}

func (w *answerWriter) submit() {
	for i, rec := range w.outcomes {
		w.s.recordAfter(rec)
		w.outcomes[i] = nil
	}
	w.outcomes = w.outcomes[:0]
}

// onMessage decides one watched backend message. release: the connection
// is idle and detached from the session; it goes back to the pool.
// outcome, when set, is the audit record of a finished statement.
func (r backendReader) onMessage(typ byte, body []byte) (pgwire.Action, bool, *audit.Record, error) {
	s := r.s
	if typ == 'S' {
		return r.parameterStatus(body), false, nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if typ == 'd' { // only watched with an audit log: count COPY TO bytes
		if len(s.queue) > 0 {
			s.queue[0].copyBytes += int64(len(body))
		}
		return pgwire.Action{}, false, nil, nil
	}
	if typ == 'E' && isFatal(body) {
		s.sawFatal = true
	}
	if len(s.queue) == 0 {
		if typ == 'E' {
			return pgwire.Action{}, false, nil, nil // e.g. FATAL at server shutdown
		}
		return pgwire.Action{}, false, nil, fmt.Errorf("%w: unexpected %q", errDesync, typ)
	}
	head := &s.queue[0]
	var outcome *audit.Record
	if head.auditSeq != 0 {
		switch {
		case typ == 'E':
			if head.sqlstate == "" {
				head.sqlstate = errorField(body, 'C')
			}
			if head.msg != 'Q' {
				outcome = r.outcome(head)
			}
		case typ == 'C':
			if n := commandRows(body); n > 0 {
				head.rows += n
			}
			if head.msg == 'E' {
				outcome = r.outcome(head)
			}
		case typ == 'Z' || (head.msg == 'E' && (typ == 's' || typ == 'I')):
			outcome = r.outcome(head)
		}
	}
	switch typ {
	case 'E':
		act, release, err := r.errorResponse(head, body)
		return act, release, outcome, err
	case 'Z':
		if head.msg != 'S' && head.msg != 'Q' {
			return pgwire.Action{}, false, nil, fmt.Errorf("%w: ReadyForQuery answers %q", errDesync, head.msg)
		}
		own := head.own
		s.popLocked(1)
		if len(body) == 1 {
			if !own && body[0] == 'I' { // a transaction ended, implicit or explicit
				s.pool.counters.transactions.Add(1)
				s.mid.Transaction()
			}
			if head.msg == 'Q' && !own && !head.started.IsZero() {
				s.mid.Statement(s.srv.opts.Now().Sub(head.started))
			}
			s.status = body[0]
		}
		release := s.releasableLocked()
		if release {
			s.detachLocked()
		}
		return pgwire.Action{Drop: own}, release, outcome, nil
	}
	switch typ {
	case 'G':
		head.copyDir = 'i'
	case 'H':
		head.copyDir = 'o'
	}
	done, fits := head.terminal(typ)
	if !fits {
		return pgwire.Action{}, false, nil, fmt.Errorf("%w: %q answers %q", errDesync, typ, head.msg)
	}
	if done && head.msg == 'E' && !head.own && !head.started.IsZero() {
		s.mid.Statement(s.srv.opts.Now().Sub(head.started))
	}
	act := pgwire.Action{Drop: head.own}
	if typ == 'I' && head.replaceEmpty != nil {
		act.Replace = head.replaceEmpty
	}
	if done {
		s.popLocked(1)
	}
	return act, false, outcome, nil
}

// outcome is the audit record that closes head's statement record.
func (r backendReader) outcome(head *expectation) *audit.Record {
	rows := head.rows
	rec := &audit.Record{Kind: audit.KindOutcome, Ref: head.auditSeq, Rows: &rows, SQLState: head.sqlstate,
		DurationUS: r.s.srv.opts.Now().Sub(head.started).Microseconds(), BackendPID: r.bc.PID}
	switch head.copyDir {
	case 'i':
		rec.Detail = map[string]string{"copy": "from_client", "copy_bytes": strconv.FormatInt(r.s.copyIn.Swap(0), 10)}
	case 'o':
		rec.Detail = map[string]string{"copy": "to_client", "copy_bytes": strconv.FormatInt(head.copyBytes, 10)}
	}
	head.auditSeq = 0 // one outcome per statement
	return rec
}

// errorResponse handles an ErrorResponse answering head. In the extended
// protocol the backend then skips every message up to the next Sync, so
// their expectations go too; a Query goes on to its ReadyForQuery.
func (r backendReader) errorResponse(head *expectation, body []byte) (pgwire.Action, bool, error) {
	s := r.s
	if head.own {
		return r.injectionFailed(head, body)
	}
	act := pgwire.Action{}
	if head.replaceError != nil {
		act.Replace = head.replaceError
	}
	if head.forgetKey != "" {
		r.bc.forget(head.forgetKey)
	}
	if head.clientName != "" {
		delete(s.stmts, head.clientName)
	}
	if head.msg != 'Q' {
		s.skipToSyncLocked()
	}
	return act, false, nil
}

// injectionFailed handles the backend refusing pgshield's own message.
// Called with s.mu held.
func (r backendReader) injectionFailed(head *expectation, body []byte) (pgwire.Action, bool, error) {
	s := r.s
	role := s.grant.Rule.Role
	switch head.onErr {
	case injectForward:
		if head.forgetKey != "" {
			r.bc.forget(head.forgetKey)
		}
		s.skipToSyncLocked()
		return pgwire.Action{}, false, nil
	case injectFatal:
		s.log.Error("could not prepare the backend session; ending it", "role", role, "backend_error", errorMessage(body))
		s.endLocked(fatal(codeInsufficientPrivilege, fmt.Sprintf("pgshield could not run the session as role %q", role)))
		return pgwire.Action{Drop: true}, false, errInjectionFailed
	}
	s.log.Error("could not apply the identity's role; statement refused", "role", role, "backend_error", errorMessage(body))
	for len(s.queue) > 0 && s.queue[0].own {
		s.popLocked(1)
	}
	ce := &pgwire.Error{Severity: "ERROR", Code: codeInsufficientPrivilege,
		Message: fmt.Sprintf("pgshield could not run the transaction as role %q", role)}
	if len(s.queue) > 0 && s.queue[0].msg == 'Q' {
		// The Sync's ReadyForQuery will answer the skipped Query.
		return pgwire.Action{Replace: ce.Encode()}, false, errNeedSync
	}
	s.skipToSyncLocked()
	return pgwire.Action{Replace: ce.Encode()}, false, nil
}

// errNeedSync asks the reader to send the backend a Sync.
var errNeedSync = errors.New("sync needed")

// errInjectionFailed ends the reader after pgshield's own session setup failed.
var errInjectionFailed = errors.New("session setup failed")

// parameterStatus keeps the connection's view of a reported parameter and
// passes the message on only when the client's view differs.
func (r backendReader) parameterStatus(body []byte) pgwire.Action {
	var ps pgproto3.ParameterStatus
	if err := ps.Decode(body); err != nil {
		return pgwire.Action{}
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r.bc.params[ps.Name] = ps.Value
	if s.view[ps.Name] == ps.Value {
		return pgwire.Action{Drop: true}
	}
	s.view[ps.Name] = ps.Value
	return pgwire.Action{}
}

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

// write sends bytes to the backend; the pump and, after a failed
// injection, the reader both write.
func (bc *backendConn) write(b []byte) error {
	bc.wmu.Lock()
	defer bc.wmu.Unlock()
	bc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := bc.Conn.Write(b)
	return err
}
