package pgwire

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestErrorEncode: what pgshield writes is what a client's protocol library
// reads back, field for field.
func TestErrorEncode(t *testing.T) {
	tests := []Error{
		{Severity: "FATAL", Code: "28000", Message: "certificate rejected"},
		{Severity: "ERROR", Code: "42601", Message: "unknown admin command", Hint: "SHOW HELP lists the admin commands."},
		{Severity: "ERROR", Code: "42501", Message: "denied", Detail: "rule 3"},
	}
	for _, want := range tests {
		fe := pgproto3.NewFrontend(bytes.NewReader(want.Encode()), nil)
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("%s: %v", want.Code, err)
		}
		got, ok := msg.(*pgproto3.ErrorResponse)
		if !ok {
			t.Fatalf("%s: decoded %T", want.Code, msg)
		}
		if got.Severity != want.Severity || got.SeverityUnlocalized != want.Severity || got.Code != want.Code ||
			got.Message != want.Message || got.Detail != want.Detail || got.Hint != want.Hint {
			t.Errorf("decoded %+v, want %+v", got, want)
		}
		if want.Error() != want.Code+": "+want.Message {
			t.Errorf("Error() = %q", want.Error())
		}
	}
}
