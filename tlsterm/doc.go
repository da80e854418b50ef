// Package tlsterm terminates TLS from PostgreSQL clients and authenticates
// each client by its certificate.
//
// Its one job: given a client connection that the proxy has decided is TLS
// (after an SSLRequest, or PostgreSQL 17 direct TLS), run the server side of
// the handshake and return a verified Peer, or a RejectError with a stable
// Reason and a message that is safe to show the client.
//
// Client certificates are requested during the handshake
// (tls.RequestClientCert) but verified by this package afterwards, from the
// connection state, on every connection including resumed sessions. That way
// a rejected client still gets a readable PostgreSQL ErrorResponse over the
// established TLS connection instead of an opaque TLS alert. Verification
// fails closed: anything unexpected is a rejection.
//
// Certificates, the client CA bundle and CRLs are loaded and validated by New,
// so a bad file fails at start-up. Reload swaps everything atomically; the
// server certificate is also picked up from disk when its file changes.
package tlsterm
