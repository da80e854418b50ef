package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Sink records audit events. It is safe for concurrent use.
type Sink interface {
	// Append writes r and returns its seq once it is durable per
	// Options.Durability. Errors from the disk wrap ErrUnavailable.
	Append(ctx context.Context, r *Record) (uint64, error)
	// Submit records r without waiting for it to be written: for records
	// made after the fact (a statement's outcome), whose loss in a crash
	// loses no statement. r is chained at once (in the caller's goroutine
	// when nobody else is writing, else by the writer) and written with
	// the next record or within SyncInterval. Submit waits only while the
	// queue is full. A failed write makes later Appends fail, as ever.
	Submit(ctx context.Context, r *Record) error
	// Stats returns counters for metrics.
	Stats() Stats
	// Close writes what is queued, a final checkpoint, and closes the
	// files. It is idempotent; later Appends fail with ErrClosed.
	Close() error
}

// Stats are cumulative counters since Open.
type Stats struct {
	Records            uint64 // records acknowledged to callers
	Dropped            uint64 // records lost to failures under FailOpen
	WriteFailures      uint64
	Syncs              uint64
	SyncFailures       uint64
	SyncTime           time.Duration // total time spent in fdatasync
	MaxSyncLatency     time.Duration
	Checkpoints        uint64
	CheckpointFailures uint64
	Rotations          uint64
	LastSeq            uint64
	Unavailable        bool // the last write or sync failed
}

var (
	// ErrUnavailable means the record could not be made durable; the
	// proxy must refuse the statement (SQLSTATE 58030).
	ErrUnavailable = errors.New("audit log unavailable")
	// ErrClosed is returned (wrapped with ErrUnavailable) after Close.
	ErrClosed = errors.New("audit log closed")
)

// request is one Append waiting for the writer goroutine.
type request struct {
	ctx   context.Context
	rec   *Record
	seq   uint64
	err   error
	reply chan struct{} // closed once seq or err is set; nil: written inline, or Submit
	// after: a Submit, made after the fact; it may wait for the next write.
	after bool
}

// sink is the Sink implementation. The files and the chain state are
// guarded by mu: the writer goroutine, run, takes it for every batch it
// groups from reqs and on its ticks; an Append that finds it free writes
// its record itself. run is started by Open and stopped by Close.
type sink struct {
	opts     Options
	signer   note.Signer
	verifier note.Verifier

	reqs    chan *request
	closing chan struct{} // closed by Close to stop run
	done    chan struct{} // closed when run has returned
	closed  atomic.Bool
	once    sync.Once
	// closeErr is set by run before done is closed.
	closeErr error

	statsMu sync.Mutex
	stats   Stats // guarded by statsMu

	// mu guards the fields below (Open sets them up before run starts).
	mu sync.Mutex
	// shut: the files are closed (after Close); nothing more is written.
	shut        bool
	seg         File
	segName     string
	segNum      int
	segSize     int64 // bytes of whole lines in seg
	segStart    time.Time
	cpFile      File
	cpSize      int64
	nextSeq     uint64
	last        [32]byte
	fileSeq     uint64 // last seq written to seg
	fileHash    [32]byte
	pending     []byte // encoded and acknowledged, not yet written (async mode; Submit's records)
	dirty       bool   // written since the last fdatasync
	needTrunc   bool   // a failed write could not be truncated yet
	failing     bool   // last write or sync failed
	cpSeq       uint64
	cpTime      time.Time
	sinceRotate uint64
}

// Open opens (creating if needed) the log in opts.Dir, verifies the tail of
// an existing log, appends a restart record and starts the writer. The
// caller must Close the returned Sink.
func Open(ctx context.Context, opts Options) (Sink, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	signer, verifier, err := signerAndVerifier(o.SigningKey)
	if err != nil {
		return nil, err
	}
	if o.Origin == "" {
		o.Origin = signer.Name()
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	s := &sink{
		opts: o, signer: signer, verifier: verifier,
		reqs:    make(chan *request, o.QueueSize),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := s.recover(ctx); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.run()
	return s, nil
}

func (s *sink) Append(ctx context.Context, r *Record) (uint64, error) {
	if err := s.acceptable(r); err != nil {
		return 0, err
	}
	req := &request{ctx: ctx, rec: r}
	if handled, shut := s.writeUncontended(req); handled {
		if shut {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
		}
		return s.result(req)
	}
	req.reply = make(chan struct{})
	if err := s.enqueue(ctx, req); err != nil {
		return 0, err
	}
	select {
	case <-req.reply:
	case <-ctx.Done():
		// The record may still be written; the caller refuses anyway.
		return 0, ctx.Err()
	case <-s.done:
		select {
		case <-req.reply:
		default:
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
		}
	}
	return s.result(req)
}

// result is what Append returns for a handled request: with fail_open, a
// disk failure drops the record (counted) instead of refusing.
func (s *sink) result(req *request) (uint64, error) {
	if req.err != nil && errors.Is(req.err, ErrUnavailable) && s.opts.FailOpen {
		s.count(func(st *Stats) { st.Dropped++ })
		return 0, nil
	}
	return req.seq, req.err
}

func (s *sink) Submit(ctx context.Context, r *Record) error {
	if err := s.acceptable(r); err != nil {
		return err
	}
	req := &request{ctx: ctx, rec: r, after: true}
	if handled, shut := s.writeUncontended(req); handled {
		if shut {
			return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
		}
		return nil // a failed write is counted and fails later Appends
	}
	return s.enqueue(ctx, req)
}

// writeUncontended handles req (see handle) in the caller's goroutine when
// nobody is writing or waiting, instead of handing it to the writer
// goroutine and back: two wake-ups, most of a record's cost at low
// concurrency. Contended records, and sync mode's records that need an
// fdatasync, go to the writer, which groups them; a Submit needs none in
// any mode. handled: req was handled (its err set on failure); shut: the
// log is closed and nothing was done.
func (s *sink) writeUncontended(req *request) (handled, shut bool) {
	if (s.opts.Durability == DurabilitySync && !req.after) || len(s.reqs) != 0 || !s.mu.TryLock() {
		return false, false
	}
	shut = s.shut
	if !shut {
		s.handle([]*request{req})
	}
	s.mu.Unlock()
	return true, shut
}

// acceptable refuses a record without a kind (or with the log's own
// segment_start) and any record after Close.
func (s *sink) acceptable(r *Record) error {
	if r == nil || r.Kind == "" || r.Kind == KindSegmentStart {
		return errors.New("audit: record needs a kind other than segment_start")
	}
	if s.closed.Load() {
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	return nil
}

// enqueue hands req to the writer goroutine.
func (s *sink) enqueue(ctx context.Context, req *request) error {
	select {
	case s.reqs <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
}

func (s *sink) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return s.stats
}

func (s *sink) count(f func(*Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

func (s *sink) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.closing)
		<-s.done
	})
	return s.closeErr
}

func (s *sink) closeFiles() error {
	var errs []error
	if s.seg != nil {
		errs = append(errs, s.seg.Close())
		s.seg = nil
	}
	if s.cpFile != nil {
		errs = append(errs, s.cpFile.Close())
		s.cpFile = nil
	}
	return errors.Join(errs...)
}
