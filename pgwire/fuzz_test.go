package pgwire

import (
	"bufio"
	"bytes"
	"testing"
)

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// FuzzReadStartup: no input makes ReadStartup panic or return a packet over the cap.
func FuzzReadStartup(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f})
	f.Add([]byte{0, 0, 0, 9, 0, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, payload, err := ReadStartup(bufioReader(in))
		if err == nil && len(payload)+4 > MaxStartupPacket {
			t.Fatalf("accepted %d bytes", len(payload)+8)
		}
	})
}

// FuzzForward: the forwarder never panics, ends with an error on input that
// runs out, and writes nothing but a prefix of what it read.
func FuzzForward(f *testing.F) {
	f.Add(msg('D', []byte("abc")), uint16(16))
	f.Add(append(msg('Z', []byte("I")), 'D', 0, 0), uint16(64))
	f.Fuzz(func(t *testing.T, in []byte, size uint16) {
		fw := NewForwarder(bytes.NewReader(in), 16+int(size%4096), 1<<16, 1<<12)
		var out bytes.Buffer
		w := NewWatch('Z', 'E')
		err := fw.Forward(&out, &w, func(byte, []byte) (Action, error) { return Action{}, nil })
		if err == nil {
			t.Fatal("Forward returned without an error or stop")
		}
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatal("output is not a prefix of the input")
		}
	})
}
