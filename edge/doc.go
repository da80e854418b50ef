// Package edge holds the pieces pgshield runs at its network edge, before a
// client's startup message is trusted with anything:
//
//   - NewProxyProtoListener wraps a net.Listener so connections relayed by a
//     trusted load balancer report the real client address (PROXY protocol
//     v1 and v2), while nobody else can forge one.
//   - AllowList restricts, per identity pattern, the client addresses an
//     identity may connect from.
//   - Throttle counts failed authentications per source address (IPv6 by
//     prefix) and blocks sources that fail too often.
//   - Limiter caps concurrent handshakes, refusing a flood early instead of
//     queueing it, and concurrent connections per identity.
//
// Every type is built from a plain options struct validated once by its
// constructor, takes its clock and logger from those options, and holds no
// package-level state. Only the PROXY listener starts goroutines; its Close
// stops them.
//
// # PROXY protocol and Accept
//
// go-proxyproto's own Listener does not read the header in Accept: in
// v0.15.0, the version pgshield pins, its Conn reads it lazily on the first
// Read, Write, RemoteAddr, LocalAddr or ProxyHeader call, bounded by
// ReadHeaderTimeout. That keeps Accept from blocking on a silent client, but a
// refused header would then surface as a Read error deep inside the proxy's
// session goroutine, and RemoteAddr itself could block for the whole header
// timeout. This package therefore reads the header eagerly with the
// library's parser, in one goroutine per pending connection under its own
// read deadline, and hands Accept only connections whose header (or lack of
// one) passed the policy. A silent client holds its own goroutine until
// HeaderTimeout, never Accept.
package edge
