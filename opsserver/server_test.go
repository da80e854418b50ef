package opsserver

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeReady is a Ready func whose answer the test controls.
type fakeReady struct {
	err   atomic.Pointer[error]
	calls atomic.Int32
	// block, when non-nil, makes Ready wait on it or on ctx.
	block chan struct{}
}

func (f *fakeReady) set(err error) { f.err.Store(&err) }

func (f *fakeReady) Ready(ctx context.Context) error {
	f.calls.Add(1)
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if p := f.err.Load(); p != nil {
		return *p
	}
	return nil
}

func testGatherer(t *testing.T) prometheus.Gatherer {
	t.Helper()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pgshield_test_total", Help: "Test counter."})
	c.Add(3)
	reg.MustRegister(c)
	return reg
}

// start runs a Server on 127.0.0.1:0 and stops it when the test ends.
func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Gatherer == nil {
		opts.Gatherer = testGatherer(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "http://" + s.Addr().String()
}

// get does one request without keep-alive, so no client connection
// outlives the test.
func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	ready := &fakeReady{}
	_, base := start(t, Options{Ready: ready.Ready})
	tests := []struct {
		method, path string
		code         int
		contains     string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/readyz", 200, "ok"},
		{"GET", "/metrics", 200, "pgshield_test_total 3"},
		{"POST", "/healthz", 405, ""},
		{"GET", "/debug/pprof/", 404, ""},
		{"GET", "/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			code, body := get(t, tt.method, base+tt.path)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, code, body, tt.code, tt.contains)
			}
		})
	}
	// The default registry's Go and process collectors must not leak in.
	if _, body := get(t, "GET", base+"/metrics"); strings.Contains(body, "go_goroutines") {
		t.Error("/metrics serves the default registry")
	}
}

func TestPprof(t *testing.T) {
	_, base := start(t, Options{Ready: (&fakeReady{}).Ready, Pprof: true})
	if code, _ := get(t, "GET", base+"/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ = %d with Pprof", code)
	}
}

func TestReadinessFailsAndRecovers(t *testing.T) {
	ready := &fakeReady{}
	_, base := start(t, Options{Ready: ready.Ready})
	steps := []struct {
		err  error
		code int
		body string
	}{
		{nil, 200, "ok\n"},
		{errors.New("backend unreachable"), 503, "not ready: backend unreachable\n"},
		{errors.New("audit log not writable\npassword=hunter2"), 503, "not ready: audit log not writable\n"},
		{errors.New("bad\x00\x1b[31m"), 503, "not ready: bad??[31m\n"},
		{errors.New(strings.Repeat("x", 1000)), 503, "not ready: " + strings.Repeat("x", maxReasonBytes) + "\n"},
		{errors.New(""), 503, "not ready: not ready\n"},
		{nil, 200, "ok\n"},
	}
	for i, st := range steps {
		ready.set(st.err)
		if code, body := get(t, "GET", base+"/readyz"); code != st.code || body != st.body {
			t.Errorf("step %d: /readyz = %d %q, want %d %q", i, code, body, st.code, st.body)
		}
	}
}

func TestReadinessTimeout(t *testing.T) {
	ready := &fakeReady{block: make(chan struct{})}
	_, base := start(t, Options{Ready: ready.Ready, ReadyTimeout: 50 * time.Millisecond})
	code, body := get(t, "GET", base+"/readyz")
	if code != 503 || body != "not ready: readiness check timed out\n" {
		t.Errorf("/readyz with a hung check = %d %q", code, body)
	}
}

// TestReadinessSingleFlight checks that concurrent probes share one check.
func TestReadinessSingleFlight(t *testing.T) {
	ready := &fakeReady{block: make(chan struct{})}
	_, base := start(t, Options{Ready: ready.Ready, ReadyTimeout: 5 * time.Second})
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Go(func() { codes[i], _ = get(t, "GET", base+"/readyz") })
	}
	// Let the probes arrive, then release the one check.
	deadline := time.Now().Add(5 * time.Second)
	for ready.calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(ready.block)
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("probe %d = %d", i, c)
		}
	}
	// Probes that arrived after the first check finished start a second one;
	// a handful is fine, one per probe is not.
	if n := ready.calls.Load(); n > 4 {
		t.Errorf("Ready called %d times for %d concurrent probes", n, len(codes))
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: testGatherer(t), Ready: (&fakeReady{}).Ready})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background()) }()
	if code, _ := get(t, "GET", "http://"+s.Addr().String()+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Serve after Close = %v, want nil", err)
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("second Serve succeeded")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after Close")
	}
}

func TestCloseBeforeServe(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: testGatherer(t), Ready: (&fakeReady{}).Ready})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve after Close did not return")
	}
}

func TestServeStopsOnContext(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Gatherer: testGatherer(t), Ready: (&fakeReady{}).Ready})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve ignored its context")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after context stop: %v", err)
	}
}

// TestNoGoroutineLeak runs a server through every endpoint, including a
// readiness check still in flight at Close, and checks every goroutine it
// started is gone afterwards.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ready := &fakeReady{block: make(chan struct{})}
		s, err := New(Options{
			Addr: "127.0.0.1:0", Gatherer: testGatherer(t), Ready: ready.Ready,
			ReadyTimeout: time.Minute, WriteTimeout: 2 * time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- s.Serve(context.Background()) }()
		base := "http://" + s.Addr().String()
		for _, p := range []string{"/healthz", "/metrics"} {
			get(t, "GET", base+p)
		}
		// A prober that gives up leaves the check running (it honours only
		// its own minute-long deadline): Close must cancel and reap it.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 50 * time.Millisecond}
		if resp, err := client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			t.Fatal("/readyz answered while the check hangs")
		}
		if ready.calls.Load() == 0 {
			t.Fatal("Ready never called")
		}
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Close took %v with a check in flight", d)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		client.CloseIdleConnections()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

func TestNewErrors(t *testing.T) {
	g := prometheus.NewRegistry()
	ok := (&fakeReady{}).Ready
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no gatherer", Options{Addr: "127.0.0.1:0", Ready: ok}, "Gatherer is required"},
		{"no ready", Options{Addr: "127.0.0.1:0", Gatherer: g}, "Ready is required"},
		{"negative timeout", Options{Addr: "127.0.0.1:0", Gatherer: g, Ready: ok, IdleTimeout: -1}, "IdleTimeout is negative"},
		{"write below ready", Options{Addr: "127.0.0.1:0", Gatherer: g, Ready: ok, ReadyTimeout: time.Minute}, "must exceed ReadyTimeout"},
		{"bad addr", Options{Addr: "127.0.0.1:notaport", Gatherer: g, Ready: ok}, "listen"},
		{"pprof on wildcard", Options{Addr: ":0", Gatherer: g, Ready: ok, Pprof: true}, "loopback"},
		{"pprof on any ip", Options{Addr: "0.0.0.0:0", Gatherer: g, Ready: ok, Pprof: true}, "loopback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	o, err := Options{Gatherer: prometheus.NewRegistry(), Ready: (&fakeReady{}).Ready}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != DefaultAddr || o.ReadHeaderTimeout != 5*time.Second || o.ReadyTimeout != 2*time.Second ||
		o.WriteTimeout != 30*time.Second || o.Logger == nil {
		t.Errorf("defaults = %+v", o)
	}
}

func TestLoopback(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, true},
		{&net.TCPAddr{IP: net.IPv4(127, 1, 2, 3)}, true},
		{&net.TCPAddr{IP: net.IPv6loopback}, true},
		{&net.TCPAddr{IP: net.IPv4zero}, false},
		{&net.TCPAddr{IP: net.IPv6unspecified}, false},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 1)}, false},
		{&net.UnixAddr{Name: "/tmp/x"}, false},
	}
	for _, tt := range tests {
		if got := isLoopback(tt.addr); got != tt.want {
			t.Errorf("isLoopback(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	s, _ := start(t, Options{Ready: (&fakeReady{}).Ready})
	if !s.Loopback() {
		t.Errorf("server on %v reports non-loopback", s.Addr())
	}
}
