// Package dbinit converges a PostgreSQL database to a role plan: it creates
// the authenticator login role pgshield logs in as, the no-privilege role a
// RESET ROLE lands on, and the least-privilege roles client identities are
// mapped to, then grants each mapped role exactly the privileges the plan
// lists and revokes the rest (within the tables, schemas and roles the plan
// manages). It is the engine behind `pgshield init-db`.
//
// The authenticator can SET ROLE to every mapped role but inherits none of
// their privileges: on PostgreSQL 16+ each membership is granted WITH INHERIT
// FALSE, SET TRUE; on older servers the authenticator is NOINHERIT. A fresh
// authenticator session starts as the no-privilege role (ALTER ROLE … SET
// role), so a client that escapes SET LOCAL ROLE lands on nothing.
//
// A run is one transaction under an advisory lock: it reads the catalog,
// issues only the statements needed, and reports them. Re-running an applied
// plan issues nothing. A dry run performs the same work and rolls it back, so
// the SQL it reports is exactly what a real run would execute. A password, if
// one is given, is sent as a SCRAM verifier computed here (so the plaintext
// never reaches the server's statement log) and is shown as '***' everywhere.
package dbinit
