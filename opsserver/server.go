package opsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is the operations HTTP listener. New binds it; Serve serves it;
// Close stops it. The caller that called New must call Close (or cancel
// Serve's context) exactly when it is done; extra Close calls are harmless.
type Server struct {
	// Set by New and never reassigned.
	log      *slog.Logger
	ln       net.Listener
	srv      *http.Server
	ready    *readiness
	loopback bool
	// shutdownTimeout is Options.ShutdownTimeout, defaulted.
	shutdownTimeout time.Duration

	// lastReady is whether the previous /readyz probe succeeded, so
	// transitions are logged once rather than on every probe.
	lastReady atomic.Bool

	// mu guards serving.
	mu      sync.Mutex
	serving bool

	closeOnce sync.Once
	closeErr  error         // written inside closeOnce
	done      chan struct{} // closed when Close has finished
}

// New validates opts and binds the listener, so a bad or busy address fails
// at start-up. Nothing is served until Serve.
func New(opts Options) (*Server, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opts.Pprof && !maybeLoopback(opts.Addr) {
		return nil, fmt.Errorf("opsserver: pprof is only served on a loopback address, not %q", opts.Addr)
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("opsserver: listen: %w", err)
	}
	s := &Server{
		log:      opts.Logger,
		ln:       ln,
		ready:    newReadiness(opts.Ready, opts.ReadyTimeout),
		loopback: isLoopback(ln.Addr()),
		done:     make(chan struct{}),

		shutdownTimeout: opts.ShutdownTimeout,
	}
	if opts.Pprof && !s.loopback {
		// A host name that resolved to a non-loopback address.
		ln.Close()
		return nil, fmt.Errorf("opsserver: pprof is only served on a loopback address, not %s", ln.Addr())
	}
	s.lastReady.Store(true)
	s.srv = &http.Server{
		Handler:           s.routes(opts),
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func (s *Server) routes(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		// Scrapes are cheap but not free; a few at once is plenty.
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		plain(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if opts.Pprof {
		// Registered by hand: importing net/http/pprof also adds these to
		// http.DefaultServeMux, which pgshield never serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	err := s.ready.check(r.Context())
	if err != nil {
		why := reason(err)
		if s.lastReady.Swap(false) {
			s.log.Warn("pgshield is not ready", "reason", why)
		}
		plain(w, http.StatusServiceUnavailable, "not ready: "+why+"\n")
		return
	}
	if !s.lastReady.Swap(true) {
		s.log.Info("pgshield is ready again")
	}
	plain(w, http.StatusOK, "ok\n")
}

func plain(w http.ResponseWriter, code int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	io.WriteString(w, body)
}

// Addr returns the bound address (with the real port when Options.Addr
// used port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Loopback reports whether the listener is bound only to a loopback
// address, for the security report. A wildcard bind (":9187") is not.
func (s *Server) Loopback() bool { return s.loopback }

// Serve serves HTTP until ctx is done or Close is called, then returns nil
// after Close has finished. It returns an error if serving fails for
// another reason (and closes the Server), or if called more than once.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("opsserver: Serve called twice")
	}
	s.serving = true
	s.mu.Unlock()

	// watcher turns ctx cancellation into Close; Serve waits for it, so no
	// goroutine outlives this call.
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		select {
		case <-ctx.Done():
			s.Close()
		case <-s.done:
		}
	}()

	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	} else {
		err = fmt.Errorf("opsserver: serve %s: %w", s.ln.Addr(), err)
	}
	s.Close()
	<-watcherDone
	return err
}

// Close stops accepting, lets in-flight requests finish for up to
// Options.ShutdownTimeout, then cuts them, cancels any readiness check and
// waits for it. It is idempotent and safe to call concurrently; every call
// returns the first call's result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.shutdownTimeout)
		defer cancel()
		var errs []error
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			if err := s.srv.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		// Serve may never have run, leaving the listener to us.
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		s.ready.close()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("opsserver: close: %w", err)
		}
		close(s.done)
	})
	return s.closeErr
}

// isLoopback reports whether a is a TCP address on a loopback IP.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// maybeLoopback rejects, before binding, an address whose host is an IP
// literal (or empty: the wildcard) that is not loopback. Host names are
// checked after binding.
func maybeLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // net.Listen reports the error
	}
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return true
}
