package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFile wraps a real file and fails on demand.
type faultFile struct {
	*os.File
	mu        *sync.Mutex
	failWrite *bool // write half the bytes, then ENOSPC
	failSync  *bool
}

func (f faultFile) Write(b []byte) (int, error) {
	f.mu.Lock()
	fail := *f.failWrite
	f.mu.Unlock()
	if fail {
		n, _ := f.File.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	}
	return f.File.Write(b)
}

func (f faultFile) Sync() error {
	f.mu.Lock()
	fail := *f.failSync
	f.mu.Unlock()
	if fail {
		return syscall.EIO
	}
	return f.File.Sync()
}

type faults struct {
	mu                  sync.Mutex
	failWrite, failSync bool
}

func (fs *faults) set(write, sync bool) {
	fs.mu.Lock()
	fs.failWrite, fs.failSync = write, sync
	fs.mu.Unlock()
}

func (fs *faults) open(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{f, &fs.mu, &fs.failWrite, &fs.failSync}, nil
}

func TestFailClosed(t *testing.T) {
	k := newTestKey(t, "failclosed")
	tests := []struct {
		mode              Durability
		failWrite, failSy bool
	}{
		{DurabilityBatch, true, false},
		{DurabilitySync, true, false},
		{DurabilitySync, false, true},
		{DurabilityAsync, true, false},
		{DurabilityBatch, false, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/write=%v/sync=%v", tc.mode, tc.failWrite, tc.failSy), func(t *testing.T) {
			dir := t.TempDir()
			fs := &faults{}
			o := testOptions(dir, k, newFakeClock())
			o.Durability, o.OpenFile = tc.mode, fs.open
			s := mustOpen(t, o)
			defer s.Close()
			var acked []uint64
			acked = append(acked, mustAppend(t, s, stmt(0)))
			fs.set(tc.failWrite, tc.failSy)
			// Async acknowledges before writing and batch before syncing:
			// the failure shows on a later append, and must show.
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				var seq uint64
				if seq, err = s.Append(context.Background(), stmt(1)); err == nil {
					acked = append(acked, seq)
				}
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Append during failure = %v, want ErrUnavailable", err)
			}
			if _, err := s.Append(context.Background(), stmt(2)); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("second Append during failure = %v", err)
			}
			if !s.Stats().Unavailable {
				t.Error("Stats.Unavailable not set")
			}
			fs.set(false, false)
			seq := mustAppend(t, s, stmt(3))
			if want := acked[len(acked)-1] + 1; seq != want {
				t.Errorf("seq after recovery = %d, want %d (continuous)", seq, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			rep := mustVerify(t, dir, k)
			if rep.LastSeq != seq {
				t.Errorf("last seq on disk %d, want %d: acknowledged records lost", rep.LastSeq, seq)
			}
			if st := s.Stats(); st.WriteFailures+st.SyncFailures == 0 || st.Unavailable {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFailOpenSwallowsAndCounts(t *testing.T) {
	k := newTestKey(t, "failopen")
	dir := t.TempDir()
	fs := &faults{}
	o := testOptions(dir, k, newFakeClock())
	o.OpenFile, o.FailOpen = fs.open, true
	s := mustOpen(t, o)
	defer s.Close()
	fs.set(true, false)
	seq, err := s.Append(context.Background(), stmt(0))
	if err != nil || seq != 0 {
		t.Fatalf("FailOpen Append = %d, %v; want 0, nil", seq, err)
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d", st.Dropped)
	}
	fs.set(false, false)
	mustAppend(t, s, stmt(1))
	s.Close()
	mustVerify(t, dir, k)
}

// TestSubmitWriteFailureFailsClosed: an outcome (Submit) whose write fails
// — it is written with the next record or on the tick — leaves no half
// line, marks the log unavailable so the next statement's Append is refused
// while the disk fails, and is not lost: once the disk works it is written,
// and the log verifies.
func TestSubmitWriteFailureFailsClosed(t *testing.T) {
	k := newTestKey(t, "submitfail")
	dir := t.TempDir()
	fs := &faults{}
	o := testOptions(dir, k, newFakeClock())
	o.OpenFile = fs.open
	s := mustOpen(t, o)
	ctx := context.Background()
	ref := mustAppend(t, s, stmt(1))

	fs.set(true, false)
	if err := s.Submit(ctx, &Record{Kind: KindOutcome, Ref: ref}); err != nil {
		t.Fatalf("Submit = %v; its failure is the log's, not the caller's", err)
	}
	if _, err := s.Append(ctx, stmt(2)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append while the disk fails = %v, want ErrUnavailable", err)
	}
	if st := s.Stats(); !st.Unavailable || st.WriteFailures == 0 {
		t.Fatalf("the failed write was not counted: %+v", st)
	}

	fs.set(false, false)
	mustAppend(t, s, stmt(3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, dir, k)
	var kinds []Kind
	var outcomes, statements int
	for _, e := range readEntries(t, dir) {
		kinds = append(kinds, e.Kind)
		switch e.Kind {
		case KindOutcome:
			outcomes++
			if e.Ref != ref {
				t.Fatalf("outcome refers to %d, want %d", e.Ref, ref)
			}
		case KindStatement:
			statements++
		}
	}
	if outcomes != 1 || statements != 2 {
		t.Fatalf("log holds %d outcomes and %d statements (%v), want the outcome and statements 1 and 3", outcomes, statements, kinds)
	}
}
