package admin

import (
	"crypto/tls"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Type OIDs of the result set columns.
const (
	oidBool = 16
	oidInt8 = 20
	oidText = 25
)

// column is one column of a result set.
type column struct {
	name string
	oid  uint32
}

func textCol(name string) column { return column{name: name, oid: oidText} }
func intCol(name string) column  { return column{name: name, oid: oidInt8} }
func boolCol(name string) column { return column{name: name, oid: oidBool} }

// result is what a command returns: a result set when columns is non-nil,
// and always the CommandComplete tag.
type result struct {
	columns []column
	// rows hold text-format values; a nil value is NULL.
	rows [][][]byte
	tag  string
}

// showResult starts the result of a SHOW with the given columns.
func showResult(cols ...column) *result {
	return &result{columns: cols, tag: "SHOW"}
}

func (r *result) add(values ...[]byte) { r.rows = append(r.rows, values) }

func text(s string) []byte          { return []byte(s) }
func integer(n int64) []byte        { return strconv.AppendInt(nil, n, 10) }
func millis(d time.Duration) []byte { return integer(d.Milliseconds()) }

func boolean(b bool) []byte {
	if b {
		return []byte("t")
	}
	return []byte("f")
}

// timestamp renders t as RFC 3339 in UTC; the zero time is NULL.
func timestamp(t time.Time) []byte {
	if t.IsZero() {
		return nil
	}
	return t.UTC().AppendFormat(nil, time.RFC3339)
}

// sessionID renders a session id; zero, meaning none, is NULL.
func sessionID(id int64) []byte {
	if id == 0 {
		return nil
	}
	return integer(id)
}

// tlsVersion renders a crypto/tls version; zero, meaning no TLS, is NULL.
func tlsVersion(v uint16) []byte {
	if v == 0 {
		return nil
	}
	return text(tls.VersionName(v))
}

// messages returns r as RowDescription, DataRows and CommandComplete.
func (r *result) messages() []pgproto3.BackendMessage {
	msgs := make([]pgproto3.BackendMessage, 0, len(r.rows)+2)
	if r.columns != nil {
		fields := make([]pgproto3.FieldDescription, len(r.columns))
		for i, c := range r.columns {
			fields[i] = pgproto3.FieldDescription{
				Name:         []byte(c.name),
				DataTypeOID:  c.oid,
				DataTypeSize: typeSize(c.oid),
				TypeModifier: -1,
				Format:       pgproto3.TextFormat,
			}
		}
		msgs = append(msgs, &pgproto3.RowDescription{Fields: fields})
		for _, row := range r.rows {
			msgs = append(msgs, &pgproto3.DataRow{Values: row})
		}
	}
	return append(msgs, &pgproto3.CommandComplete{CommandTag: []byte(r.tag)})
}

// typeSize is pg_type.typlen for the OIDs the console uses.
func typeSize(oid uint32) int16 {
	switch oid {
	case oidBool:
		return 1
	case oidInt8:
		return 8
	default:
		return -1
	}
}
