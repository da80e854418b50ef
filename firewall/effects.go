package firewall

import "strings"

// SessionEffects are bit flags for what a text does that outlives its
// transaction. The pooler must pin (or reset) the backend connection of a
// client whose text has any of them.
type SessionEffects uint32

const (
	// SessionSet is SET without LOCAL, SET … TO DEFAULT, RESET, SET SESSION
	// CHARACTERISTICS or set_config(…, is_local) with is_local not the
	// constant true.
	SessionSet SessionEffects = 1 << iota
	// Listen is LISTEN.
	Listen
	// Unlisten is UNLISTEN.
	Unlisten
	// TempTable is CREATE TEMP TABLE/VIEW/SEQUENCE, SELECT INTO TEMP or a
	// relation named in pg_temp.
	TempTable
	// AdvisoryLock is a session-level advisory lock (pg_advisory_lock,
	// pg_try_advisory_lock and their _shared forms; not the _xact_ ones).
	AdvisoryLock
	// SQLPrepare is an SQL-level PREPARE.
	SQLPrepare
	// Deallocate is DEALLOCATE.
	Deallocate
	// HoldCursor is DECLARE … WITH HOLD.
	HoldCursor
	// DiscardSome is DISCARD PLANS, SEQUENCES or TEMP (DISCARD ALL is denied).
	DiscardSome
)

// String lists the set flags, e.g. "set|listen", for logs.
func (s SessionEffects) String() string {
	return flagString(uint32(s), []string{"set", "listen", "unlisten", "temp_table",
		"advisory_lock", "sql_prepare", "deallocate", "hold_cursor", "discard_some"})
}

// TxControl are bit flags for the transaction-control statements in a text.
type TxControl uint8

const (
	// Begin is BEGIN or START TRANSACTION.
	Begin TxControl = 1 << iota
	// Commit is COMMIT or END.
	Commit
	// Rollback is ROLLBACK or ABORT.
	Rollback
	// Savepoint is SAVEPOINT.
	Savepoint
	// ReleaseSavepoint is RELEASE [SAVEPOINT].
	ReleaseSavepoint
	// RollbackToSavepoint is ROLLBACK TO [SAVEPOINT].
	RollbackToSavepoint
	// TwoPhase is PREPARE TRANSACTION, COMMIT PREPARED or ROLLBACK PREPARED.
	TwoPhase
)

// String lists the set flags, e.g. "begin|commit", for logs.
func (t TxControl) String() string {
	return flagString(uint32(t), []string{"begin", "commit", "rollback", "savepoint",
		"release", "rollback_to", "two_phase"})
}

func flagString(v uint32, names []string) string {
	if v == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range names {
		if v&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(n)
	}
	return b.String()
}
