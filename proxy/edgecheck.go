package proxy

import (
	"net"
	"net/netip"

	"github.com/pgshield/pgshield/edge"
)

// Edge holds the network-edge protections; every field is optional.
type Edge struct {
	// Throttle blocks a source address after repeated authentication
	// failures.
	Throttle *edge.Throttle
	// Limiter caps concurrent handshakes and each identity's connections.
	Limiter *edge.Limiter
	// AllowList restricts identities to client addresses.
	AllowList *edge.AllowList
}

// clientAddr is the client's address: the real one behind a trusted PROXY
// protocol load balancer, since the listener rewrote RemoteAddr.
func (s *session) clientAddr() netip.Addr {
	if ta, ok := s.raw.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.Addr{}
}

// authFailed counts a failed authentication from this client's address.
func (s *session) authFailed() {
	if t := s.srv.edge().Throttle; t != nil {
		if a := s.clientAddr(); a.IsValid() {
			t.Failure(a)
		}
	}
}
