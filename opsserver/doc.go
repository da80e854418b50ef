// Package opsserver is pgshield's operations HTTP listener: Prometheus
// metrics, liveness and readiness for orchestrators, and optionally pprof.
//
// It is separate from the PostgreSQL listener and by default binds only to
// loopback (127.0.0.1:9187): nothing it serves needs to be reachable from
// clients, and Loopback lets the security report flag a wider bind.
//
// Endpoints:
//
//   - /metrics: the Gatherer the caller passes in (never the default
//     registry), through promhttp.HandlerFor.
//   - /healthz: 200 "ok" for as long as the process serves HTTP.
//   - /readyz: 200 "ok" when Options.Ready returns nil within
//     Options.ReadyTimeout, else 503 with a one-line reason taken from the
//     error. At most one Ready call runs at a time; concurrent probes share
//     its result, so a slow backend cannot pile up checks.
//   - /debug/pprof/: only with Options.Pprof, and only on a loopback address.
//
// The Server owns its goroutines: New binds the listener, Serve runs the
// HTTP server in the caller's goroutine until its context ends or Close is
// called, and Close (idempotent) stops everything and waits for it.
package opsserver
