package opsserver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// errReadyTimeout and errClosing are reasons the server itself reports.
var (
	errReadyTimeout = errors.New("readiness check timed out")
	errClosing      = errors.New("shutting down")
)

// maxReasonBytes caps the reason text in a 503 body and in logs.
const maxReasonBytes = 200

// readiness runs Options.Ready at most once at a time and lets concurrent
// probes share the result. It owns the goroutine running the check, so a
// probe that gives up (timeout, client gone) never leaves an unowned call
// behind; close cancels it and waits.
type readiness struct {
	fn      func(context.Context) error
	timeout time.Duration
	// base is the parent of every check's context; cancel ends it on close.
	base   context.Context
	cancel context.CancelFunc

	// mu guards inflight and closed.
	mu       sync.Mutex
	inflight *readyCall
	closed   bool
	// wg counts running checks; Add happens under mu while !closed.
	wg sync.WaitGroup
}

// readyCall is one run of fn; err is written before done is closed.
type readyCall struct {
	done chan struct{}
	err  error
}

func newReadiness(fn func(context.Context) error, timeout time.Duration) *readiness {
	base, cancel := context.WithCancel(context.Background())
	return &readiness{fn: fn, timeout: timeout, base: base, cancel: cancel}
}

// check returns the result of the in-flight check, starting one if none
// runs, or errReadyTimeout if it takes longer than the timeout.
func (r *readiness) check(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errClosing
	}
	c := r.inflight
	if c == nil {
		c = &readyCall{done: make(chan struct{})}
		r.inflight = c
		r.wg.Add(1)
		go r.run(c)
	}
	r.mu.Unlock()

	t := time.NewTimer(r.timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err
	case <-t.C:
		return errReadyTimeout
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *readiness) run(c *readyCall) {
	defer r.wg.Done()
	ctx, cancel := context.WithTimeout(r.base, r.timeout)
	err := r.fn(ctx)
	if err == nil && ctx.Err() != nil {
		// Answered after its deadline: too slow counts as not ready.
		err = errReadyTimeout
	}
	cancel()
	c.err = err
	r.mu.Lock()
	r.inflight = nil
	r.mu.Unlock()
	close(c.done)
}

// close cancels a running check, waits for it, and makes later checks
// report errClosing. It is idempotent.
func (r *readiness) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// reason turns a readiness error into the one line sent to the prober: the
// first line of its text, printable characters only, at most
// maxReasonBytes. Ready promises the text is secret-free; this only keeps a
// careless error from flooding the response or forging extra lines.
func reason(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > maxReasonBytes {
			break
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "not ready"
	}
	return b.String()
}
