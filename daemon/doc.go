// Package daemon assembles a running pgshield from its configuration: it
// loads certificates, identities and backend credentials (failing before it
// listens if any is bad), wires tlsterm, auth and backend into the proxy,
// and runs it until its context ends, then drains. cmd/pgshield and the
// end-to-end tests both start pgshield through it.
package daemon
