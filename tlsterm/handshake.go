package tlsterm

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"

	"github.com/pgshield/pgshield/internal/rawio"
)

// Handshake runs the server side of TLS on conn.
//
// early holds bytes already read from conn that belong to the TLS stream (the
// peeked start of a direct-TLS ClientHello); nil for the SSLRequest flow.
// With requireALPN (direct TLS) the client must offer ALPN "postgresql";
// otherwise ALPN is optional but, if offered, must include "postgresql".
//
// Results:
//   - success: the TLS conn, the verified Peer and a nil error;
//   - handshake completed but the client is refused: the TLS conn (so the
//     caller can send a PostgreSQL ErrorResponse over it) and a *RejectError;
//   - handshake failed: a nil conn and a *RejectError.
//
// The handshake is bounded by Config.HandshakeTimeout and ctx; the deadline is
// cleared afterwards. Handshake never closes conn on purpose, but crypto/tls
// closes it if ctx is cancelled mid-handshake. The caller owns conn and must
// close it (or the returned TLS conn) when done.
func (t *Terminator) Handshake(ctx context.Context, conn net.Conn, early []byte, requireALPN bool) (*tls.Conn, Peer, error) {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.HandshakeTimeout)
	defer cancel()
	obs := &observation{requireALPN: requireALPN}
	ctx = context.WithValue(ctx, observationKey{}, obs)

	// Socket deadlines are wall-clock, so the real deadline of ctx is used
	// here rather than Config.Now.
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, Peer{}, reject(ReasonHandshake, "", err)
	}
	// Cleared on every path; errors are ignored because a conn whose
	// deadline cannot be cleared will fail its next I/O anyway.
	defer conn.SetDeadline(time.Time{})

	tc := tls.Server(newPeekedConn(rawio.Wrap(conn), early), t.base)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, Peer{}, classifyHandshakeError(ctx, obs, err)
	}
	cs := tc.ConnectionState()
	// Belt and braces: configForClient already refused these, but the
	// checks are cheap and keep the guarantee local.
	if cs.Version < t.cfg.MinVersion {
		return tc, Peer{}, reject(ReasonTLSVersion, "", &versionError{min: t.cfg.MinVersion, offered: []uint16{cs.Version}})
	}
	if (requireALPN || cs.NegotiatedProtocol != "") && cs.NegotiatedProtocol != ALPNProtocol {
		return tc, Peer{}, reject(ReasonNoALPN, "", errors.New("ALPN \"postgresql\" not negotiated"))
	}
	peer, rerr := t.verifyPeer(t.cur.Load(), &cs)
	if rerr != nil {
		return tc, Peer{}, rerr
	}
	return tc, peer, nil
}

// classifyHandshakeError maps a failed handshake to a Reason, preferring what
// configForClient observed over parsing error text.
func classifyHandshakeError(ctx context.Context, obs *observation, err error) *RejectError {
	var netErr net.Error
	switch {
	case obs.version != nil:
		return reject(ReasonTLSVersion, "", obs.version)
	case obs.alpn != nil:
		return reject(ReasonNoALPN, "", obs.alpn)
	case errors.Is(ctx.Err(), context.DeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return reject(ReasonTimeout, "", err)
	default:
		return reject(ReasonHandshake, "", err)
	}
}
