// Package e2e holds pgshield's end-to-end tests: a real PostgreSQL cluster
// started by internal/testenv, pgshield in front of it, and real clients
// (psql, pgbench, pgx) connecting over TLS 1.3 with client certificates.
package e2e
