// Package harness is pgshield's benchmark: it starts an ephemeral
// PostgreSQL with TLS 1.3 and client-certificate authentication, pgshield
// (the built binary, in its own process), PgBouncer and HAProxy on loopback
// with the same certificates, drives them with pgbench and the loadgen
// package in interleaved rounds, and writes a Markdown table, a JSON file of
// every figure and a PNG chart. Every figure it reports is a ratio against
// direct PostgreSQL measured in the same run.
//
// Run owns every process it starts and stops them all before it returns,
// also when its context is cancelled (Ctrl-C) or a step fails.
package harness
