package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the console sends.
const (
	codeSyntaxError        = "42601"
	codeFeatureUnsupported = "0A000"
	codeProtocolViolation  = "08P01"
	codeAdminShutdown      = "57P01"
	codeQueryCanceled      = "57014"
	codeSystemError        = "58000"
	codeInternal           = "XX000"
)

// pgError is an error meant for the admin client: a message and its
// SQLSTATE, and optionally a hint.
type pgError struct {
	severity string
	code     string
	message  string
	hint     string
}

func (e *pgError) Error() string { return e.code + ": " + e.message }

func syntaxError(format string, args ...any) *pgError {
	return &pgError{severity: "ERROR", code: codeSyntaxError, message: fmt.Sprintf(format, args...)}
}

// sqlStater is implemented by errors that carry their own SQLSTATE, such as
// *pgconn.PgError. A Controller returns one to choose the code the admin
// sees instead of 58000.
type sqlStater interface {
	SQLState() string
}

// toPgError is the one place that shapes what the admin client sees for an
// error. Controller errors keep their text: the reader is an admin and the
// proxy, not a backend, wrote it.
func toPgError(err error) *pgError {
	if pe, ok := errors.AsType[*pgError](err); ok {
		return pe
	}
	code := codeSystemError
	var s sqlStater
	if errors.As(err, &s) && validSQLState(s.SQLState()) {
		code = s.SQLState()
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code = codeQueryCanceled
	}
	return &pgError{severity: "ERROR", code: code, message: err.Error()}
}

// validSQLState reports whether s looks like a SQLSTATE: five digits or
// upper-case letters. Anything else would confuse clients, so it is replaced.
func validSQLState(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

func (e *pgError) response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.severity,
		SeverityUnlocalized: e.severity,
		Code:                e.code,
		Message:             e.message,
		Hint:                e.hint,
	}
}
