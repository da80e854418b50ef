// Package admin serves pgshield's admin console: the virtual database
// "pgshield" that psql opens to inspect pools, clients, servers and the
// security posture, and to pause, resume, reload or kill sessions.
//
// The proxy authenticates the client, checks that its identity is an admin
// and sends the startup greeting itself; it then hands the session to
// Console.Serve, which runs the command loop over the simple query protocol,
// one command per Query. Everything the console reports or changes goes
// through the proxy's Controller, a small data-only interface, so this
// package holds no state of its own beyond its immutable Options and a
// Console may serve any number of sessions at once.
//
// Each SHOW returns a result set whose columns are text (OID 25), int8
// (OID 20) for counts, bytes, process ids, session ids and durations in
// milliseconds, and bool (OID 16) for flags. Times are RFC 3339 text; a zero
// time is NULL.
package admin
