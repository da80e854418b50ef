package audit

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// recover prepares s to append: it creates a new log, or verifies the tail
// of an existing one (fail closed) and appends a restart record.
func (s *sink) recover(ctx context.Context) error {
	o := s.opts
	now := o.Now()
	refuse := func(p *Problem) error {
		return fmt.Errorf("audit: refusing to open %s: %w", o.Dir, p)
	}
	detail := map[string]string{}

	cpPath := filepath.Join(o.Dir, checkpointsFile)
	data, err := os.ReadFile(cpPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	cps, good, err := parseCheckpoints(data, note.VerifierList(s.verifier))
	if err != nil {
		return refuse(&Problem{File: checkpointsFile, Reason: err.Error()})
	}
	if good < len(data) {
		// Only an incomplete final note is cut; complete ones all verified.
		if err := os.Truncate(cpPath, int64(good)); err != nil {
			return fmt.Errorf("audit: truncate torn checkpoint: %w", err)
		}
		detail["torn_checkpoint_bytes"] = strconv.Itoa(len(data) - good)
	}
	if s.cpFile, err = o.OpenFile(cpPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("audit: open checkpoints: %w", err)
	}
	s.cpSize = int64(good)

	segs, err := listSegments(o.Dir)
	if err != nil {
		return err
	}
	if segs, err = dropTornLastSegment(o.Dir, segs, detail); err != nil {
		return err
	}
	if len(segs) == 0 {
		if len(cps) > 0 {
			return refuse(&Problem{File: segmentName(1), Reason: "signed checkpoints exist but no segment files: log removed"})
		}
		return s.create(now)
	}

	var lastCP *storedCheckpoint
	if len(cps) > 0 {
		lastCP = &cps[len(cps)-1]
	}
	// Check from the last segment back to the one holding the last
	// checkpoint, so the chain is tied to a signed head.
	start := len(segs) - 1
	for lastCP != nil && start > 0 {
		first, err := firstSeq(o.Dir, segs[start].name)
		if err != nil {
			return refuse(&Problem{File: segs[start].name, Line: 1, Reason: err.Error()})
		}
		if first <= lastCP.Size {
			break
		}
		start--
	}
	sc := &scanner{dir: o.Dir, c: checker{trustFirst: start > 0}, cps: map[uint64]storedCheckpoint{}}
	for _, cp := range cps {
		sc.cps[cp.Size] = cp
	}
	prevName := ""
	if start > 0 {
		prevName = segs[start-1].name
	}
	var r scanResult
	for i := start; i < len(segs); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 0 && segs[i].num != segs[i-1].num+1 {
			return refuse(&Problem{File: segs[i].name, Line: 1, Reason: fmt.Sprintf("segment %s is missing", segmentName(segs[i-1].num+1))})
		}
		if r, err = sc.scan(segs[i], prevName); err != nil {
			var p *Problem
			if errors.As(err, &p) {
				return refuse(p)
			}
			return err
		}
		if len(r.torn) > 0 && i != len(segs)-1 {
			return refuse(&Problem{File: segs[i].name, Line: r.lines + 1, Reason: "incomplete line in a segment that is not the last"})
		}
		prevName = segs[i].name
	}
	if lastCP != nil && lastCP.Size > r.lastSeq {
		return refuse(&Problem{File: prevName, Line: r.lines + 1, Seq: r.lastSeq + 1,
			Reason: fmt.Sprintf("log ends at seq %d but a signed checkpoint covers seq %d: tail truncated or segment removed", r.lastSeq, lastCP.Size)})
	}

	lastSeg := segs[len(segs)-1]
	path := filepath.Join(o.Dir, lastSeg.name)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	size := fi.Size()
	if len(r.torn) > 0 {
		// A crash cut the final line short: drop exactly those bytes.
		size -= int64(len(r.torn))
		if err := os.Truncate(path, size); err != nil {
			return fmt.Errorf("audit: truncate torn line: %w", err)
		}
		sum := sha256.Sum256(r.torn)
		detail["torn_tail_bytes"] = strconv.Itoa(len(r.torn))
		detail["torn_tail_sha256"] = hex.EncodeToString(sum[:])
		o.Logger.Warn("audit: truncated torn final line", "segment", lastSeg.name, "bytes", len(r.torn))
	}
	if s.seg, err = o.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600); err != nil {
		return fmt.Errorf("audit: open segment: %w", err)
	}
	s.segName, s.segNum, s.segSize = lastSeg.name, lastSeg.num, size
	s.segStart = now
	if t, err := time.Parse(tsLayout, r.firstTS); err == nil {
		s.segStart = t
	}
	s.nextSeq, s.last = r.lastSeq+1, sc.c.last
	s.fileSeq, s.fileHash = r.lastSeq, sc.c.last
	s.sinceRotate = uint64(r.lines)
	if lastCP != nil {
		s.cpSeq = lastCP.Size
	}
	s.cpTime = now

	if err := s.maybeRotate(now); err != nil {
		return err
	}
	detail["previous_seq"] = strconv.FormatUint(r.lastSeq, 10)
	if err := s.writeOwn(&Record{Time: now, Kind: KindRestart, Detail: detail}); err != nil {
		return err
	}
	s.sinceRotate++
	return s.checkpoint(now)
}

// create starts a new log with segment 1.
func (s *sink) create(now time.Time) error {
	name := segmentName(1)
	f, err := s.opts.OpenFile(filepath.Join(s.opts.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: create segment: %w", err)
	}
	syncDir(s.opts.Dir)
	s.seg, s.segName, s.segNum, s.segStart = f, name, 1, now
	s.nextSeq, s.cpTime = 1, now
	if err := s.writeSegmentStart(now, ""); err != nil {
		return err
	}
	s.sinceRotate = 1
	return s.checkpoint(now)
}

// dropTornLastSegment removes a last segment holding no complete line (a
// crash during rotation) and notes it in detail.
func dropTornLastSegment(dir string, segs []segment, detail map[string]string) ([]segment, error) {
	if len(segs) == 0 {
		return segs, nil
	}
	last := segs[len(segs)-1]
	path := filepath.Join(dir, last.name)
	data, err := os.ReadFile(path)
	if err != nil {
		return segs, fmt.Errorf("audit: %w", err)
	}
	for _, b := range data {
		if b == '\n' {
			return segs, nil
		}
	}
	if err := os.Remove(path); err != nil {
		return segs, fmt.Errorf("audit: remove torn segment: %w", err)
	}
	detail["removed_segment"] = last.name
	detail["removed_segment_bytes"] = strconv.Itoa(len(data))
	return segs[:len(segs)-1], nil
}

// firstSeq reads the seq of a segment's first record.
func firstSeq(dir, name string) (uint64, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("reading first record: %w", err)
	}
	p, _, err := parseLine(line[:len(line)-1], nil)
	if err != nil {
		return 0, err
	}
	return p.head.Seq, nil
}
