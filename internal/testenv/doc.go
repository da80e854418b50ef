// Package testenv is the end-to-end test harness: a real PostgreSQL cluster
// (pgcluster), a development PKI with the certificates the tests need, and
// pgshield itself started from a config on 127.0.0.1:0, with its log
// captured so tests can check what was logged and that no secret was.
package testenv
