package audit

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// maxBatch bounds how many appends share one write and one fdatasync.
const maxBatch = 1024

// asyncFlushBytes makes async mode write early when its queue grows.
const asyncFlushBytes = 256 << 10

// run is the writer goroutine: it batches queued appends (group commit),
// and on a ticker syncs, flushes and checkpoints.
func (s *sink) run() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.SyncInterval)
	defer tick.Stop()
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case req := <-s.reqs:
			batch = s.drain(append(batch[:0], req))
			s.mu.Lock()
			s.handle(batch)
			s.maybeCheckpoint(s.opts.Now()) // after the replies: nobody waits for it
			s.mu.Unlock()
		case <-tick.C:
			s.mu.Lock()
			s.tick()
			s.mu.Unlock()
		case <-s.closing:
			s.mu.Lock()
			for {
				batch = s.drain(batch[:0])
				if len(batch) == 0 {
					break
				}
				s.handle(batch)
			}
			s.closeErr = s.shutdown()
			s.shut = true
			s.mu.Unlock()
			return
		}
	}
}

// drain adds whatever is already queued to batch without blocking.
func (s *sink) drain(batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// handle encodes batch onto the chain and makes it durable per the mode.
// Called with s.mu held, by the writer or by an Append writing its own
// record; checkpoints (a signature and two fsyncs) are left to the writer,
// so no statement waits for one.
func (s *sink) handle(batch []*request) {
	now := s.opts.Now()
	async := s.opts.Durability == DurabilityAsync
	err := s.recoverFailure()
	if err == nil {
		err = s.maybeRotate(now)
	}
	if err != nil {
		s.replyAll(batch, err)
		return
	}
	// Every line goes onto pending. Records made after the fact (Submit)
	// stay there until a record someone waits for is written, the tick,
	// or a checkpoint or rotation: they share its write instead of making
	// their own.
	seq0, last0, pending0 := s.nextSeq, s.last, len(s.pending)
	out := s.pending
	n, waited := 0, false
	for _, req := range batch {
		if req.ctx.Err() != nil {
			req.err = req.ctx.Err()
			continue
		}
		e := entryFrom(req.rec, now, s.opts.InstanceID, s.opts.MaxStatementBytes, s.opts.Params)
		e.Seq = s.nextSeq
		var h [32]byte
		out, h = encodeLine(out, &e, s.last)
		req.seq = s.nextSeq
		s.nextSeq++
		s.last = h
		n++
		waited = waited || !req.after
	}
	s.pending = out
	switch {
	case async || !waited:
		if len(s.pending) >= asyncFlushBytes {
			_ = s.flush() // acknowledged anyway; a failure blocks later appends
		}
	default:
		if err = s.writePending(s.opts.Durability == DurabilitySync); err != nil {
			// This batch's lines go; earlier deferred ones stay for the
			// retry (recoverFailure).
			s.pending = s.pending[:pending0]
			s.nextSeq, s.last = seq0, last0
			for _, req := range batch {
				if req.err == nil {
					req.err, req.seq = err, 0
				}
			}
			n = 0
		}
	}
	s.count(func(st *Stats) { st.Records += uint64(n); st.LastSeq = s.nextSeq - 1 })
	s.sinceRotate += uint64(n)
	s.replyAll(batch, nil)
}

// replyAll wakes every request of batch, setting err on those without one.
func (s *sink) replyAll(batch []*request, err error) {
	for _, req := range batch {
		if err != nil && req.err == nil {
			req.err = err
		}
		if req.reply != nil {
			close(req.reply)
		}
	}
}

// recoverFailure retries the write or sync that failed last; until it
// succeeds no new record is accepted (fail closed).
func (s *sink) recoverFailure() error {
	if !s.failing {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	return s.sync()
}

// writePending writes pending to the segment and, if mustSync (sync mode),
// syncs it. On failure nothing of it stays in the file, and pending is
// left for the caller to trim.
func (s *sink) writePending(mustSync bool) error {
	start := s.segSize
	if err := s.write(s.pending); err != nil {
		return err
	}
	if mustSync {
		if err := s.sync(); err != nil {
			s.segSize = start
			s.truncate()
			return err
		}
	}
	s.pending = s.pending[:0]
	s.fileSeq, s.fileHash = s.nextSeq-1, s.last
	return nil
}

// write appends whole lines to the segment. A failed or short write is cut
// back to the last good offset so no half line remains.
func (s *sink) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if s.needTrunc && !s.truncate() {
		return s.fail("truncate after failed write", errors.New("truncate failed"), &s.stats.WriteFailures)
	}
	n, err := s.seg.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.truncate()
		return s.fail("write", err, &s.stats.WriteFailures)
	}
	s.segSize += int64(n)
	s.dirty = true
	s.setFailing(false)
	return nil
}

// truncate cuts the segment back to segSize, remembering to retry if it
// fails. It reports success.
func (s *sink) truncate() bool {
	s.needTrunc = s.seg.Truncate(s.segSize) != nil
	return !s.needTrunc
}

// flush writes pending: async mode's records, and records made after the
// fact in the other modes.
func (s *sink) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	if err := s.write(s.pending); err != nil {
		return err
	}
	s.pending = s.pending[:0]
	s.fileSeq, s.fileHash = s.nextSeq-1, s.last
	return nil
}

// sync fdatasyncs the segment if anything was written since the last one.
func (s *sink) sync() error {
	if !s.dirty {
		return nil
	}
	t0 := time.Now() // latency is real elapsed time, not the audit clock
	err := s.seg.Sync()
	d := time.Since(t0)
	if err != nil {
		return s.fail("fdatasync", err, &s.stats.SyncFailures)
	}
	s.dirty = false
	s.setFailing(false)
	if s.opts.OnSync != nil {
		s.opts.OnSync(d)
	}
	s.count(func(st *Stats) {
		st.Syncs++
		st.SyncTime += d
		st.MaxSyncLatency = max(st.MaxSyncLatency, d)
	})
	return nil
}

// fail records a disk failure and returns it wrapped in ErrUnavailable.
func (s *sink) fail(op string, err error, counter *uint64) error {
	s.setFailing(true)
	s.count(func(*Stats) { *counter++ })
	s.opts.Logger.Warn("audit log write failed", "op", op, "segment", s.segName, "err", err)
	return fmt.Errorf("%w: %s %s: %w", ErrUnavailable, op, s.segName, err)
}

func (s *sink) setFailing(v bool) {
	if s.failing != v {
		s.failing = v
		s.count(func(st *Stats) { st.Unavailable = v })
	}
}

// tick runs every SyncInterval: async writes, batch syncs, timed checkpoints.
func (s *sink) tick() {
	if s.flush() == nil {
		_ = s.sync() // failure is counted and makes appends fail closed
	}
	s.maybeCheckpoint(s.opts.Now())
}

// shutdown writes everything queued, a final checkpoint, and closes files.
func (s *sink) shutdown() error {
	err := s.checkpoint(s.opts.Now())
	return errors.Join(err, s.closeFiles())
}
