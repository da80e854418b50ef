package pgwire

import "github.com/jackc/pgx/v5/pgproto3"

// Error is an error pgshield answers a client with itself, as a PostgreSQL
// ErrorResponse: the proxy's refusals and the admin console's errors alike.
// Backend detail and secrets never go into one; they go to the log.
type Error struct {
	Severity string // ERROR or FATAL
	Code     string // the SQLSTATE
	Message  string
	Detail   string
	Hint     string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Response returns e as a protocol message.
func (e *Error) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
}

// Encode returns e's ErrorResponse message, framed.
func (e *Error) Encode() []byte {
	b, err := e.Response().Encode(nil)
	if err != nil {
		// Only possible for a message over 1 GiB; ours are a line long.
		panic(err)
	}
	return b
}
