package edge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// proxyListener is the net.Listener returned by NewProxyProtoListener.
//
// Goroutines: one accept loop, plus one handshake goroutine per connection
// between the inner Accept and the outer one (at most opts.MaxPending). All
// are started by NewProxyProtoListener and stopped by Close.
type proxyListener struct {
	inner net.Listener
	opts  ProxyProtoOptions // validated, defaults filled

	// ctx is cancelled by Close (or when the inner listener reports
	// net.ErrClosed); it unblocks every goroutine below.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// pending holds one token per handshake goroutine, bounding them.
	pending chan struct{}
	// ready carries connections that passed the header policy to Accept.
	// Unbuffered, so a connection is never stranded in a buffer at Close.
	ready chan net.Conn
	// errs carries inner Accept errors to Accept, one at a time: the loop
	// waits for a caller to take one before accepting again, so the
	// caller's own retry backoff paces it.
	errs chan error

	closeOnce sync.Once
	closeErr  error // set once by Close
}

// NewProxyProtoListener wraps inner so that connections from opts.TrustedCIDRs
// may carry a PROXY protocol header (v1 or v2); see ProxyProtoOptions for the
// policy. Accepted connections implement ProxiedConn.
//
// It starts goroutines owned by the returned listener: the caller must Close
// it, which also closes inner and every connection not yet returned by
// Accept. Accept never waits on a particular client's header; it returns
// whichever connection finishes its header first.
func NewProxyProtoListener(inner net.Listener, opts ProxyProtoOptions) (net.Listener, error) {
	if inner == nil {
		return nil, errors.New("edge: NewProxyProtoListener: inner listener is nil")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &proxyListener{
		inner:   inner,
		opts:    opts,
		ctx:     ctx,
		cancel:  cancel,
		pending: make(chan struct{}, opts.MaxPending),
		ready:   make(chan net.Conn),
		errs:    make(chan error),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Accept returns the next connection that passed the header policy, an
// error from the inner listener, or, once closed, an error wrapping
// net.ErrClosed.
func (l *proxyListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.ctx.Done():
		return nil, fmt.Errorf("edge: PROXY protocol listener: %w", net.ErrClosed)
	}
}

// Close closes the inner listener and every connection still in its
// header phase, and waits for the listener's goroutines to return.
// It is idempotent: later calls return the first call's result.
func (l *proxyListener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		if err := l.inner.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			l.closeErr = fmt.Errorf("edge: closing inner listener: %w", err)
		}
		l.wg.Wait()
	})
	return l.closeErr
}

// Addr returns the inner listener's address.
func (l *proxyListener) Addr() net.Addr { return l.inner.Addr() }

func (l *proxyListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			select {
			case l.errs <- err:
			case <-l.ctx.Done():
				return
			}
			if errors.Is(err, net.ErrClosed) {
				// Someone closed inner behind our back; nothing more
				// will arrive, so release pending handshakes and make
				// Accept report closed from now on.
				l.cancel()
				return
			}
			continue
		}
		select {
		case l.pending <- struct{}{}:
		default:
			l.reject(raw, raw.RemoteAddr(), ReasonOverload, nil)
			continue
		}
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

// handshake reads raw's header and hands the result to Accept. It owns raw
// until Accept takes it.
func (l *proxyListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.pending }()

	// Close interrupts a header read in progress by closing the socket.
	stop := context.AfterFunc(l.ctx, func() { _ = raw.Close() })
	c, reason, err := readProxyHeader(raw, &l.opts)
	if !stop() {
		return // closed: raw is already closed
	}
	if reason != "" {
		l.reject(raw, raw.RemoteAddr(), reason, err)
		return
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = raw.Close()
	}
}

func (l *proxyListener) reject(raw net.Conn, upstream net.Addr, reason string, err error) {
	_ = raw.Close()
	attrs := []any{"reason", reason, "upstream", addrString(upstream)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	l.opts.Logger.Warn("edge: refused connection before accept", attrs...)
	if l.opts.OnReject != nil {
		l.opts.OnReject(reason)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
