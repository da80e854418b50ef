// Package proxy is pgshield's connection loop: it accepts clients, insists on
// TLS (SSLRequest or PG17 direct TLS), lets tlsterm verify the client
// certificate and auth decide the session, logs into the backend with
// pgshield's own credentials, greets the client with a proxy-issued cancel
// key, and relays the session message by message until either side ends it.
//
// Each accepted connection is owned by the Server: Shutdown stops accepting,
// lets sessions finish for a grace period and then ends the rest with 57P01.
// Within a session, the goroutine that forwards backend messages is the only
// writer to the client once the session is established, so every error the
// client sees arrives at a message boundary.
package proxy
