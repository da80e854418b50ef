package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// This file holds the writer goroutine's slower paths: signed checkpoints,
// segment rotation and the log's own records.

func (s *sink) maybeCheckpoint(now time.Time) {
	head := s.nextSeq - 1
	if head == s.cpSeq {
		return
	}
	if head-s.cpSeq >= s.opts.CheckpointEvery || now.Sub(s.cpTime) >= s.opts.CheckpointInterval {
		_ = s.checkpoint(now)
	}
}

// checkpoint makes every record durable, then signs and appends a
// checkpoint of the chain head.
func (s *sink) checkpoint(now time.Time) error {
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.sync(); err != nil {
		return err
	}
	if s.fileSeq == s.cpSeq {
		return nil
	}
	msg, err := signCheckpoint(Checkpoint{Origin: s.opts.Origin, Size: s.fileSeq, Hash: s.fileHash}, s.signer)
	if err == nil {
		err = s.appendCheckpoint(msg)
	}
	if err != nil {
		s.count(func(st *Stats) { st.CheckpointFailures++ })
		s.opts.Logger.Warn("audit checkpoint failed", "size", s.fileSeq, "err", err)
		return err
	}
	s.cpSeq, s.cpTime = s.fileSeq, now
	s.count(func(st *Stats) { st.Checkpoints++ })
	return nil
}

func (s *sink) appendCheckpoint(msg []byte) error {
	n, err := s.cpFile.Write(msg)
	if err == nil && n < len(msg) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = s.cpFile.Sync()
	}
	if err != nil {
		_ = s.cpFile.Truncate(s.cpSize)
		return fmt.Errorf("audit: write checkpoint: %w", err)
	}
	s.cpSize += int64(n)
	return nil
}

// maybeRotate starts a new segment when the current one is too big or old.
func (s *sink) maybeRotate(now time.Time) error {
	tooBig := s.segSize >= s.opts.MaxSegmentBytes
	tooOld := s.opts.MaxSegmentAge > 0 && now.Sub(s.segStart) >= s.opts.MaxSegmentAge
	if s.sinceRotate == 0 || !(tooBig || tooOld) {
		return nil
	}
	return s.rotate(now)
}

// rotate checkpoints and closes the current segment and starts the next
// with a segment_start record linking to it.
func (s *sink) rotate(now time.Time) error {
	if err := s.checkpoint(now); err != nil {
		return err
	}
	next := segmentName(s.segNum + 1)
	f, err := s.opts.OpenFile(filepath.Join(s.opts.Dir, next), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return s.fail("create segment", err, &s.stats.WriteFailures)
	}
	syncDir(s.opts.Dir)
	old, oldName := s.seg, s.segName
	s.seg, s.segName, s.segNum, s.segSize, s.segStart, s.sinceRotate = f, next, s.segNum+1, 0, now, 0
	if err := s.writeSegmentStart(now, oldName); err != nil {
		// Go back to the old segment; the empty new one is dropped at Open.
		f.Close()
		s.seg, s.segName, s.segNum = old, oldName, s.segNum-1
		return err
	}
	s.count(func(st *Stats) { st.Rotations++ })
	if err := old.Close(); err != nil {
		s.opts.Logger.Warn("audit: closing old segment", "segment", oldName, "err", err)
	}
	return nil
}

// writeSegmentStart writes the first record of a fresh segment and syncs it.
func (s *sink) writeSegmentStart(now time.Time, prevName string) error {
	return s.writeOwn(&Record{Time: now, Kind: KindSegmentStart,
		Detail: map[string]string{"segment": s.segName, "prev_segment": prevName}})
}

// writeOwn writes a record of the log's own (segment_start, restart) and
// syncs it before returning.
func (s *sink) writeOwn(r *Record) error {
	e := entryFrom(r, r.Time, s.opts.InstanceID, s.opts.MaxStatementBytes, s.opts.Params)
	e.Seq = s.nextSeq
	seq0, last0, pending0 := s.nextSeq, s.last, len(s.pending)
	var h [32]byte
	s.pending, h = encodeLine(s.pending, &e, s.last)
	s.nextSeq, s.last = s.nextSeq+1, h
	if err := s.writePending(true); err != nil {
		s.pending = s.pending[:pending0]
		s.nextSeq, s.last = seq0, last0
		return err
	}
	s.count(func(st *Stats) { st.LastSeq = s.nextSeq - 1 })
	return nil
}

// syncDir makes a created file's directory entry durable. Best effort: some
// filesystems refuse fsync on directories.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
