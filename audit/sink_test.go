package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendConcurrently runs workers goroutines of per appends each and
// returns every seq handed out.
func appendConcurrently(t testing.TB, s Sink, workers, per int) []uint64 {
	t.Helper()
	var mu sync.Mutex
	var seqs []uint64
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			local := make([]uint64, 0, per)
			for i := range per {
				seq, err := s.Append(context.Background(), stmt(w*per+i))
				if err != nil {
					errc <- err
					return
				}
				local = append(local, seq)
			}
			mu.Lock()
			seqs = append(seqs, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	return seqs
}

func TestConcurrentAppendsAreContinuous(t *testing.T) {
	for _, d := range []Durability{DurabilitySync, DurabilityBatch, DurabilityAsync} {
		t.Run(string(d), func(t *testing.T) {
			k := newTestKey(t, "conc")
			dir := t.TempDir()
			o := testOptions(dir, k, newFakeClock())
			o.Durability = d
			o.MaxSegmentBytes = 64 << 10
			o.CheckpointEvery = 500
			s := mustOpen(t, o)
			seqs := appendConcurrently(t, s, 64, 50)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(seqs)
			for i := 1; i < len(seqs); i++ {
				if seqs[i] == seqs[i-1] {
					t.Fatalf("seq %d handed out twice", seqs[i])
				}
			}
			rep := mustVerify(t, dir, k)
			if rep.Segments < 2 {
				t.Errorf("expected rotation, got %d segments", rep.Segments)
			}
			if rep.LastSeq != rep.Records || rep.Records != uint64(len(seqs))+uint64(rep.Segments) {
				t.Errorf("report %+v for %d appends", rep, len(seqs))
			}
			if st := s.Stats(); st.Records != uint64(len(seqs)) || st.Checkpoints < 2 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestReopenAfterCloseAppendsRestart(t *testing.T) {
	k := newTestKey(t, "reopen")
	dir := t.TempDir()
	clock := newFakeClock()
	s := mustOpen(t, testOptions(dir, k, clock))
	mustAppend(t, s, stmt(1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Append(context.Background(), stmt(2)); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append after Close = %v", err)
	}
	s = mustOpen(t, testOptions(dir, k, clock))
	if seq := mustAppend(t, s, stmt(3)); seq != 4 { // 1 segment_start, 2 stmt, 3 restart
		t.Fatalf("seq after reopen = %d, want 4", seq)
	}
	s.Close()
	rep := mustVerify(t, dir, k)
	var out strings.Builder
	if err := Search(&out, dir, Filter{Kind: KindRestart}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "seq=3 restart") || !strings.Contains(out.String(), `"previous_seq":"2"`) {
		t.Errorf("restart record missing: %q", out.String())
	}
	if rep.LastSeq != 4 {
		t.Errorf("last seq %d", rep.LastSeq)
	}
}

func TestReopenAfterCrash(t *testing.T) {
	k := newTestKey(t, "crash")
	tests := []struct {
		name       string
		damage     func(t *testing.T, dir string)
		wantOpen   bool
		wantDetail string
	}{
		{"killed, nothing torn", func(*testing.T, string) {}, true, `"previous_seq":"`},
		{"torn final line", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, segmentName(1)), `{"seq":99,"ts":"20`)
		}, true, `"torn_tail_bytes":"18"`},
		{"torn checkpoint", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, checkpointsFile), "crash\n12\n")
		}, true, `"torn_checkpoint_bytes":"9"`},
		{"corrupt complete line", func(t *testing.T, dir string) {
			editLines(t, dir, 1, func(l [][]byte) [][]byte {
				l[len(l)-1] = []byte(strings.Replace(string(l[len(l)-1]), "alice", "mallory", 1))
				return l
			})
		}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := newFakeClock()
			s := mustOpen(t, testOptions(dir, k, clock))
			defer s.Close()
			for i := range 5 {
				mustAppend(t, s, stmt(i))
			}
			// Batch mode: acknowledged records are in the file, so a copy
			// now is what kill -9 would leave behind.
			crashed := copyDir(t, dir)
			tc.damage(t, crashed)
			rep, verr := Verify(crashed, k.vkey, VerifyOptions{})
			if tc.name == "torn final line" && (verr != nil || rep.TornTailBytes != 18) {
				t.Errorf("Verify of torn log: %v, torn %d", verr, rep.TornTailBytes)
			}
			s2, err := Open(context.Background(), testOptions(crashed, k, clock))
			if !tc.wantOpen {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open of corrupt log = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open after crash: %v", err)
			}
			seq := mustAppend(t, s2, stmt(9))
			s2.Close()
			if seq != 8 { // 1 segment_start, 5 statements, 7 restart
				t.Errorf("seq after crash = %d, want 8", seq)
			}
			mustVerify(t, crashed, k)
			var out strings.Builder
			Search(&out, crashed, Filter{Kind: KindRestart})
			if !strings.Contains(out.String(), tc.wantDetail) {
				t.Errorf("restart record %q lacks %q", out.String(), tc.wantDetail)
			}
		})
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestRotationByTime(t *testing.T) {
	k := newTestKey(t, "age")
	dir := t.TempDir()
	clock := newFakeClock()
	o := testOptions(dir, k, clock)
	o.MaxSegmentAge = time.Hour
	s := mustOpen(t, o)
	mustAppend(t, s, stmt(0))
	clock.Advance(59 * time.Minute)
	mustAppend(t, s, stmt(1))
	clock.Advance(2 * time.Minute)
	mustAppend(t, s, stmt(2))
	s.Close()
	if rep := mustVerify(t, dir, k); rep.Segments != 2 {
		t.Fatalf("segments = %d, want 2", rep.Segments)
	}
}

func TestOptionsValidation(t *testing.T) {
	k := newTestKey(t, "opts")
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no dir", func(o *Options) { o.Dir = "" }, "Dir is required"},
		{"no key", func(o *Options) { o.SigningKey = "" }, "SigningKey is required"},
		{"no instance", func(o *Options) { o.InstanceID = "" }, "InstanceID is required"},
		{"bad durability", func(o *Options) { o.Durability = "maybe" }, "unknown Durability"},
		{"bad params", func(o *Options) { o.Params = "some" }, "unknown Params"},
		{"negative", func(o *Options) { o.SyncInterval = -1 }, "negative"},
		{"bad key", func(o *Options) { o.SigningKey = "PRIVATE+KEY+x+00000000+AAAA" }, "not a valid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t.TempDir(), k, newFakeClock())
			tc.mod(&o)
			_, err := Open(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSigningKeyNeverPrinted(t *testing.T) {
	k := newTestKey(t, "secret")
	o := Options{SigningKey: k.skey}
	secret := strings.SplitN(string(k.skey), "+", 5)[4]
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if out := fmt.Sprintf(f, o); strings.Contains(out, secret) || strings.Contains(out, "PRIVATE") {
			t.Errorf("%s leaks the key: %s", f, out)
		}
	}
}

func TestCapUTF8AndParams(t *testing.T) {
	tests := []struct {
		in    string
		max   int
		want  string
		trunc bool
	}{
		{"hello", 10, "hello", false},
		{"hello", 5, "hello", false},
		{"hello", 3, "hel", true},
		{"héllo", 2, "h", true}, // é is two bytes: never cut inside it
		{"日本", 4, "日", true},
		{"abc", -1, "abc", false},
	}
	for _, tc := range tests {
		got, trunc := capUTF8(tc.in, tc.max)
		if got != tc.want || trunc != tc.trunc {
			t.Errorf("capUTF8(%q, %d) = %q, %v", tc.in, tc.max, got, trunc)
		}
	}
	params := [][]byte{[]byte("secret"), nil}
	if p := redactParams(params, ParamsNone); p != nil {
		t.Errorf("none kept params")
	}
	if p := redactParams(params, ParamsHash); *p[0] == "secret" || len(*p[0]) != 64 || p[1] != nil {
		t.Errorf("hash: %v", p)
	}
	if p := redactParams(params, ParamsFull); *p[0] != "secret" {
		t.Errorf("full: %v", p)
	}
}

func TestCloseStopsWriterGoroutine(t *testing.T) {
	k := newTestKey(t, "leak")
	before := runtime.NumGoroutine()
	for range 5 {
		s := mustOpen(t, testOptions(t.TempDir(), k, newFakeClock()))
		mustAppend(t, s, stmt(0))
		s.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestSubmitQueuesInOrder: submitted records (outcomes) land in the chain,
// each after the statement it refers to, in every durability mode, and in
// the order they were submitted; Close writes what is still queued; Submit
// after Close fails.
func TestSubmitQueuesInOrder(t *testing.T) {
	for _, mode := range []Durability{DurabilityBatch, DurabilitySync, DurabilityAsync} {
		t.Run(string(mode), func(t *testing.T) {
			k := newTestKey(t, "submit")
			dir := t.TempDir()
			o := testOptions(dir, k, newFakeClock())
			o.Durability = mode
			s := mustOpen(t, o)
			ctx := context.Background()
			refs := map[uint64]bool{}
			for i := 0; i < 50; i++ {
				ref := mustAppend(t, s, stmt(i))
				refs[ref] = true
				rows := int64(i)
				if err := s.Submit(ctx, &Record{Kind: KindOutcome, Ref: ref, Rows: &rows}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Submit(ctx, &Record{Kind: KindOutcome, Ref: 1}); !errors.Is(err, ErrClosed) {
				t.Fatalf("Submit after Close = %v", err)
			}
			if err := s.Submit(ctx, &Record{}); err == nil {
				t.Fatal("Submit of a record without a kind succeeded")
			}
			mustVerify(t, dir, k)
			var outcomes []Entry
			for _, e := range readEntries(t, dir) {
				if e.Kind == KindOutcome {
					outcomes = append(outcomes, e)
				}
			}
			if len(outcomes) != 50 {
				t.Fatalf("%d outcome records, want 50", len(outcomes))
			}
			var prevRef uint64
			for i, e := range outcomes {
				if !refs[e.Ref] || e.Ref >= e.Seq || e.Ref <= prevRef {
					t.Fatalf("outcome %d (seq %d) refers to %d (previous %d)", i, e.Seq, e.Ref, prevRef)
				}
				prevRef = e.Ref
			}
		})
	}
}

// TestAppendWritesBeforeReturning: in batch mode an Append, uncontended
// (written on the caller's goroutine) or not, returns only once its record
// is in the segment file.
func TestAppendWritesBeforeReturning(t *testing.T) {
	k := newTestKey(t, "inline")
	dir := t.TempDir()
	s := mustOpen(t, testOptions(dir, k, newFakeClock()))
	defer s.Close()
	check := func(seq uint64) {
		t.Helper()
		var out strings.Builder
		if err := Search(&out, dir, Filter{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), fmt.Sprintf("seq=%d ", seq)) {
			t.Fatalf("record %d not in the file after Append returned:\n%s", seq, out.String())
		}
	}
	for i := 0; i < 20; i++ {
		check(mustAppend(t, s, stmt(i)))
	}
	seqs := appendConcurrently(t, s, 8, 50)
	check(slices.Max(seqs))
}
