// Package audit is pgshield's tamper-evident audit log: it records every
// statement and security event as a hash-chained JSON line, signs periodic
// checkpoints of the chain head, and verifies the whole thing from the bytes
// on disk alone.
//
// # Layout on disk
//
// A log is a directory holding segment files audit-000001.jsonl,
// audit-000002.jsonl, ... (one JSON object per line, each line ending in
// "\n") and a file named "checkpoints" holding every checkpoint ever written,
// appended one after another. Other files in the directory are ignored.
//
// Every segment starts with a record of kind "segment_start" whose detail
// names the segment itself ("segment") and the segment before it
// ("prev_segment", empty for the first). Seq numbers start at 1 and run
// without gaps across segments and restarts, so the checkpoint size (the last
// seq covered) is also the number of records.
//
// # Hash chain
//
// Each line is the JSON encoding of an Entry whose last two members are
// "prev" and "hash", in that order, with nothing after them:
//
//	{"seq":7,...,"prev":"<64 hex>","hash":"<64 hex>"}\n
//
// Let body be the line without its trailing newline and with the final
// `,"hash":"<64 hex>"` removed (so body is itself a JSON object ending in
// `"prev":"<64 hex>"}`). Then
//
//	hash_n = SHA-256("pgshield-audit-v1\x00" || prev_n || body_n)
//
// where prev_n is the raw 32-byte hash of record n-1 (32 zero bytes for seq 1)
// and must also equal the hex "prev" member of body_n. The hash covers the exact
// bytes on disk, so a verifier never re-encodes JSON: it only needs the lines.
//
// # Checkpoints
//
// A checkpoint is a C2SP signed note (golang.org/x/mod/sumdb/note, Ed25519)
// whose text is the tlog-checkpoint body
//
//	<origin>\n<size>\n<base64 of hash_size>\n
//
// Note that the hash is the chain head hash defined above, not a Merkle tree
// root. Checkpoints are written at Open, every Options.CheckpointEvery records
// or Options.CheckpointInterval, at segment rotation and at Close, only after
// the records they cover have been fdatasync'ed. The checkpoints file is
// append-only; keeping every checkpoint makes a truncated log (size smaller
// than a signed checkpoint) or a rewritten one (a different hash at a signed
// size) provable with the verifier key alone.
//
// # Durability and failure
//
// Append is fail-closed: if the record cannot be made durable per the
// configured Durability, it returns an error wrapping ErrUnavailable and the
// proxy refuses the statement (SQLSTATE 58030). A failed or short write is
// truncated back to the last good offset, so the file never holds a half
// line the chain cannot explain. Options.FailOpen swallows these errors and
// only counts them; the security report marks that configuration down.
//
// Records made after the fact (Submit: a statement's outcome) wait in memory
// for the next record that is written, the SyncInterval tick, a checkpoint
// or a rotation, whichever comes first, and share its write: a crash of the
// process can lose up to SyncInterval of outcomes, never a statement. A
// failed write keeps them for the retry.
//
// # Crashes
//
// After a crash the last segment may end with a torn line (bytes after the
// final "\n"). Verify reports it as a warning (Report.TornTailBytes). Open
// truncates exactly those bytes, never a complete line, and records their
// count and SHA-256 in the detail of the "restart" record it appends. Any
// complete line that fails verification makes Open refuse to start (fail
// closed) rather than begin a new chain. Open checks the last segment and
// every segment back to the one holding the newest checkpoint; Verify checks
// everything.
//
// # Limits
//
// Someone who can rewrite the directory can delete the newest checkpoints
// along with the records after them; only a copy of the checkpoints kept
// elsewhere (or a witness) catches that. Anyone holding the signing key can
// forge a whole log, so keep it readable only by the proxy. In async mode
// records acknowledged but not yet written are lost if the process dies.
package audit
