package edge

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
)

// rejectLog records OnReject reasons and log output.
type rejectLog struct {
	mu      sync.Mutex
	reasons []string
	buf     bytes.Buffer
}

func (r *rejectLog) onReject(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

func (r *rejectLog) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *rejectLog) waitReason(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := append([]string(nil), r.reasons...)
		logs := r.buf.String()
		r.mu.Unlock()
		for _, g := range got {
			if g == want {
				if !strings.Contains(logs, "reason="+want) {
					t.Errorf("log lacks reason=%s: %s", want, logs)
				}
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("reason %q never reported", want)
}

// newTestListener wraps a real TCP listener on 127.0.0.1.
func newTestListener(t *testing.T, opts ProxyProtoOptions) (net.Listener, *rejectLog) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rl := &rejectLog{}
	opts.OnReject = rl.onReject
	opts.Logger = slog.New(slog.NewTextHandler(rl, nil))
	l, err := NewProxyProtoListener(inner, opts)
	if err != nil {
		inner.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, rl
}

func trustLoopback() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

// dial connects and writes h (if non-nil) followed by payload.
func dial(t *testing.T, l net.Listener, h *proxyproto.Header, payload string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if h != nil {
		if _, err := h.WriteTo(c); err != nil {
			t.Fatal(err)
		}
	}
	if payload != "" {
		if _, err := io.WriteString(c, payload); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

type acceptResult struct {
	c   net.Conn
	err error
}

func acceptAsync(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

func acceptWithin(t *testing.T, ch <-chan acceptResult, d time.Duration) net.Conn {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Accept: %v", r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(d):
		t.Fatalf("Accept did not return within %v", d)
		return nil
	}
}

// expectClosed checks that the server closed c without sending anything.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("want connection closed, got n=%d err=%v", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection was not closed: %v", err)
	}
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func tcpHeader(version byte, src, dst string) *proxyproto.Header {
	return proxyproto.HeaderProxyFromAddrs(version,
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(src)),
		net.TCPAddrFromAddrPort(netip.MustParseAddrPort(dst)))
}

func TestProxyListenerTrustedHeader(t *testing.T) {
	tests := []struct {
		name     string
		header   *proxyproto.Header
		required bool
		want     string
	}{
		{"v1 ipv4", tcpHeader(1, "203.0.113.7:40000", "198.51.100.1:5432"), true, "203.0.113.7:40000"},
		{"v2 ipv4", tcpHeader(2, "203.0.113.8:40001", "198.51.100.1:5432"), false, "203.0.113.8:40001"},
		{"v1 ipv6", tcpHeader(1, "[2001:db8::7]:40002", "[2001:db8::1]:5432"), false, "[2001:db8::7]:40002"},
		{"v2 ipv6", tcpHeader(2, "[2001:db8::8]:40003", "[2001:db8::1]:5432"), true, "[2001:db8::8]:40003"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestListener(t, ProxyProtoOptions{TrustedCIDRs: trustLoopback(), Required: tt.required})
			ch := acceptAsync(l)
			client := dial(t, l, tt.header, "startup")
			c := acceptWithin(t, ch, 5*time.Second)
			if got := c.RemoteAddr().String(); got != tt.want {
				t.Errorf("RemoteAddr = %s, want %s", got, tt.want)
			}
			if got, want := UpstreamAddr(c).String(), client.LocalAddr().String(); got != want {
				t.Errorf("UpstreamAddr = %s, want %s", got, want)
			}
			if c.(ProxiedConn).ProxyHeader() == nil {
				t.Error("ProxyHeader is nil")
			}
			// Bytes sent with the header arrive first, then later ones.
			if got := readN(t, c, 7); got != "startup" {
				t.Errorf("first read %q", got)
			}
			io.WriteString(client, "-more")
			if got := readN(t, c, 5); got != "-more" {
				t.Errorf("second read %q", got)
			}
			// Writes reach the client unchanged.
			io.WriteString(c, "ok")
			if got := readN(t, client, 2); got != "ok" {
				t.Errorf("client read %q", got)
			}
		})
	}
}

func TestProxyListenerNoHeaderAccepted(t *testing.T) {
	tests := []struct {
		name    string
		trusted []netip.Prefix
	}{
		{"trusted, not required", trustLoopback()},
		{"untrusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestListener(t, ProxyProtoOptions{TrustedCIDRs: tt.trusted})
			ch := acceptAsync(l)
			client := dial(t, l, nil, "\x00\x00\x00\x08\x04\xd2\x16\x2f") // SSLRequest
			c := acceptWithin(t, ch, 5*time.Second)
			if got, want := c.RemoteAddr().String(), client.LocalAddr().String(); got != want {
				t.Errorf("RemoteAddr = %s, want TCP peer %s", got, want)
			}
			if c.(ProxiedConn).ProxyHeader() != nil {
				t.Error("ProxyHeader should be nil")
			}
			if got := readN(t, c, 8); got != "\x00\x00\x00\x08\x04\xd2\x16\x2f" {
				t.Errorf("read %q", got)
			}
		})
	}
}

func TestProxyListenerRefused(t *testing.T) {
	tests := []struct {
		name    string
		opts    ProxyProtoOptions
		header  *proxyproto.Header
		payload string
		reason  string
	}{
		{"untrusted v1 header", ProxyProtoOptions{TrustedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			tcpHeader(1, "203.0.113.7:1", "198.51.100.1:5432"), "x", ReasonUntrusted},
		{"untrusted v2 header", ProxyProtoOptions{TrustedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			tcpHeader(2, "203.0.113.7:1", "198.51.100.1:5432"), "", ReasonUntrusted},
		{"missing when required", ProxyProtoOptions{TrustedCIDRs: trustLoopback(), Required: true},
			nil, "\x00\x00\x00\x08", ReasonMissing},
		{"garbage v1", ProxyProtoOptions{TrustedCIDRs: trustLoopback()},
			nil, "PROXY TCP4 nonsense\r\n", ReasonInvalid},
		{"udp transport", ProxyProtoOptions{TrustedCIDRs: trustLoopback()},
			&proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.UDPv4,
				SourceAddr:      &net.UDPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 1},
				DestinationAddr: &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 5432}}, "", ReasonInvalid},
		{"silent when required", ProxyProtoOptions{TrustedCIDRs: trustLoopback(), Required: true, HeaderTimeout: 100 * time.Millisecond},
			nil, "", ReasonTimeout},
		{"partial header", ProxyProtoOptions{TrustedCIDRs: trustLoopback(), HeaderTimeout: 100 * time.Millisecond},
			nil, "\r\n\r\n\x00", ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, rl := newTestListener(t, tt.opts)
			ch := acceptAsync(l)
			bad := dial(t, l, tt.header, tt.payload)
			expectClosed(t, bad)
			rl.waitReason(t, tt.reason)
			select {
			case r := <-ch:
				t.Fatalf("Accept returned a refused connection: %v %v", r.c, r.err)
			default:
			}
			l.Close()
			if r := <-ch; !errors.Is(r.err, net.ErrClosed) {
				t.Errorf("Accept after Close: %v, want net.ErrClosed", r.err)
			}
		})
	}
}

func TestProxyListenerLocalCommand(t *testing.T) {
	l, _ := newTestListener(t, ProxyProtoOptions{TrustedCIDRs: trustLoopback(), Required: true})
	ch := acceptAsync(l)
	h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	client := dial(t, l, h, "hc")
	c := acceptWithin(t, ch, 5*time.Second)
	if got, want := c.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr = %s, want the LB's own address %s", got, want)
	}
}

// A trusted client that never sends its header must not delay Accept for
// a client that does.
func TestProxyListenerSilentClientDoesNotBlockAccept(t *testing.T) {
	l, rl := newTestListener(t, ProxyProtoOptions{TrustedCIDRs: trustLoopback(), Required: true, HeaderTimeout: 3 * time.Second})
	silent := dial(t, l, nil, "")
	time.Sleep(50 * time.Millisecond) // let the silent one be accepted by the inner listener first
	ch := acceptAsync(l)
	dial(t, l, tcpHeader(2, "203.0.113.9:1", "198.51.100.1:5432"), "")
	start := time.Now()
	c := acceptWithin(t, ch, time.Second)
	if got := c.RemoteAddr().String(); got != "203.0.113.9:1" {
		t.Errorf("RemoteAddr = %s", got)
	}
	t.Logf("accepted after %v", time.Since(start))

	// Close ends the silent client's header wait at once, not after
	// HeaderTimeout.
	start = time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	expectClosed(t, silent)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v", d)
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.reasons) != 0 {
		t.Errorf("reasons %v: a Close is not a refusal", rl.reasons)
	}
}

func TestProxyListenerOverload(t *testing.T) {
	l, rl := newTestListener(t, ProxyProtoOptions{TrustedCIDRs: trustLoopback(), MaxPending: 1, HeaderTimeout: 5 * time.Second})
	dial(t, l, nil, "") // holds the only pending slot
	over := dial(t, l, nil, "")
	expectClosed(t, over)
	rl.waitReason(t, ReasonOverload)
}

func TestProxyProtoOptionsValidation(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	tests := []struct {
		name string
		opts ProxyProtoOptions
		want string
	}{
		{"no trusted", ProxyProtoOptions{}, "TrustedCIDRs is empty"},
		{"invalid prefix", ProxyProtoOptions{TrustedCIDRs: []netip.Prefix{{}}}, "TrustedCIDRs[0]"},
		{"negative timeout", ProxyProtoOptions{TrustedCIDRs: trustLoopback(), HeaderTimeout: -1}, "HeaderTimeout"},
		{"negative pending", ProxyProtoOptions{TrustedCIDRs: trustLoopback(), MaxPending: -1}, "MaxPending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewProxyProtoListener(inner, tt.opts)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestUpstreamAddrPlainConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if UpstreamAddr(a) != a.RemoteAddr() {
		t.Error("UpstreamAddr of a plain conn should be its RemoteAddr")
	}
}

// Close must stop every goroutine the listener started, including those
// waiting for a header or for an Accept call.
func TestProxyListenerCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewProxyProtoListener(inner, ProxyProtoOptions{TrustedCIDRs: trustLoopback(), HeaderTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dial(t, l, nil, "")                                                // waiting for a header
	dial(t, l, tcpHeader(2, "203.0.113.1:1", "198.51.100.1:5432"), "") // waiting for Accept
	time.Sleep(50 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// errListener fails Accept with each of errs in turn, then blocks until
// closed.
type errListener struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (e *errListener) Accept() (net.Conn, error) {
	e.mu.Lock()
	if len(e.errs) > 0 {
		err := e.errs[0]
		e.errs = e.errs[1:]
		e.mu.Unlock()
		return nil, err
	}
	e.mu.Unlock()
	return e.Listener.Accept()
}

func TestProxyListenerInnerErrors(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	transient := errors.New("too many open files")
	el := &errListener{Listener: inner, errs: []error{transient}}
	l, err := NewProxyProtoListener(el, ProxyProtoOptions{TrustedCIDRs: trustLoopback()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Accept(); !errors.Is(err, transient) {
		t.Fatalf("Accept = %v, want the inner error", err)
	}
	// A transient error does not stop the listener.
	ch := acceptAsync(l)
	dial(t, l, nil, "x")
	acceptWithin(t, ch, 5*time.Second)

	// Closing the inner listener behind our back ends it for good.
	inner.Close()
	for range 2 {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept = %v, want net.ErrClosed", err)
		}
	}
}
