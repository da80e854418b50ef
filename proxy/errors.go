package proxy

import (
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes pgshield sends itself.
const (
	codeInvalidAuthorization  = "28000"
	codeProtocolViolation     = "08P01"
	codeConnectionFailure     = "08006"
	codeUnableToConnect       = "08001"
	codeAdminShutdown         = "57P01"
	codeTooManyConnections    = "53300"
	codeInsufficientPrivilege = "42501"
	codeInternal              = "XX000"
)

// clientError is an error meant for the client: a short message with its
// SQLSTATE. Backend detail and secrets never go into one; they go to the log.
type clientError struct {
	severity string
	code     string
	message  string
	detail   string
}

func (e *clientError) Error() string { return e.code + ": " + e.message }

func fatal(code, message string) *clientError {
	return &clientError{severity: "FATAL", code: code, message: message}
}

// encode returns the ErrorResponse message for e.
func (e *clientError) encode() []byte {
	msg := &pgproto3.ErrorResponse{
		Severity:            e.severity,
		SeverityUnlocalized: e.severity,
		Code:                e.code,
		Message:             e.message,
		Detail:              e.detail,
	}
	b, err := msg.Encode(nil)
	if err != nil {
		// Only possible for a message over 1 GiB; ours are a line long.
		panic(err)
	}
	return b
}

// send writes e to w, ignoring errors: the connection is being closed anyway.
func (e *clientError) send(w io.Writer) { _, _ = w.Write(e.encode()) }
