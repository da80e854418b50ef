package audit

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// referenceJSON is what encodeLine wrote before appendEntry: encoding/json
// with HTML escaping off, without the newline.
func referenceJSON(t testing.TB, e *Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// trickyStrings exercise every escaping rule.
var trickyStrings = []string{
	"", "plain", `quote " and backslash \`, "<html> & 'single'", "tab\tnl\ncr\rbs\bff\f",
	"\x00\x01\x1f\x7f", "ünïcödé €", "line sep \u2028 para sep \u2029", "bad utf8 \xff\xfe end", "\xc3", "emoji 😀",
	"SELECT * FROM t WHERE a = '<>' AND b = E'\\x00'",
}

func TestAppendEntryMatchesJSON(t *testing.T) {
	rows, zero := int64(42), int64(0)
	s1, s2 := "v1", "\u2028\x00"
	entries := []*Entry{
		{},
		{Seq: 1, TS: "2025-01-01T00:00:00.000000Z", Instance: "i", Kind: KindStatement, Prev: "00"},
		{Seq: 18446744073709551615, TS: "t", Instance: "h/1", Session: "s", Kind: KindOutcome, ClientAddr: "[::1]:5", Identity: "CN=x",
			Fingerprint: "f", Role: "r", Database: "d", BackendPID: 4294967295, Action: "query", Statement: "SELECT 1",
			StatementTruncated: true, StatementSHA256: "ab", Params: []*string{&s1, nil, &s2}, Ref: 7, Rows: &rows,
			DurationUS: -3, SQLState: "42501", Reason: "why", Detail: map[string]string{"b": "2", "a": "1", "é\n": "\u2029"}, Prev: "p", Hash: "h"},
		{Rows: &zero, Params: []*string{}, Detail: map[string]string{}},
	}
	for _, a := range trickyStrings {
		for _, b := range trickyStrings {
			entries = append(entries, &Entry{Statement: a, Reason: b, Detail: map[string]string{a: b}, Params: []*string{&a, &b}})
		}
	}
	for i, e := range entries {
		want := referenceJSON(t, e)
		if got := appendEntry(nil, e); !bytes.Equal(got, want) {
			t.Fatalf("entry %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzAppendEntry(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, s, uint64(len(s)), int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, a, b string, n uint64, m int64) {
		e := &Entry{Seq: n, TS: a, Instance: b, Kind: Kind(a), Statement: b, Ref: n, Rows: &m, DurationUS: m,
			Detail: map[string]string{a: b, b: a}, Params: []*string{&a, nil, &b}, Prev: a}
		if got, want := appendEntry(nil, e), referenceJSON(t, e); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// TestAppendEntryRandom compares random byte strings, valid UTF-8 or not.
func TestAppendEntryRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		b := make([]byte, r.IntN(24))
		for j := range b {
			b[j] = byte(r.IntN(256))
		}
		s := string(b)
		e := &Entry{Statement: s, Detail: map[string]string{s: s}}
		if got, want := appendEntry(nil, e), referenceJSON(t, e); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
}
