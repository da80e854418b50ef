// Package auditdb copies audit records into a PostgreSQL table as well,
// for people who query their audit trail with SQL. The file log stays the
// record of truth: a record reaches the table after it is durable on disk,
// through a bounded queue and a background writer, so no statement ever
// waits on this database; when the queue is full, records are dropped from
// the table (never from the file) and counted. The table is append-only: a
// trigger refuses UPDATE, DELETE and TRUNCATE, as in the design seed.
package auditdb
