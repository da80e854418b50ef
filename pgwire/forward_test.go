package pgwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"testing/iotest"
)

func msg(typ byte, body []byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func stream(msgs ...[]byte) []byte { return bytes.Join(msgs, nil) }

func TestForwardPassesEverythingByteIdentical(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100_000)
	in := stream(msg('T', []byte("desc")), msg('D', []byte("row1")), msg('D', big), msg('C', []byte("SELECT 2\x00")),
		msg('E', bytes.Repeat([]byte("e"), 40_000)), msg('Z', []byte("I")))
	readers := map[string]func([]byte) io.Reader{
		"whole":   func(b []byte) io.Reader { return bytes.NewReader(b) },
		"onebyte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":    func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			f := NewForwarder(mk(in), 1024, 1<<20, 1<<20)
			var out bytes.Buffer
			var seen []byte
			w := NewWatch('Z', 'E')
			err := f.Forward(&out, &w, func(typ byte, body []byte) (Action, error) {
				seen = append(seen, typ)
				return Action{Stop: typ == 'Z'}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatalf("output differs: %d vs %d bytes", out.Len(), len(in))
			}
			if string(seen) != "EZ" {
				t.Fatalf("watched %q", seen)
			}
		})
	}
}

func TestForwardDropAndStop(t *testing.T) {
	in := stream(msg('1', nil), msg('S', []byte("a\x00b\x00")), msg('2', nil), msg('E', []byte("x")), msg('Z', []byte("T")), msg('D', []byte("next")))
	f := NewForwarder(bytes.NewReader(in), 64, 1<<20, 1<<20)
	var out bytes.Buffer
	w := NewWatch('S', 'E', 'Z')
	err := f.Forward(&out, &w, func(typ byte, body []byte) (Action, error) {
		switch typ {
		case 'S':
			return Action{Drop: true}, nil
		case 'E':
			return Action{Replace: msg('E', []byte("replaced"))}, nil
		}
		return Action{Stop: typ == 'Z'}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := stream(msg('1', nil), msg('2', nil), msg('E', []byte("replaced")), msg('Z', []byte("T")))
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("got %q want %q", out.Bytes(), want)
	}
	if f.Buffered() != len(msg('D', []byte("next"))) {
		t.Fatalf("the message after stop was consumed: %d buffered", f.Buffered())
	}
}

func TestForwardBounds(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"short length", []byte{'D', 0, 0, 0, 2}},
		{"over max", msg('D', make([]byte, 5000))},
	}
	for _, tt := range tests {
		f := NewForwarder(bytes.NewReader(tt.in), 64, 4096, 4096)
		var w Watch
		if err := f.Forward(io.Discard, &w, nil); err == nil || err == io.EOF {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	// A watched message larger than maxWatched is refused, not buffered.
	f := NewForwarder(bytes.NewReader(msg('E', make([]byte, 5000))), 64, 1<<20, 1024)
	w := NewWatch('E')
	if err := f.Forward(io.Discard, &w, func(byte, []byte) (Action, error) { return Action{}, nil }); err == nil || err == io.EOF {
		t.Errorf("large watched: err = %v", err)
	}
}

func TestForwardAllocs(t *testing.T) {
	batch := stream(msg('D', []byte("0123456789")), msg('D', []byte("abcdefghij")), msg('C', []byte("SELECT 2\x00")), msg('Z', []byte("I")))
	r := bytes.NewReader(nil)
	f := NewForwarder(r, DefaultBufferSize, 1<<20, 1<<20)
	w := NewWatch('Z')
	stop := func(typ byte, body []byte) (Action, error) { return Action{Stop: true}, nil }
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(batch)
		if err := f.Forward(io.Discard, &w, stop); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Forward allocates %.1f times per batch", allocs)
	}
}

func BenchmarkForwardRows(b *testing.B) {
	var rows [][]byte
	for i := 0; i < 1000; i++ {
		rows = append(rows, msg('D', bytes.Repeat([]byte("r"), 100)))
	}
	rows = append(rows, msg('C', []byte("SELECT 1000\x00")), msg('Z', []byte("I")))
	batch := stream(rows...)
	r := bytes.NewReader(nil)
	f := NewForwarder(r, DefaultBufferSize, 1<<20, 1<<20)
	w := NewWatch('Z')
	stop := func(typ byte, body []byte) (Action, error) { return Action{Stop: true}, nil }
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(batch)
		if err := f.Forward(io.Discard, &w, stop); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadStartup(t *testing.T) {
	pkt := func(n uint32, rest []byte) []byte {
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, n)
		return append(b, rest...)
	}
	ssl := pkt(8, []byte{0x04, 0xd2, 0x16, 0x2f})
	tests := []struct {
		name    string
		in      []byte
		code    uint32
		wantErr bool
	}{
		{"ssl request", ssl, SSLRequestCode, false},
		{"too large", pkt(MaxStartupPacket+5, nil), 0, true},
		{"too small", pkt(7, []byte{0, 0, 0}), 0, true},
		{"truncated", pkt(100, []byte{0, 3, 0, 0}), 0, true},
	}
	for _, tt := range tests {
		code, _, err := ReadStartup(bufioReader(tt.in))
		if (err != nil) != tt.wantErr || code != tt.code {
			t.Errorf("%s: code %d err %v", tt.name, code, err)
		}
	}
}
