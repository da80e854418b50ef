package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildLog writes a multi-segment log with several checkpoints and returns
// its directory. Two logs built with the same instance length have the same
// layout, which the splice test relies on.
func buildLog(t testing.TB, k testKey, instance string, n int) string {
	t.Helper()
	dir := t.TempDir()
	o := testOptions(dir, k, newFakeClock())
	o.InstanceID = instance
	o.MaxSegmentBytes = 4000
	o.CheckpointEvery = 7
	s := mustOpen(t, o)
	for i := range n {
		mustAppend(t, s, stmt(i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func segPath(dir string, n int) string { return filepath.Join(dir, segmentName(n)) }

func readSegLines(t testing.TB, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func writeSegLines(t testing.TB, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// editLines applies f to the lines of segment n.
func editLines(t testing.TB, dir string, n int, f func([][]byte) [][]byte) {
	t.Helper()
	writeSegLines(t, segPath(dir, n), f(readSegLines(t, segPath(dir, n))))
}

// rechain recomputes prev and hash of every record from segment n line
// (1-based) on, as an attacker without the signing key could.
func rechain(t testing.TB, dir string, n, line int) {
	t.Helper()
	segs, _ := listSegments(dir)
	var prev [32]byte
	started := false
	for _, sg := range segs {
		lines := readSegLines(t, segPath(dir, sg.num))
		for i, l := range lines {
			body := append(append([]byte{}, l[:len(l)-1-hashSuffixLen]...), '}')
			if sg.num > n || sg.num == n && i+1 >= line {
				if !started {
					t.Fatal("rechain needs a record before the start")
				}
				copy(body[len(body)-66:], hex.EncodeToString(prev[:]))
				h := chainHash(prev, body)
				l = append(append(body[:len(body)-1:len(body)-1], `,"hash":"`+hex.EncodeToString(h[:])+`"}`...), '\n')
				lines[i] = l
			}
			hexHash := l[len(l)-1-hashSuffixLen+9 : len(l)-3]
			hex.Decode(prev[:], hexHash)
			started = true
		}
		writeSegLines(t, segPath(dir, sg.num), lines)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	k := newTestKey(t, "pgshield-test")
	other := newTestKey(t, "pgshield-test")
	const n = 60
	base := buildLog(t, k, "inst-A", n)
	segs, _ := listSegments(base)
	if len(segs) < 4 {
		t.Fatalf("want at least 4 segments to tamper with, got %d", len(segs))
	}
	last := segs[len(segs)-1].num
	spliceSrc := buildLog(t, k, "inst-B", n)

	tests := []struct {
		name     string
		tamper   func(t *testing.T, dir string)
		file     string
		line     int // 0: don't check
		contains string
	}{
		{"edit a field byte", func(t *testing.T, dir string) {
			editLines(t, dir, 2, func(l [][]byte) [][]byte {
				l[2] = bytes.Replace(l[2], []byte(`"role":"app"`), []byte(`"role":"apq"`), 1)
				return l
			})
		}, segmentName(2), 3, "altered"},
		{"delete a middle line", func(t *testing.T, dir string) {
			editLines(t, dir, 2, func(l [][]byte) [][]byte { return append(l[:2], l[3:]...) })
		}, segmentName(2), 3, "deleted"},
		{"swap two lines", func(t *testing.T, dir string) {
			editLines(t, dir, 2, func(l [][]byte) [][]byte { l[2], l[3] = l[3], l[2]; return l })
		}, segmentName(2), 3, "reordered"},
		{"truncate the last segment", func(t *testing.T, dir string) {
			editLines(t, dir, last, func(l [][]byte) [][]byte { return l[:len(l)-2] })
		}, segmentName(last), 0, "tail truncated"},
		{"delete the last segment", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, last))
		}, segmentName(last - 1), 0, "tail truncated"},
		{"delete a middle segment", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, 2))
		}, segmentName(3), 1, "audit-000002.jsonl is missing"},
		{"delete the first segment", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, 1))
		}, segmentName(2), 1, "audit-000001.jsonl is missing"},
		{"splice a record from another log", func(t *testing.T, dir string) {
			foreign := readSegLines(t, segPath(spliceSrc, 2))
			editLines(t, dir, 2, func(l [][]byte) [][]byte { l[2] = foreign[2]; return l })
		}, segmentName(2), 3, "spliced"},
		{"rewrite a record and rechain the rest", func(t *testing.T, dir string) {
			editLines(t, dir, 2, func(l [][]byte) [][]byte {
				l[2] = bytes.Replace(l[2], []byte(`"role":"app"`), []byte(`"role":"god"`), 1)
				return l
			})
			rechain(t, dir, 2, 3)
		}, "", 0, "differs from the signed checkpoint"},
		{"edit a checkpoint", func(t *testing.T, dir string) {
			p := filepath.Join(dir, checkpointsFile)
			b, _ := os.ReadFile(p)
			lines := strings.SplitN(string(b), "\n", 3)
			lines[1] = lines[1] + "0" // size of the first checkpoint
			os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
		}, checkpointsFile, 0, "checkpoint at line 1: bad signature"},
		{"re-sign a checkpoint with another key", func(t *testing.T, dir string) {
			s, _, _ := signerAndVerifier(other.skey)
			msg, _ := signCheckpoint(Checkpoint{Origin: "pgshield-test", Size: n + 100, Hash: [32]byte{1}}, s)
			f, _ := os.OpenFile(filepath.Join(dir, checkpointsFile), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(msg)
			f.Close()
		}, checkpointsFile, 0, "bad signature"},
		{"remove the checkpoints file", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, checkpointsFile))
		}, checkpointsFile, 0, "no signed checkpoint"},
		{"rename a segment over a gap", func(t *testing.T, dir string) {
			os.Remove(segPath(dir, last))
			os.Rename(segPath(dir, last-1), segPath(dir, last))
		}, segmentName(last), 1, "is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, base)
			mustVerify(t, dir, k)
			tc.tamper(t, dir)
			rep, err := Verify(dir, k.vkey, VerifyOptions{})
			var p *Problem
			if !errors.As(err, &p) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Verify err = %v, want a *Problem", err)
			}
			if rep.Problem != p {
				t.Errorf("Report.Problem = %v, want the returned error", rep.Problem)
			}
			if tc.file != "" && p.File != tc.file || tc.line != 0 && p.Line != tc.line || !strings.Contains(p.Reason, tc.contains) {
				t.Errorf("problem = %+v\nwant file %q line %d reason containing %q", *p, tc.file, tc.line, tc.contains)
			}
			// Open must refuse the same damage rather than start afresh
			// (a removed checkpoints file alone cannot be told from a
			// log that never had one, and only the tail is checked).
			o := testOptions(dir, k, newFakeClock())
			if s, err := Open(t.Context(), o); err == nil {
				s.Close()
				if tc.name == "truncate the last segment" || tc.name == "delete the last segment" ||
					tc.name == "edit a checkpoint" || tc.name == "re-sign a checkpoint with another key" {
					t.Errorf("Open accepted a log with damage Open must catch")
				}
			} else if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

func TestVerify100kRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("large log")
	}
	k := newTestKey(t, "big")
	dir := t.TempDir()
	o := testOptions(dir, k, newFakeClock())
	o.MaxSegmentBytes = 8 << 20
	s := mustOpen(t, o)
	const n, workers = 100_000, 50
	appendConcurrently(t, s, workers, n/workers)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep := mustVerify(t, dir, k)
	t.Logf("verified %d records in %v", rep.Records, time.Since(start))
	// segment_start records, the final records and the appended ones.
	if rep.Records < n || rep.LastSeq != rep.Records || rep.LastCheckpoint.Size != rep.LastSeq {
		t.Fatalf("report %+v", rep)
	}
}

func TestChainHashIsDomainSeparated(t *testing.T) {
	body := []byte(`{"seq":1,"prev":"00"}`)
	plain := sha256.Sum256(append(make([]byte, 32), body...))
	if chainHash([32]byte{}, body) == plain {
		t.Fatal("chain hash must include the domain prefix")
	}
}
