package opsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultAddr is where the listener binds when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:9187"

// Options configures New. Zero durations take the defaults named on each
// field; negative durations are an error.
type Options struct {
	// Addr is the TCP address to bind; empty means DefaultAddr. Use port 0
	// to let the kernel choose (see Server.Addr).
	Addr string
	// Gatherer is served on /metrics. Required.
	Gatherer prometheus.Gatherer
	// Ready reports whether pgshield can serve clients (backend reachable,
	// audit log writable). Required. It must return promptly once ctx is
	// done, and its error text is sent to the prober and logged, so it must
	// be a short reason free of secrets, DSNs and hostnames.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds one readiness check; zero means 2s.
	ReadyTimeout time.Duration
	// ReadHeaderTimeout bounds reading request headers; zero means 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request; zero means 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response; zero means 30s. It must
	// exceed ReadyTimeout (a readiness answer must get out), and it also
	// caps pprof's CPU profile duration.
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections; zero means 60s.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long Close waits for in-flight requests
	// before cutting them; zero means 5s.
	ShutdownTimeout time.Duration
	// Pprof serves net/http/pprof under /debug/pprof/. New refuses it on a
	// non-loopback address: profiles expose memory contents.
	Pprof bool
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns o with zero fields filled in, or an error for values
// that cannot work.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Gatherer == nil {
		errs = append(errs, errors.New("Gatherer is required"))
	}
	if o.Ready == nil {
		errs = append(errs, errors.New("Ready is required"))
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ReadyTimeout", &o.ReadyTimeout, 2 * time.Second},
		{"ReadHeaderTimeout", &o.ReadHeaderTimeout, 5 * time.Second},
		{"ReadTimeout", &o.ReadTimeout, 10 * time.Second},
		{"WriteTimeout", &o.WriteTimeout, 30 * time.Second},
		{"IdleTimeout", &o.IdleTimeout, 60 * time.Second},
		{"ShutdownTimeout", &o.ShutdownTimeout, 5 * time.Second},
	} {
		switch {
		case *d.v < 0:
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, *d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if o.WriteTimeout > 0 && o.ReadyTimeout > 0 && o.WriteTimeout <= o.ReadyTimeout {
		errs = append(errs, fmt.Errorf("WriteTimeout (%v) must exceed ReadyTimeout (%v)", o.WriteTimeout, o.ReadyTimeout))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("opsserver: %w", err)
	}
	return o, nil
}
