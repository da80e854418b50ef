// Package hba generates the backend's hardened pg_hba.conf and a
// postgresql.conf fragment for `pgshield gen-hba`: only the proxy's
// authenticator role(s) may connect, only over the proxy's unix socket or
// from the proxy's single address over TLS, only with scram-sha-256; an
// admin line exists only when asked for; every other connection meets an
// explicit reject line, so the file's intent survives later edits above it.
package hba
