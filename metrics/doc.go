// Package metrics holds every Prometheus collector pgshield exports, as one
// struct registered on a prometheus.Registerer the caller passes in (never
// the default registry), so the names live in one file and one test pins
// them.
//
// # Cardinality
//
// Every label value is known when New runs: connection states, TLS and
// authentication reasons, firewall rule ids, audit kinds and backend error
// reasons are fixed lists, and identities, pools and logins come from the
// configuration. A value outside those lists is folded into "other" (or
// "unknown" for identities) or not recorded at all (pool and login gauges,
// where summing unrelated values would mislead), so no client can create a
// series by presenting a new certificate name or an odd error.
//
// # Hot path
//
// All children are resolved in New. Per-connection state lives in an
// *Identity handle (resolved once, when the client's identity is known) and
// a Conn value owned by the connection's goroutine; the per-statement calls
// (Identity.Statement, Conn.Statement) are a few atomic adds and allocate
// nothing.
//
// # No-op metrics
//
// NewNoop, the zero Metrics and a nil *Metrics record nothing; so do nil
// *Identity and *Pool handles and the zero Conn. Callers therefore never
// test whether metrics are enabled.
package metrics
