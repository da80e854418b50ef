package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKeyFilesAndRunVerify(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	var out strings.Builder
	if err := WriteKeyFiles(&out, "pgshield-prod", priv, pub); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", fi.Mode().Perm())
	}
	if strings.Contains(out.String(), "PRIVATE") {
		t.Errorf("key generation printed the private key")
	}
	if err := WriteKeyFiles(&out, "pgshield-prod", priv, pub); err == nil {
		t.Error("WriteKeyFiles overwrote an existing key")
	}
	skey, err := LoadSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(priv, 0o644)
	if _, err := LoadSigningKey(priv); err == nil || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("LoadSigningKey of a world-readable key: %v", err)
	}

	logDir := filepath.Join(dir, "log")
	o := Options{Dir: logDir, SigningKey: skey, InstanceID: "i1", Now: newFakeClock().Now}
	s := mustOpen(t, o)
	mustAppend(t, s, stmt(0))
	s.Close()

	out.Reset()
	ok, err := RunVerify(&out, logDir, pub)
	if !ok || err != nil || !strings.Contains(out.String(), "is intact: 1 segments, 2 records, last seq 2") {
		t.Fatalf("RunVerify = %v, %v: %s", ok, err, out.String())
	}
	editLines(t, logDir, 1, func(l [][]byte) [][]byte { return l[:1] })
	out.Reset()
	ok, err = RunVerify(&out, logDir, pub)
	if ok || err != nil || !strings.Contains(out.String(), "FAILED verification at audit-000001.jsonl line 2 (seq 2)") {
		t.Fatalf("RunVerify of truncated log = %v, %v: %s", ok, err, out.String())
	}
}

func TestTailAndSearch(t *testing.T) {
	k := newTestKey(t, "read")
	dir := t.TempDir()
	clock := newFakeClock()
	o := testOptions(dir, k, clock)
	o.MaxSegmentBytes = 1500
	s := mustOpen(t, o)
	t0 := clock.Now()
	for i := range 10 {
		mustAppend(t, s, stmt(i))
		clock.Advance(time.Minute)
	}
	mustAppend(t, s, &Record{Kind: KindDenied, Identity: "bob", Role: "app", Database: "prod",
		Statement: "DROP TABLE x;\n\x1b[31m", SQLState: "42501", Reason: "ddl"})
	s.Close()

	var out strings.Builder
	if err := Tail(&out, dir, 3); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "denied identity=bob role=app db=prod sqlstate=42501 reason=ddl DROP TABLE x;") {
		t.Fatalf("Tail:\n%s", out.String())
	}
	if strings.ContainsRune(out.String(), '\x1b') {
		t.Error("Tail printed a terminal escape from a statement")
	}
	segs, _ := listSegments(dir)
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 11 + len(segs)},
		{"denied", Filter{DeniedOnly: true}, 1},
		{"identity", Filter{Identity: "alice@example.com"}, 10},
		{"sqlstate", Filter{SQLState: "42501"}, 1},
		{"kind", Filter{Kind: KindSegmentStart}, len(segs)},
		{"window", Filter{Kind: KindStatement, Since: t0.Add(2 * time.Minute), Until: t0.Add(5 * time.Minute)}, 3},
	}
	for _, tc := range tests {
		out.Reset()
		if err := Search(&out, dir, tc.f); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "\n"); got != tc.want {
			t.Errorf("%s: %d lines, want %d:\n%s", tc.name, got, tc.want, out.String())
		}
	}
}
