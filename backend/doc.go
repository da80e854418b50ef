// Package backend logs pgshield into the PostgreSQL server with its own
// credentials (SCRAM-SHA-256 through pgconn, over a unix socket or TLS
// verify-full), then takes the raw connection over for relaying. It also
// sends cancel requests with the backend's own key, which clients never see.
package backend
