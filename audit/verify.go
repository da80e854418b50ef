package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/sumdb/note"
)

// VerifyOptions tunes Verify. The zero value is the strict default.
type VerifyOptions struct {
	// AllowNoCheckpoint accepts a log with no checkpoints file. Without a
	// checkpoint a removed or truncated tail cannot be detected, so the
	// zero value reports it as a problem.
	AllowNoCheckpoint bool
}

// Report summarises a verification run, as far as it got.
type Report struct {
	Segments int
	Records  uint64
	LastSeq  uint64
	// LastHash is the hex hash of record LastSeq.
	LastHash    string
	Checkpoints int
	// LastCheckpoint is the newest signed checkpoint, nil if none.
	LastCheckpoint *Checkpoint
	// TornTailBytes counts bytes after the last newline of the last
	// segment: a line cut short by a crash, which Open will truncate.
	TornTailBytes int
	// TornCheckpointBytes counts bytes of an incomplete final checkpoint.
	TornCheckpointBytes int
	// Problem is the first thing wrong, nil if the log is intact.
	Problem *Problem
}

// Verify checks the log in dir from the bytes on disk: the signature and
// consistency of every checkpoint, then every record's hash, seq and link,
// segment order, and that the log reaches every signed checkpoint. It
// returns a nil error only for an intact log; a tampered log yields a
// *Problem (wrapping ErrCorrupt), also stored in Report.Problem.
func Verify(dir, verifierKey string, opts VerifyOptions) (Report, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verifier key: %w", err)
	}
	rep := Report{}
	fail := func(p *Problem) (Report, error) {
		rep.Problem = p
		return rep, p
	}
	data, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("audit: %w", err)
	}
	cps, good, err := parseCheckpoints(data, note.VerifierList(v))
	if err != nil {
		return fail(&Problem{File: checkpointsFile, Reason: err.Error()})
	}
	rep.TornCheckpointBytes = len(data) - good
	rep.Checkpoints = len(cps)
	if len(cps) == 0 && !opts.AllowNoCheckpoint {
		return fail(&Problem{File: checkpointsFile, Reason: "no signed checkpoint: the log cannot be anchored"})
	}
	sc := &scanner{dir: dir, cps: make(map[uint64]storedCheckpoint, len(cps))}
	for _, cp := range cps {
		sc.cps[cp.Size] = cp
	}
	if len(cps) > 0 {
		last := cps[len(cps)-1].Checkpoint
		rep.LastCheckpoint = &last
	}

	segs, err := listSegments(dir)
	if err != nil {
		return rep, err
	}
	if len(segs) == 0 {
		return fail(&Problem{File: segmentName(1), Reason: "no segment files: log removed"})
	}
	prevName := ""
	var last scanResult
	for i, seg := range segs {
		want := segmentName(1)
		if i > 0 {
			want = segmentName(segs[i-1].num + 1)
		}
		if seg.name != want {
			return fail(&Problem{File: seg.name, Line: 1, Reason: fmt.Sprintf("segment %s is missing", want)})
		}
		r, err := sc.scan(seg, prevName)
		if err != nil {
			var p *Problem
			if errors.As(err, &p) {
				return fail(p)
			}
			return rep, err
		}
		rep.Segments++
		rep.Records += uint64(r.lines)
		if r.lines > 0 {
			rep.LastSeq = r.lastSeq
			rep.LastHash = hex.EncodeToString(sc.c.last[:])
		}
		if len(r.torn) > 0 && i != len(segs)-1 {
			return fail(&Problem{File: seg.name, Line: r.lines + 1, Reason: "incomplete line in a segment that is not the last"})
		}
		last = r
		prevName = seg.name
	}
	rep.TornTailBytes = len(last.torn)
	if cp := rep.LastCheckpoint; cp != nil && cp.Size > rep.LastSeq {
		return fail(&Problem{
			File: segs[len(segs)-1].name, Line: last.lines + 1, Seq: rep.LastSeq + 1,
			Reason: fmt.Sprintf("log ends at seq %d but a signed checkpoint covers seq %d: tail truncated or segment removed", rep.LastSeq, cp.Size),
		})
	}
	return rep, nil
}
