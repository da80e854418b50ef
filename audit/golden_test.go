package audit

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestGoldenRecordFormat pins the exact line format (field names, order,
// timestamp shape, hashing) for a fixed clock. Any diff here breaks every
// existing log's verifiability: change the format only with a new domain.
func TestGoldenRecordFormat(t *testing.T) {
	dir := t.TempDir()
	k := newTestKey(t, "golden")
	o := testOptions(dir, k, newFakeClock())
	o.MaxStatementBytes = 40
	s := mustOpen(t, o)
	rows := int64(3)
	recs := []*Record{
		{Session: "sess-1", Kind: KindConnect, ClientAddr: "192.0.2.1:5555", Identity: "CN=alice", Fingerprint: "sha256:ab12", Role: "app", Database: "prod", BackendPID: 99},
		stmt(0),
		{Session: "sess-1", Kind: KindOutcome, Action: "UPDATE 3", Ref: 3, Rows: &rows, DurationUS: 1500},
		{Session: "sess-1", Kind: KindDenied, Identity: "CN=alice", Statement: "DROP TABLE users; -- <é>", Reason: "ddl not allowed", SQLState: "42501"},
		{Session: "sess-1", Kind: KindStatement, Statement: "SELECT 'ünïcödé ünïcödé ünïcödé ünïcödé ünïcödé'", Params: [][]byte{[]byte("x")}},
		{Kind: KindAdmin, Detail: map[string]string{"op": "reload", "by": "ops"}},
	}
	for _, r := range recs {
		mustAppend(t, s, r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "records.golden.jsonl")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(got) != string(want) {
		t.Errorf("record lines differ from %s (run with -update if intended)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
	mustVerify(t, dir, k)
}
