package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
	"unicode/utf8"
)

// Kind says what a record describes.
type Kind string

// Record kinds. The proxy may use others for admin events; KindSegmentStart
// is reserved for the log itself.
const (
	KindStatement          Kind = "statement"
	KindOutcome            Kind = "outcome"
	KindDenied             Kind = "denied"
	KindConnect            Kind = "connect"
	KindAuthFailure        Kind = "auth_failure"
	KindDisconnect         Kind = "disconnect"
	KindRestart            Kind = "restart"
	KindReload             Kind = "reload"
	KindKill               Kind = "kill"
	KindCredentialRotation Kind = "credential_rotation"
	KindAdmin              Kind = "admin"
	KindSegmentStart       Kind = "segment_start"
)

// Record is what a caller asks the log to write. The log assigns seq, ts,
// instance, prev and hash, caps the statement and redacts the params.
type Record struct {
	// Time is when the event happened; zero means Options.Now() at append.
	Time        time.Time
	Session     string
	Kind        Kind
	ClientAddr  string
	Identity    string
	Fingerprint string
	Role        string
	Database    string
	BackendPID  uint32
	// Action is the protocol action (query, parse, bind, execute, copy,
	// function_call) or, for outcomes, the command tag.
	Action string
	// Statement is the full SQL text; the log stores at most
	// Options.MaxStatementBytes of it plus the SHA-256 of all of it.
	Statement string
	// Params are the bind values; a nil element is SQL NULL. They are stored
	// per Options.Params.
	Params [][]byte
	// Ref is the seq of the statement record an outcome refers to.
	Ref uint64
	// Rows is the affected row count; nil means not known.
	Rows       *int64
	DurationUS int64
	SQLState   string
	// Reason says why a statement was denied or authentication failed.
	Reason string
	// Detail holds admin event fields. It must not contain secrets.
	Detail map[string]string
}

// Entry is one record as stored on disk. Field order is the line format:
// never reorder, and keep Prev and Hash last (see the package comment).
type Entry struct {
	Seq                uint64            `json:"seq"`
	TS                 string            `json:"ts"`
	Instance           string            `json:"instance"`
	Session            string            `json:"session,omitempty"`
	Kind               Kind              `json:"kind"`
	ClientAddr         string            `json:"client_addr,omitempty"`
	Identity           string            `json:"identity,omitempty"`
	Fingerprint        string            `json:"fingerprint,omitempty"`
	Role               string            `json:"role,omitempty"`
	Database           string            `json:"database,omitempty"`
	BackendPID         uint32            `json:"backend_pid,omitempty"`
	Action             string            `json:"action,omitempty"`
	Statement          string            `json:"statement,omitempty"`
	StatementTruncated bool              `json:"statement_truncated,omitempty"`
	StatementSHA256    string            `json:"statement_sha256,omitempty"`
	Params             []*string         `json:"params,omitempty"`
	Ref                uint64            `json:"ref,omitempty"`
	Rows               *int64            `json:"rows,omitempty"`
	DurationUS         int64             `json:"duration_us,omitempty"`
	SQLState           string            `json:"sqlstate,omitempty"`
	Reason             string            `json:"reason,omitempty"`
	Detail             map[string]string `json:"detail,omitempty"`
	Prev               string            `json:"prev"`
	Hash               string            `json:"hash,omitempty"`
}

// tsLayout is fixed-width so lines sort and compare as text.
const tsLayout = "2006-01-02T15:04:05.000000Z"

// entryFrom builds the stored form of r. It does not set Seq, Prev or Hash.
func entryFrom(r *Record, now time.Time, instance string, maxStmt int, policy ParamPolicy) Entry {
	t := r.Time
	if t.IsZero() {
		t = now
	}
	e := Entry{
		TS:          t.UTC().Truncate(time.Microsecond).Format(tsLayout),
		Instance:    instance,
		Session:     r.Session,
		Kind:        r.Kind,
		ClientAddr:  r.ClientAddr,
		Identity:    r.Identity,
		Fingerprint: r.Fingerprint,
		Role:        r.Role,
		Database:    r.Database,
		BackendPID:  r.BackendPID,
		Action:      r.Action,
		Ref:         r.Ref,
		Rows:        r.Rows,
		DurationUS:  r.DurationUS,
		SQLState:    r.SQLState,
		Reason:      r.Reason,
		Detail:      r.Detail,
	}
	if r.Statement != "" {
		sum := sha256.Sum256([]byte(r.Statement))
		e.StatementSHA256 = hex.EncodeToString(sum[:])
		e.Statement, e.StatementTruncated = capUTF8(r.Statement, maxStmt)
	}
	e.Params = redactParams(r.Params, policy)
	return e
}

// capUTF8 cuts s to at most max bytes without splitting a rune; max < 0
// means no limit.
func capUTF8(s string, max int) (string, bool) {
	if max < 0 || len(s) <= max {
		return s, false
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

func redactParams(params [][]byte, policy ParamPolicy) []*string {
	if len(params) == 0 || policy == ParamsNone {
		return nil
	}
	out := make([]*string, len(params))
	for i, p := range params {
		if p == nil {
			continue // SQL NULL stays null whatever the policy
		}
		var v string
		if policy == ParamsFull {
			v = string(p)
		} else {
			sum := sha256.Sum256(p)
			v = hex.EncodeToString(sum[:])
		}
		out[i] = &v
	}
	return out
}

// hashSuffixLen is len(`,"hash":"` + 64 hex + `"}`).
const hashSuffixLen = len(`,"hash":"`) + 64 + len(`"}`)

// encodeLine appends the line for e (whose Seq is set) chained to prev and
// returns the new buffer and the record's hash.
func encodeLine(dst []byte, e *Entry, prev [32]byte) ([]byte, [32]byte) {
	e.Prev = hex.EncodeToString(prev[:])
	e.Hash = ""
	start := len(dst)
	dst = appendEntry(dst, e)
	h := chainHash(prev, dst[start:])
	dst = dst[:len(dst)-1] // the closing brace: the hash goes last
	dst = append(dst, `,"hash":"`...)
	dst = hex.AppendEncode(dst, h[:])
	dst = append(dst, "\"}\n"...)
	return dst, h
}
