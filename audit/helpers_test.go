package audit

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testKeys is one key pair per test binary run; generation is cheap but
// the tests compare logs signed by the same key.
type testKey struct {
	skey SigningKey
	vkey string
}

func newTestKey(t testing.TB, name string) testKey {
	t.Helper()
	skey, vkey, err := GenerateSigningKey(name)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{SigningKey(skey), vkey}
}

// testOptions returns options for a log in dir with a fake clock.
func testOptions(dir string, k testKey, clock *fakeClock) Options {
	return Options{
		Dir:          dir,
		SigningKey:   k.skey,
		InstanceID:   "inst-A",
		Now:          clock.Now,
		SyncInterval: time.Millisecond,
	}
}

func mustOpen(t testing.TB, o Options) Sink {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAppend(t testing.TB, s Sink, r *Record) uint64 {
	t.Helper()
	seq, err := s.Append(context.Background(), r)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return seq
}

func stmt(i int) *Record {
	return &Record{
		Session: "s1", Kind: KindStatement, ClientAddr: "10.0.0.7:51234", Identity: "alice@example.com",
		Role: "app", Database: "prod", BackendPID: 4242, Action: "query",
		Statement: "SELECT * FROM t WHERE id = $1 -- " + string(rune('a'+i%26)),
		Params:    [][]byte{[]byte("42"), nil},
	}
}

func mustVerify(t testing.TB, dir string, k testKey) Report {
	t.Helper()
	rep, err := Verify(dir, k.vkey, VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// copyDir copies a log directory, as a crash would leave it on disk.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// readEntries returns every record of the log in dir, segment by segment.
func readEntries(t testing.TB, dir string) []Entry {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var entries []Entry
	for _, seg := range segs {
		lines, err := readLines(filepath.Join(dir, seg.name))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			var e Entry
			if err := json.Unmarshal(l, &e); err != nil {
				t.Fatal(err)
			}
			entries = append(entries, e)
		}
	}
	return entries
}
