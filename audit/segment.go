package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
)

var segmentRE = regexp.MustCompile(`^audit-([0-9]{6,})\.jsonl$`)

func segmentName(n int) string { return fmt.Sprintf("audit-%06d.jsonl", n) }

// segment is one segment file found in the log directory.
type segment struct {
	name string
	num  int
}

// listSegments returns the segment files of dir in order.
func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: read log directory: %w", err)
	}
	var segs []segment
	for _, e := range ents {
		m := segmentRE.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n <= 0 {
			continue
		}
		segs = append(segs, segment{e.Name(), n})
	}
	slices.SortFunc(segs, func(a, b segment) int { return a.num - b.num })
	return segs, nil
}

// Problem is the first thing found wrong with a log. It wraps ErrCorrupt.
type Problem struct {
	// File is the segment (or "checkpoints") holding the bad record.
	File string
	// Line is the 1-based line number in File; 0 when not about a line.
	Line int
	// Seq is the seq the bad record claims (0 if unreadable).
	Seq uint64
	// Reason says what is wrong.
	Reason string
}

// ErrCorrupt is wrapped by every *Problem.
var ErrCorrupt = errors.New("audit log verification failed")

func (p *Problem) Error() string {
	s := fmt.Sprintf("%v: %s", ErrCorrupt, p.File)
	if p.Line > 0 {
		s += fmt.Sprintf(" line %d", p.Line)
	}
	if p.Seq > 0 {
		s += fmt.Sprintf(" (seq %d)", p.Seq)
	}
	return s + ": " + p.Reason
}

// Unwrap makes errors.Is(p, ErrCorrupt) true.
func (p *Problem) Unwrap() error { return ErrCorrupt }

// scanResult summarises one segment.
type scanResult struct {
	lines             int
	firstSeq, lastSeq uint64
	firstTS           string
	torn              []byte // bytes after the last newline
}

// scanner checks segments one after another.
type scanner struct {
	dir string
	c   checker
	// cps maps a checkpoint size to the hash it signed and its line in
	// the checkpoints file.
	cps map[uint64]storedCheckpoint
	// visit, if set, sees every good line.
	visit func(p *parsedLine, line []byte)
}

// scan checks the segment seg whose predecessor is named prevName ("" for
// the first). A torn tail is returned, not judged: only the caller knows
// whether this is the last segment.
func (sc *scanner) scan(seg segment, prevName string) (scanResult, error) {
	var r scanResult
	data, err := os.ReadFile(filepath.Join(sc.dir, seg.name))
	if err != nil {
		return r, fmt.Errorf("audit: %w", err)
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			r.torn = data
			break
		}
		line := data[:i]
		data = data[i+1:]
		r.lines++
		bad := func(reason string, seq uint64) error {
			return &Problem{File: seg.name, Line: r.lines, Seq: seq, Reason: reason}
		}
		p, err := sc.c.parse(line)
		if err != nil {
			return r, bad(err.Error(), p.head.Seq)
		}
		if r.lines == 1 {
			r.firstSeq, r.firstTS = p.head.Seq, p.head.TS
			if p.head.Kind != KindSegmentStart || p.head.Detail["segment"] != seg.name {
				return r, bad("segment does not begin with its own segment_start record: file renamed or records moved", p.head.Seq)
			}
			if got := p.head.Detail["prev_segment"]; got != prevName {
				return r, bad(fmt.Sprintf("segment_start names previous segment %q but %q precedes it: segment %q is missing", got, prevName, got), p.head.Seq)
			}
		} else if p.head.Kind == KindSegmentStart {
			return r, bad("segment_start record in the middle of a segment", p.head.Seq)
		}
		if err := sc.c.link(&p); err != nil {
			return r, bad(err.Error(), p.head.Seq)
		}
		if cp, ok := sc.cps[p.head.Seq]; ok && cp.Hash != p.hash {
			return r, bad(fmt.Sprintf("record differs from the signed checkpoint at checkpoints line %d: log rewritten or forked", cp.line), p.head.Seq)
		}
		r.lastSeq = p.head.Seq
		if sc.visit != nil {
			sc.visit(&p, line)
		}
	}
	if r.lines == 0 && len(r.torn) == 0 {
		return r, &Problem{File: seg.name, Reason: "segment is empty"}
	}
	return r, nil
}
