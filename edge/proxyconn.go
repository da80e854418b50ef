package edge

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pires/go-proxyproto"
)

// headerBufSize is the read buffer for header detection: large enough for
// any v1 line (107 bytes, which go-proxyproto needs in one read) and a v2
// header with a few TLVs; v2 headers beyond it are read in more steps.
const headerBufSize = 256

// ProxiedConn is implemented by every connection a PROXY protocol listener
// returns, header or not. RemoteAddr is the client address from the header
// when one was used, else the TCP peer.
type ProxiedConn interface {
	net.Conn
	// UpstreamAddr is the TCP peer: the load balancer when a header was
	// used, otherwise the same as RemoteAddr. For logs.
	UpstreamAddr() net.Addr
	// ProxyHeader is the header that was used (for TLVs), or nil.
	ProxyHeader() *proxyproto.Header
}

// UpstreamAddr returns c's TCP peer: ProxiedConn.UpstreamAddr for a
// connection from a PROXY protocol listener, c.RemoteAddr otherwise, so a
// caller need not care whether its listener was wrapped.
func UpstreamAddr(c net.Conn) net.Addr {
	if pc, ok := c.(ProxiedConn); ok {
		return pc.UpstreamAddr()
	}
	return c.RemoteAddr()
}

// readProxyHeader applies opts' policy to raw. On success it returns the
// connection to hand to Accept; otherwise a Reason* constant and, where
// there is one, the underlying error. It sets and clears raw's read
// deadline and never closes raw.
func readProxyHeader(raw net.Conn, opts *ProxyProtoOptions) (net.Conn, string, error) {
	peer := raw.RemoteAddr()
	// An unclassifiable peer is treated as untrusted: it may still connect
	// without a header, but can never supply a client address.
	peerAddr, ok := ipOf(peer)
	trusted := ok && opts.trusts(peerAddr)

	deadline := time.Now().Add(opts.HeaderTimeout)
	if err := raw.SetReadDeadline(deadline); err != nil {
		return nil, ReasonInvalid, fmt.Errorf("setting header deadline: %w", err)
	}
	br := bufio.NewReaderSize(raw, headerBufSize)
	h, err := proxyproto.Read(br)
	var nerr net.Error
	switch {
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		// Also returned for a peer that closed before sending anything;
		// the proxy then reads EOF as usual.
		if trusted && opts.Required {
			return nil, ReasonMissing, nil
		}
		h = nil
	case err != nil && (errors.As(err, &nerr) && nerr.Timeout() || !time.Now().Before(deadline)):
		return nil, ReasonTimeout, err
	case err != nil:
		return nil, ReasonInvalid, err
	case !trusted:
		return nil, ReasonUntrusted, nil
	}
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		return nil, ReasonInvalid, fmt.Errorf("clearing header deadline: %w", err)
	}
	remote := peer
	if h != nil {
		if remote, err = headerSource(h, peer); err != nil {
			return nil, ReasonInvalid, err
		}
	}
	c := &proxiedConn{Conn: raw, remote: remote, upstream: peer, header: h}
	if n := br.Buffered(); n > 0 {
		// Bytes the client sent right after the header (typically its
		// startup message) were read into br; keep them for Read.
		rest, _ := br.Peek(n)
		c.rest = append([]byte(nil), rest...)
	} else {
		c.drained.Store(true)
	}
	return c, "", nil
}

// headerSource returns the client address a header carries, or peer when
// the spec says to use the real connection's endpoints (LOCAL, e.g. an LB
// health check, and UNKNOWN/UNSPEC).
func headerSource(h *proxyproto.Header, peer net.Addr) (net.Addr, error) {
	if h.Command.IsLocal() || h.TransportProtocol.IsUnspec() {
		return peer, nil
	}
	tp := h.TransportProtocol
	if !tp.IsStream() || !(tp.IsIPv4() || tp.IsIPv6()) {
		return nil, fmt.Errorf("PROXY header names transport %#x; only TCP over IPv4/IPv6 is supported", byte(tp))
	}
	src, ok := h.SourceAddr.(*net.TCPAddr)
	if !ok || src.IP == nil {
		return nil, fmt.Errorf("PROXY header has no usable source address (%T)", h.SourceAddr)
	}
	return src, nil
}

// ipOf extracts the IP address of a TCP peer.
func ipOf(a net.Addr) (netip.Addr, bool) {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(t.IP)
		return ip.Unmap(), ok
	}
	if a == nil {
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap(), err == nil
}

// proxiedConn is the ProxiedConn implementation. Write, Close, LocalAddr
// and deadlines go straight to the embedded socket.
type proxiedConn struct {
	net.Conn // the accepted socket; owned by the caller of Accept

	remote   net.Addr           // client address; immutable
	upstream net.Addr           // TCP peer; immutable
	header   *proxyproto.Header // header used, or nil; immutable

	// drained is set once rest is empty, so Read skips mu from then on.
	drained atomic.Bool
	mu      sync.Mutex // guards rest
	rest    []byte     // bytes read past the header, not yet returned
}

func (c *proxiedConn) Read(b []byte) (int, error) {
	if !c.drained.Load() {
		c.mu.Lock()
		if len(c.rest) > 0 {
			n := copy(b, c.rest)
			c.rest = c.rest[n:]
			if len(c.rest) == 0 {
				c.rest = nil
				c.drained.Store(true)
			}
			c.mu.Unlock()
			return n, nil
		}
		c.mu.Unlock()
	}
	return c.Conn.Read(b)
}

func (c *proxiedConn) RemoteAddr() net.Addr            { return c.remote }
func (c *proxiedConn) UpstreamAddr() net.Addr          { return c.upstream }
func (c *proxiedConn) ProxyHeader() *proxyproto.Header { return c.header }

// CloseWrite half-closes the socket when it supports it (TCP does), so the
// proxy's copier can propagate a client's EOF.
func (c *proxiedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("edge: %T cannot half-close: %w", c.Conn, errors.ErrUnsupported)
}

// NetConn returns the accepted socket, for socket options such as
// keep-alive. Reading from it directly would skip bytes already buffered
// past the header; read through c.
func (c *proxiedConn) NetConn() net.Conn { return c.Conn }
