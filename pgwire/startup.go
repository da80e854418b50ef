package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Codes of the startup-phase packets (PostgreSQL's pqcomm.h).
const (
	ProtocolVersion30 = 3<<16 | 0
	CancelRequestCode = 1234<<16 | 5678
	SSLRequestCode    = 1234<<16 | 5679
	GSSENCRequestCode = 1234<<16 | 5680

	// MaxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	MaxStartupPacket = 10000
	// TLSHandshakeByte starts a TLS record carrying a handshake: a client
	// that opens with it uses PG17 direct TLS.
	TLSHandshakeByte = 0x16
)

// ErrStartupTooLarge reports a startup packet over MaxStartupPacket.
var ErrStartupTooLarge = errors.New("startup packet is too large")

// ErrStartupInvalid reports a startup packet with an impossible length.
var ErrStartupInvalid = errors.New("invalid startup packet length")

// ReadStartup reads one length-prefixed startup packet and returns its code
// and the bytes after the code. The packet (less its length word) is bounded
// by MaxStartupPacket.
func ReadStartup(r *bufio.Reader) (code uint32, payload []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		return 0, nil, fmt.Errorf("read startup packet: %w", err)
	}
	// As PostgreSQL, the cap applies to the packet after its length word.
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	if n-4 > MaxStartupPacket {
		return 0, nil, ErrStartupTooLarge
	}
	if n < 8 {
		return 0, nil, ErrStartupInvalid
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fmt.Errorf("read startup packet: %w", err)
	}
	return binary.BigEndian.Uint32(buf[:4]), buf[4:], nil
}
