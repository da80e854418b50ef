package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestMsgReaderStartup(t *testing.T) {
	startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters: map[string]string{"user": "app"}}).Encode(nil)
	cancel, _ := (&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}).Encode(nil)
	big := make([]byte, 10005)
	binary.BigEndian.PutUint32(big, uint32(len(big)))
	binary.BigEndian.PutUint32(big[4:], 3<<16)
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"startup", startup, "*pgproto3.StartupMessage", false},
		{"cancel", cancel, "*pgproto3.CancelRequest", false},
		{"over the cap", big, "", true},
		{"unknown code", []byte{0, 0, 0, 8, 0, 9, 9, 9}, "", true},
		{"truncated", startup[:len(startup)-2], "", true},
	}
	for _, tt := range tests {
		m := newMsgReader(iotest.OneByteReader(bytes.NewReader(tt.in)), 1<<20)
		msg, err := m.ReceiveStartup()
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err %v", tt.name, err)
			continue
		}
		if err == nil {
			if got := typeName(msg); got != tt.want {
				t.Errorf("%s: got %s", tt.name, got)
			}
		}
	}
	m := newMsgReader(bytes.NewReader(startup), 1<<20)
	msg, err := m.ReceiveStartup()
	if err != nil || msg.(*pgproto3.StartupMessage).Parameters["user"] != "app" {
		t.Fatalf("decode: %v %+v", err, msg)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *pgproto3.StartupMessage:
		return "*pgproto3.StartupMessage"
	case *pgproto3.CancelRequest:
		return "*pgproto3.CancelRequest"
	}
	return "?"
}

// TestMsgReaderReadsExactlyOneMessage: nothing after a message is consumed,
// and an idle reader holds no buffer.
func TestMsgReaderReadsExactlyOneMessage(t *testing.T) {
	in := encodeAll(t, &pgproto3.Query{String: "select 1"}, &pgproto3.Sync{})
	r := bytes.NewReader(in)
	m := newMsgReader(r, 1<<20)
	msg, err := m.Receive()
	if err != nil || msg.(*pgproto3.Query).String != "select 1" {
		t.Fatalf("%v %+v", err, msg)
	}
	if r.Len() != 5 {
		t.Fatalf("read ahead: %d bytes left, want the Sync's 5", r.Len())
	}
	m.release()
	if m.body != nil {
		t.Fatal("release kept the buffer")
	}
	if _, err := m.Receive(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Receive(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("end of stream: %v", err)
	}
	tooBig := newMsgReader(bytes.NewReader(encodeAll(t, &pgproto3.Query{String: string(make([]byte, 100))})), 50)
	if _, err := tooBig.Receive(); !errors.Is(err, errMessageTooLarge) {
		t.Fatalf("bound: %v", err)
	}
}

func BenchmarkMsgReaderQuery(b *testing.B) {
	one := encodeAll(b, &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 42"})
	r := bytes.NewReader(nil)
	m := newMsgReader(r, 1<<20)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(one)
		if _, err := m.Receive(); err != nil {
			b.Fatal(err)
		}
	}
}
