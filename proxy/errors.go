package proxy

import (
	"io"

	"github.com/pgshield/pgshield/pgwire"
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

func fatal(code, message string) *pgwire.Error {
	return &pgwire.Error{Severity: "FATAL", Code: code, Message: message}
}

// sendError writes e to w, ignoring errors: the connection is being closed
// anyway.
func sendError(w io.Writer, e *pgwire.Error) { _, _ = w.Write(e.Encode()) }
