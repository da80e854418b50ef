package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/backend"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/pgwire"
	"github.com/pgshield/pgshield/tlsterm"
)

// startup takes the connection from accept to the first ReadyForQuery. Every
// refusal is logged with its reason and, where the protocol still allows one,
// sent to the client as a FATAL ErrorResponse.
func (s *session) startup(ctx context.Context) (*msgReader, error) {
	if err := s.negotiateTLS(ctx); err != nil {
		return nil, err
	}
	fe := newMsgReader(s.client, s.srv.opts.MaxMessageBytes)
	params, err := s.receiveStartup(ctx, fe)
	if err != nil {
		return nil, err
	}
	if params["database"] == AdminDatabase {
		return nil, s.admin(ctx, fe, params)
	}
	grant, err := s.srv.auth.Load().Authorize(auth.Request{Identity: s.peer.Identity, Params: params})
	if err != nil {
		var d *auth.DeniedError
		reason := "denied"
		if errors.As(err, &d) {
			reason = string(d.Reason)
		}
		s.authFailed()
		return nil, s.refuse(reason, fatal(codeInvalidAuthorization, err.Error()), "user", params["user"], "database", params["database"])
	}
	edge := s.srv.edge()
	if edge.AllowList != nil && !edge.AllowList.Allowed(grant.Rule.Pattern, s.clientAddr()) {
		s.authFailed()
		return nil, s.refuse("address_not_allowed", fatal(codeInvalidAuthorization,
			fmt.Sprintf("certificate identity %q may not connect from this address", s.peer.Identity)))
	}
	if edge.Limiter != nil {
		release, ok := edge.Limiter.Acquire(grant.Rule.Pattern)
		if !ok {
			return nil, s.refuse("too_many_connections", fatal(codeTooManyConnections,
				fmt.Sprintf("too many connections for certificate identity %q", s.peer.Identity)))
		}
		s.releaseIdentity = release
	}
	s.grant = grant
	return fe, s.open(ctx)
}

// open finds the session's pool, proves the database is reachable by
// taking a connection from it, and greets the client with that
// connection's parameters (its own startup parameters laid over them) and a
// proxy-issued cancel key. In transaction mode the connection goes straight
// back; in session mode the session keeps it.
func (s *session) open(ctx context.Context) error {
	key := poolKey{database: s.grant.Database}
	if s.srv.opts.RoleMode == RoleModeLogin {
		key.role = s.grant.Rule.Role
	}
	s.pool = s.srv.poolFor(key)
	s.mode = s.pool.mode
	bc, err := s.pool.acquire(ctx)
	if err != nil {
		var le *backend.LoginError
		ce := fatal(codeUnableToConnect, "pgshield cannot reach the database")
		switch {
		case errors.As(err, &le):
			ce = fatal(le.SQLState, le.ClientMessage)
		case errors.Is(err, errPoolTimeout):
			ce = fatal(codeTooManyConnections, "pgshield: no database connection became free in time (query_wait_timeout)")
		}
		s.log.Error("backend login failed", "identity", s.peer.Identity, "database", s.grant.Database, "err", err)
		sendError(s.client, ce)
		return err
	}
	s.view = copyParams(bc.params)
	for k, v := range s.grant.Params {
		s.view[canonicalParam(k)] = v
	}
	if _, err = s.srv.cancels.register(s); err != nil {
		s.pool.release(bc)
		sendError(s.client, fatal(codeInternal, "pgshield could not start the session"))
		return err
	}
	if _, err := s.client.Write(s.greeting()); err != nil {
		s.pool.release(bc)
		return fmt.Errorf("greet client: %w", err)
	}
	s.record(&audit.Record{Kind: audit.KindConnect, Action: "tls " + tls.VersionName(s.peer.TLSVersion), BackendPID: bc.PID})
	if s.mode == PoolModeTransaction {
		s.pool.release(bc)
		return nil
	}
	s.mu.Lock()
	bc.attachedTo = s.id
	s.attached = bc
	s.readers++
	s.mu.Unlock()
	go backendReader{s: s, bc: bc}.run()
	if sync := (&clientPump{s: s}).paramSyncLocked(bc); sync != "" {
		// Session mode: bring the connection to the client's parameters
		// before its first statement.
		p := &clientPump{s: s}
		if err := p.sendOwn(expectation{msg: 'Q', own: true, onErr: injectFatal}, &pgproto3.Query{String: sync}); err != nil {
			return err
		}
		return p.flush()
	}
	return nil
}

// admin serves the admin console to an admin identity; anyone else gets
// 42501. It returns errRefused so the caller ends the session after it.
func (s *session) admin(ctx context.Context, fe *msgReader, params map[string]string) error {
	if s.srv.opts.Admin == nil || !slices.Contains(s.srv.opts.AdminIdentities, s.peer.Identity) || params["user"] != s.peer.Identity {
		s.authFailed()
		return s.refuse("not_admin", fatal(codeInsufficientPrivilege, "only admin identities may use the pgshield console"))
	}
	s.raw.SetDeadline(time.Time{})
	s.view = map[string]string{"server_version": "pgshield", "client_encoding": "UTF8", "DateStyle": "ISO, MDY",
		"standard_conforming_strings": "on", "integer_datetimes": "on"}
	var err error
	// The console ends start-up with an error (errRefused at the latest),
	// so session.close withdraws this key, as for every session.
	if _, err = s.srv.cancels.register(s); err != nil {
		return err
	}
	if _, err := s.client.Write(s.greeting()); err != nil {
		return err
	}
	s.log.Info("admin console session", "user", params["user"])
	s.record(&audit.Record{Kind: audit.KindAdmin, Action: "console"})
	// The console reads with pgproto3's own Backend: msgReader read the
	// startup packet exactly, so nothing is buffered ahead.
	if err := s.srv.opts.Admin(s.srv.ctx, pgproto3.NewBackend(s.client, s.client), s.client, s.peer.Identity); err != nil {
		s.log.Info("admin console ended", "err", err)
	}
	return errRefused
}

// negotiateTLS handles what a client may send before TLS: SSLRequest (answer
// S), GSSENCRequest (answer N, continue), PG17 direct TLS (a ClientHello
// straight away), a CancelRequest, or a plaintext StartupMessage, refused.
func (s *session) negotiateTLS(ctx context.Context) error {
	edge := s.srv.edge()
	// Refused early, before a TLS handshake is spent on the client; the
	// error goes out in plaintext, as for a plaintext startup.
	if edge.Throttle != nil {
		if blocked, _ := edge.Throttle.Blocked(s.clientAddr()); blocked {
			return s.refusePlain("throttled", fatal(codeInvalidAuthorization,
				"too many failed authentication attempts from this address; try again later"))
		}
	}
	if edge.Limiter != nil {
		if !edge.Limiter.TryAcquireHandshake() {
			return s.refusePlain("too_many_connections", fatal(codeTooManyConnections,
				"pgshield is handling too many TLS handshakes; try again"))
		}
		defer edge.Limiter.ReleaseHandshake()
	}
	br := newStartupReader(s.raw)
	for range 3 {
		first, err := br.Peek(1)
		if err != nil {
			return err // the client left before saying anything
		}
		if first[0] == pgwire.TLSHandshakeByte {
			early, _ := br.Peek(br.Buffered())
			return s.handshake(ctx, append([]byte(nil), early...), true)
		}
		code, payload, err := pgwire.ReadStartup(br)
		if err != nil {
			if errors.Is(err, pgwire.ErrStartupTooLarge) || errors.Is(err, pgwire.ErrStartupInvalid) {
				return s.refusePlain("startup_packet_invalid", fatal(codeProtocolViolation, "invalid length of startup packet"))
			}
			return err
		}
		switch code {
		case pgwire.SSLRequestCode:
			if br.Buffered() > 0 {
				// As PostgreSQL (CVE-2021-23214): bytes after SSLRequest that
				// arrived before our answer may be a man in the middle's.
				s.log.Warn("client refused", "reason", "data_after_ssl_request")
				return errRefused
			}
			if _, err := s.raw.Write([]byte{'S'}); err != nil {
				return err
			}
			return s.handshake(ctx, nil, false)
		case pgwire.GSSENCRequestCode:
			if _, err := s.raw.Write([]byte{'N'}); err != nil {
				return err
			}
		case pgwire.CancelRequestCode:
			s.handleCancel(ctx, payload)
			return errRefused
		default:
			return s.refusePlain("plaintext_startup", fatal(codeInvalidAuthorization,
				"pgshield requires TLS with a client certificate (connect with sslmode=verify-full and sslcert/sslkey)"))
		}
	}
	return s.refusePlain("startup_loop", fatal(codeProtocolViolation, "too many negotiation requests"))
}

func (s *session) handshake(ctx context.Context, early []byte, direct bool) error {
	tc, peer, err := s.srv.opts.TLS.Handshake(ctx, s.raw, early, direct)
	// Handshake clears the deadline it set; the startup deadline still holds.
	s.raw.SetDeadline(s.srv.opts.Now().Add(s.srv.opts.StartupTimeout))
	if err != nil {
		var re *tlsterm.RejectError
		reason, fp, msg := "handshake", "", "TLS handshake failed"
		if errors.As(err, &re) {
			reason, fp, msg = string(re.Reason), re.Fingerprint, re.ClientMessage()
		}
		s.log.Warn("client refused", "reason", reason, "fingerprint", fp, "direct_tls", direct, "err", err)
		s.srv.opts.Metrics.TLSHandshakeFailure(reason)
		s.authFailed()
		s.peer.Fingerprint = fp
		s.record(&audit.Record{Kind: audit.KindAuthFailure, Reason: reason, SQLState: codeInvalidAuthorization})
		if tc != nil {
			sendError(tc, fatal(codeInvalidAuthorization, msg))
			tc.Close()
		}
		return err
	}
	s.client, s.peer = tc, peer
	s.log = s.log.With("identity", peer.Identity)
	s.srv.opts.Metrics.TLSHandshake()
	s.mconn.SetState(metrics.StateStartup)
	return nil
}

// receiveStartup reads the StartupMessage over TLS and returns its parameters.
func (s *session) receiveStartup(ctx context.Context, fe *msgReader) (map[string]string, error) {
	msg, err := fe.ReceiveStartup()
	if err != nil {
		return nil, s.refuse("startup_packet_invalid", fatal(codeProtocolViolation, "invalid startup packet"), "err", err)
	}
	switch m := msg.(type) {
	case *pgproto3.StartupMessage:
		if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
			// Offer 3.0, as PostgreSQL does to a newer client.
			npv := &pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0}
			b, _ := npv.Encode(nil)
			if _, err := s.client.Write(b); err != nil {
				return nil, err
			}
		}
		return m.Parameters, nil
	case *pgproto3.CancelRequest:
		var p [8]byte
		binary.BigEndian.PutUint32(p[:4], m.ProcessID)
		s.handleCancel(ctx, append(p[:4], m.SecretKey...))
		return nil, errRefused
	default:
		return nil, s.refuse("startup_packet_invalid", fatal(codeProtocolViolation, fmt.Sprintf("unexpected %T inside TLS", msg)))
	}
}

// handleCancel serves a CancelRequest: pid (4 bytes) then the secret.
func (s *session) handleCancel(ctx context.Context, payload []byte) {
	if len(payload) < 8 {
		s.log.Warn("cancel request malformed")
		return
	}
	pid := binary.BigEndian.Uint32(payload[:4])
	if n := instanceOf(pid); n != int(s.srv.cancels.instance) {
		s.forwardCancel(ctx, n, payload)
		return
	}
	target := s.srv.cancels.lookup(pid, payload[4:])
	if target == nil {
		s.log.Info("cancel request matched no session")
		return
	}
	target.cancelQuery(ctx)
}

// refuse logs reason and sends ce over TLS.
func (s *session) refuse(reason string, ce *pgwire.Error, attrs ...any) error {
	s.log.Warn("client refused", append([]any{"reason", reason, "fingerprint", s.peer.Fingerprint, "message", ce.Message}, attrs...)...)
	s.record(&audit.Record{Kind: audit.KindAuthFailure, Reason: reason, SQLState: ce.Code})
	s.srv.opts.Metrics.AuthFailure(reason)
	sendError(s.client, ce)
	return errRefused
}

// refusePlain logs reason and sends ce in plaintext, before TLS.
func (s *session) refusePlain(reason string, ce *pgwire.Error) error {
	s.log.Warn("client refused", "reason", reason, "message", ce.Message)
	s.record(&audit.Record{Kind: audit.KindAuthFailure, Reason: reason, SQLState: ce.Code})
	s.srv.opts.Metrics.AuthFailure(reason)
	sendError(s.raw, ce)
	return errRefused
}

// greeting is what a client receives once logged in: AuthenticationOk, its
// view of the parameters, pgshield's own cancel key, ReadyForQuery.
func (s *session) greeting() []byte {
	b, _ := (&pgproto3.AuthenticationOk{}).Encode(nil)
	names := make([]string, 0, len(s.view))
	for k := range s.view {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b, _ = (&pgproto3.ParameterStatus{Name: k, Value: s.view[k]}).Encode(b)
	}
	b, _ = (&pgproto3.BackendKeyData{ProcessID: s.key.pid, SecretKey: s.key.secret[:]}).Encode(b)
	b, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(b)
	return b
}

// newStartupReader returns the pre-TLS reader; small, because only startup
// packets pass through it before TLS takes the raw connection over.
func newStartupReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 512) }

// forwardCancel passes a CancelRequest for a key another instance issued
// to that instance, as PgBouncer's peering does.
func (s *session) forwardCancel(ctx context.Context, instance int, payload []byte) {
	addr, ok := s.srv.opts.Peers[instance]
	if !ok {
		s.log.Info("cancel request for an unknown instance", "instance", instance)
		return
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		s.log.Warn("cancel forwarding failed", "peer", instance, "err", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	msg := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint32(msg, uint32(8+len(payload)))
	binary.BigEndian.PutUint32(msg[4:], pgwire.CancelRequestCode)
	conn.Write(append(msg, payload...))
	conn.Read(make([]byte, 1)) // the peer closes once it has handled it
	s.log.Info("cancel request forwarded", "peer", instance)
}
