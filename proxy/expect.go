package proxy

import "time"

// expectation is one message pgshield sent to the backend whose answer has
// not fully arrived. The session keeps them in order (the backend answers
// in order), so the reader knows which message every response belongs to:
// which to pass to the client, which to swallow (pgshield's own), which
// error to rewrite, and when the connection is idle and can go back to the
// pool.
type expectation struct {
	// msg is the frontend message type: 'P' Parse, 'B' Bind, 'D' Describe,
	// 'E' Execute, 'C' Close, 'S' Sync, 'Q' Query.
	msg byte
	// describeStatement: a Describe of a statement, answered by
	// ParameterDescription then RowDescription or NoData.
	describeStatement bool
	// own: pgshield's message; its responses never reach the client.
	own bool
	// onErr says what an error answering an own message means.
	onErr onInjectError
	// replaceError, when set, is sent instead of the error this message is
	// meant to produce (a denial marker, an emulated error).
	replaceError []byte
	// replaceEmpty, when set, is sent instead of EmptyQueryResponse (a
	// DEALLOCATE answered by pgshield itself).
	replaceEmpty []byte
	// forgetKey: a Parse of a client statement; if it fails, the statement
	// does not exist on the connection.
	forgetKey string
	// clientName: the client's statement name created by this Parse; if it
	// fails, the client has no such statement.
	clientName string
	// auditSeq links the statement's audit record to its outcome; zero:
	// none. started is when it was sent; rows and sqlstate accumulate.
	auditSeq uint64
	started  time.Time
	rows     int64
	sqlstate string
	// copyDir is 'i' or 'o' once the statement turned out to be a COPY
	// (CopyInResponse, CopyOutResponse); copyBytes counts what came out.
	copyDir   byte
	copyBytes int64
}

// onInjectError says what an error answering pgshield's own message means.
type onInjectError uint8

const (
	// injectRecover: the transaction's enforcement failed; the client's
	// statement is refused with an error and the session goes on.
	injectRecover onInjectError = iota
	// injectFatal: a session-level role change or parameter sync failed;
	// the session ends.
	injectFatal
	// injectForward: a message made on the client's behalf (re-preparing
	// its statement on this connection): its error is the client's.
	injectForward
)

// terminal reports whether a response of type typ completes the answer to
// e (so e leaves the queue). ErrorResponse and ReadyForQuery are handled by
// the reader itself.
func (e *expectation) terminal(typ byte) (ok, fits bool) {
	switch e.msg {
	case 'P':
		return typ == '1', typ == '1'
	case 'B':
		return typ == '2', typ == '2'
	case 'C':
		return typ == '3', typ == '3'
	case 'D':
		if typ == 't' {
			return false, e.describeStatement
		}
		return typ == 'T' || typ == 'n', typ == 'T' || typ == 'n'
	case 'E':
		switch typ {
		case 'C', 's', 'I':
			return true, true
		case 'G', 'H', 'W', 'c', 'T':
			return false, true
		}
		return false, false
	case 'Q':
		return false, true // a Query ends with its ReadyForQuery
	}
	return false, false
}
