package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/pgshield/pgshield/pgwire"
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

func syntaxError(format string, args ...any) *pgwire.Error {
	return &pgwire.Error{Severity: "ERROR", Code: codeSyntaxError, Message: fmt.Sprintf(format, args...)}
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
func toPgError(err error) *pgwire.Error {
	if pe, ok := errors.AsType[*pgwire.Error](err); ok {
		return pe
	}
	code := codeSystemError
	var s sqlStater
	if errors.As(err, &s) && validSQLState(s.SQLState()) {
		code = s.SQLState()
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code = codeQueryCanceled
	}
	return &pgwire.Error{Severity: "ERROR", Code: code, Message: err.Error()}
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
