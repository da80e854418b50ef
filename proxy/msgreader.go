package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/pgwire"
)

// msgReader reads client messages whole and bounded, straight from the TLS
// connection, and decodes them with pgproto3's message types. It reads
// exactly one message at a time, so nothing a client sends after its
// startup packet is read ahead, and its body buffer is let go while the
// client is idle: an idle client holds no read buffer of pgshield's (with
// thousands of idle clients this is a third of a session's memory).
type msgReader struct {
	r   io.Reader
	max int
	hdr [5]byte
	// body is reused for the next message until release.
	body []byte

	bind         pgproto3.Bind
	close        pgproto3.Close
	copyData     pgproto3.CopyData
	copyDone     pgproto3.CopyDone
	copyFail     pgproto3.CopyFail
	describe     pgproto3.Describe
	execute      pgproto3.Execute
	flush        pgproto3.Flush
	functionCall pgproto3.FunctionCall
	parse        pgproto3.Parse
	query        pgproto3.Query
	sync         pgproto3.Sync
	terminate    pgproto3.Terminate
	startup      pgproto3.StartupMessage
	cancel       pgproto3.CancelRequest
	ssl          pgproto3.SSLRequest
	gssenc       pgproto3.GSSEncRequest
}

// errMessageTooLarge: a client message over client.max_message_bytes.
var errMessageTooLarge = errors.New("message too large")

func newMsgReader(r io.Reader, max int) *msgReader { return &msgReader{r: r, max: max} }

// readBody reads n bytes into the reusable body buffer.
func (m *msgReader) readBody(n int) ([]byte, error) {
	if cap(m.body) < n {
		m.body = make([]byte, n)
	}
	b := m.body[:n]
	if _, err := io.ReadFull(m.r, b); err != nil {
		return nil, unexpectedEOF(err)
	}
	return b, nil
}

// release lets the body buffer go (the client is idle).
func (m *msgReader) release() { m.body = nil }

// ReceiveStartup reads a startup-phase packet: StartupMessage,
// CancelRequest, SSLRequest or GSSENCRequest, bounded as PostgreSQL bounds it.
func (m *msgReader) ReceiveStartup() (pgproto3.FrontendMessage, error) {
	if _, err := io.ReadFull(m.r, m.hdr[:4]); err != nil {
		return nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(m.hdr[:4]))) - 4
	if n < 4 || n > pgwire.MaxStartupPacket {
		return nil, fmt.Errorf("invalid length of startup packet: %d", n)
	}
	body, err := m.readBody(n)
	if err != nil {
		return nil, err
	}
	var msg pgproto3.FrontendMessage
	switch binary.BigEndian.Uint32(body) {
	case pgproto3.ProtocolVersion30, pgproto3.ProtocolVersion32:
		msg = &m.startup
	case pgwire.CancelRequestCode:
		msg = &m.cancel
	case pgwire.SSLRequestCode:
		msg = &m.ssl
	case pgwire.GSSENCRequestCode:
		msg = &m.gssenc
	default:
		return nil, fmt.Errorf("unknown startup message code: %d", binary.BigEndian.Uint32(body))
	}
	if err := msg.Decode(body); err != nil {
		return nil, err
	}
	return msg, nil
}

// Receive reads one message. Its contents may point into the body buffer
// and are valid until the next Receive.
func (m *msgReader) Receive() (pgproto3.FrontendMessage, error) {
	if _, err := io.ReadFull(m.r, m.hdr[:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	n := int(int32(binary.BigEndian.Uint32(m.hdr[1:]))) - 4
	if n < 0 {
		return nil, fmt.Errorf("invalid message length: %d", n+4)
	}
	if n > m.max {
		return nil, errMessageTooLarge
	}
	var msg pgproto3.FrontendMessage
	switch m.hdr[0] {
	case 'B':
		msg = &m.bind
	case 'C':
		msg = &m.close
	case 'D':
		msg = &m.describe
	case 'E':
		msg = &m.execute
	case 'F':
		msg = &m.functionCall
	case 'f':
		msg = &m.copyFail
	case 'd':
		msg = &m.copyData
	case 'c':
		msg = &m.copyDone
	case 'H':
		msg = &m.flush
	case 'P':
		msg = &m.parse
	case 'Q':
		msg = &m.query
	case 'S':
		msg = &m.sync
	case 'X':
		msg = &m.terminate
	default:
		return nil, fmt.Errorf("unknown message type: %c", m.hdr[0])
	}
	body, err := m.readBody(n)
	if err != nil {
		return nil, err
	}
	if err := msg.Decode(body); err != nil {
		return nil, err
	}
	return msg, nil
}

// unexpectedEOF reports a stream that ended inside a message.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
