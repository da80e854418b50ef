package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgshield/pgshield/pgwire"
)

// Options configures New.
type Options struct {
	// Backend is the proxy the console reports on and steers; required.
	Backend Controller
	// Logger receives one record per command, carrying the admin's
	// identity: commands that change the proxy at Info, SHOWs at Debug.
	// Nil means discard.
	Logger *slog.Logger
	// Now timestamps command durations in the log; nil means time.Now.
	// Socket deadlines always use the real clock.
	Now func() time.Time
}

// Console serves admin commands on established client sessions. It holds
// only its Options, so one Console may serve many sessions at once.
type Console struct {
	// ctl, log and now are Options.Backend, Logger and Now with defaults
	// filled in; they never change after New.
	ctl Controller
	log *slog.Logger
	now func() time.Time
	// specs is the command table, built once; sessions only read it.
	specs []commandSpec
}

// New returns a Console for opts. It panics if opts.Backend is nil: that is
// a wiring mistake, and a console without a proxy behind it has nothing to
// serve.
func New(opts Options) *Console {
	if opts.Backend == nil {
		panic("admin: Options.Backend is nil")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Console{ctl: opts.Backend, log: opts.Logger, now: opts.Now, specs: commandSpecs()}
}

// maxMessageLen bounds a frontend message body. Admin commands are one
// short line; the bound keeps a client from making the proxy buffer a
// large message it will refuse anyway.
const maxMessageLen = 64 << 10

// goodbyeTimeout bounds the write of the final FATAL, so a client that has
// stopped reading cannot hold Serve.
const goodbyeTimeout = time.Second

// deadliner is the part of net.Conn Serve uses to interrupt blocked reads
// and writes when its context ends.
type deadliner interface {
	SetDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// Serve reads frontend messages from fe, a session already past startup
// and ReadyForQuery, and writes the responses to w, until the client sends
// Terminate (Serve returns nil), ctx ends, the client goes away, or it
// breaks the protocol (Serve sends FATAL 08P01 first). identity is the
// admin's certificate identity, used in the log.
//
// Serve sets fe's maximum message length. When ctx ends, Serve can unblock
// a pending read only if w has deadlines (w is the client's net.Conn);
// otherwise the caller must close the connection to make Serve return.
// Either way Serve leaves the connection open, its deadline expired if ctx
// ended, for the caller to close.
func (c *Console) Serve(ctx context.Context, fe *pgproto3.Backend, w io.Writer, identity string) error {
	fe.SetMaxBodyLen(maxMessageLen)
	s := &session{c: c, fe: fe, w: w, log: c.log.With("identity", identity)}
	if d, ok := w.(deadliner); ok {
		s.deadline = d
		// Interrupt whatever read or write is blocked; Serve then sees
		// ctx's error and says goodbye.
		stop := context.AfterFunc(ctx, func() { _ = d.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	err := s.loop(ctx)
	if err != nil && ctx.Err() != nil && !s.saidGoodbye {
		s.goodbye(&pgwire.Error{Severity: "FATAL", Code: codeAdminShutdown, Message: "admin session ended by pgshield"})
		return fmt.Errorf("admin: %w", context.Cause(ctx))
	}
	return err
}

// session is one Serve call's state; only Serve's goroutine touches it.
type session struct {
	c   *Console
	fe  *pgproto3.Backend
	w   io.Writer
	log *slog.Logger
	// deadline is w when it supports deadlines, else nil.
	deadline deadliner
	// skipping is set after an extended-protocol message was refused:
	// like PostgreSQL, the console then discards messages up to Sync.
	skipping bool
	// out is the reused buffer for one response.
	out []byte
	// saidGoodbye is set once a FATAL was sent; nothing follows it.
	saidGoodbye bool
}

func (s *session) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := s.fe.Receive()
		if err != nil {
			return s.receiveError(err)
		}
		switch m := msg.(type) {
		case *pgproto3.Terminate:
			return nil
		case *pgproto3.Sync:
			s.skipping = false
			err = s.send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute,
			*pgproto3.Close, *pgproto3.Flush:
			if !s.skipping {
				s.skipping = true
				err = s.send(extendedRefused().Response())
			}
		case *pgproto3.Query:
			if !s.skipping {
				err = s.query(ctx, m.String)
			}
		case *pgproto3.FunctionCall:
			if !s.skipping {
				err = s.send(extendedRefused().Response(), &pgproto3.ReadyForQuery{TxStatus: 'I'})
			}
		case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail:
			// PostgreSQL ignores these outside COPY: they may trail a
			// COPY that failed, and no COPY runs here.
		default:
			// Password and SASL messages: authentication ended before
			// the proxy handed the session over.
			s.log.Warn("admin session: unexpected message", "type", fmt.Sprintf("%T", msg))
			return s.protocolError("unexpected message after authentication")
		}
		if err != nil {
			return err
		}
	}
}

func extendedRefused() *pgwire.Error {
	return &pgwire.Error{Severity: "ERROR", Code: codeFeatureUnsupported,
		Message: "the admin console speaks the simple query protocol"}
}

// query runs one Query message and answers it, ending with ReadyForQuery.
func (s *session) query(ctx context.Context, sql string) error {
	rfq := &pgproto3.ReadyForQuery{TxStatus: 'I'}
	stmts, err := statements(sql)
	switch {
	case err != nil:
		return s.send(toPgError(err).Response(), rfq)
	case len(stmts) == 0:
		return s.send(&pgproto3.EmptyQueryResponse{}, rfq)
	case len(stmts) > 1:
		return s.send(syntaxError("the admin console runs one command per query").Response(), rfq)
	}
	p, err := parse(stmts[0], s.c.specs)
	if err != nil {
		s.log.Debug("admin command refused", "query", truncate(sql), "error", err)
		return s.send(toPgError(err).Response(), rfq)
	}
	start := s.c.now()
	res, err := p.spec.run(ctx, s.c.ctl, p.arg)
	attrs := []any{"command", p.spec.name, "arg", p.arg,
		"elapsed_ms", s.c.now().Sub(start).Milliseconds()}
	if err != nil {
		s.log.Warn("admin command failed", append(attrs, "error", err)...)
		return s.send(toPgError(err).Response(), rfq)
	}
	s.log.Log(ctx, p.spec.level(), "admin command", attrs...)
	return s.send(append(res.messages(), rfq)...)
}

// truncate bounds a query quoted in the log.
func truncate(sql string) string {
	if len(sql) > 2*maxEcho {
		return sql[:2*maxEcho] + "…"
	}
	return sql
}

// send encodes msgs and writes them to the client in one Write, so a
// response never reaches the client half-sent by a failed encode.
func (s *session) send(msgs ...pgproto3.BackendMessage) error {
	buf := s.out[:0]
	for _, m := range msgs {
		var err error
		if buf, err = m.Encode(buf); err != nil {
			// Only a message over 1 GiB fails to encode.
			return s.protocolErrorCode(codeInternal, "response too large", err)
		}
	}
	s.out = buf
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("admin: write to client: %w", err)
	}
	return nil
}

// receiveError handles an error from Receive: a client that went away
// gets no reply; anything else is a protocol violation.
func (s *session) receiveError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrClosedPipe) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("admin: client gone: %w", err)
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		// A deadline set by the caller or by ctx ending.
		return fmt.Errorf("admin: read from client: %w", err)
	}
	if _, ok := errors.AsType[*pgproto3.ExceededMaxBodyLenErr](err); ok {
		return s.protocolErrorCode(codeProtocolViolation, "message too long for the admin console", err)
	}
	return s.protocolErrorCode(codeProtocolViolation, "invalid frontend message", err)
}

// protocolError ends the session for a message the console cannot accept.
func (s *session) protocolError(reason string) error {
	return s.protocolErrorCode(codeProtocolViolation, reason, nil)
}

func (s *session) protocolErrorCode(code, message string, cause error) error {
	s.log.Warn("admin session protocol error", "code", code, "reason", message, "error", cause)
	s.goodbye(&pgwire.Error{Severity: "FATAL", Code: code, Message: message})
	if cause != nil {
		return fmt.Errorf("admin: %s: %w", message, cause)
	}
	return fmt.Errorf("admin: %s", message)
}

// goodbye writes a final FATAL, best effort. Without deadlines on w the
// write is unbounded, as every write is, until the caller closes the
// connection.
func (s *session) goodbye(e *pgwire.Error) {
	s.saidGoodbye = true
	if s.deadline != nil {
		_ = s.deadline.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	}
	b, err := e.Response().Encode(nil)
	if err != nil {
		return
	}
	_, _ = s.w.Write(b)
}
