// Package pgcluster starts and stops a throw-away PostgreSQL cluster: initdb into a
// temporary directory, SCRAM-only authentication, a unix socket (and optionally
// 127.0.0.1) on a free port. The demo and the test harness both stand on it.
//
// PostgreSQL refuses to run as root. When the process is root, initdb and the
// server run as the unprivileged "postgres" system user (or Options.RunAs), and
// the cluster's directory is handed to that user; for a normal user nothing
// changes.
package pgcluster
