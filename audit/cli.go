package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

// RunVerify verifies the log in dir against the verifier key in pubkeyFile
// and prints a one-paragraph summary to w, or the first bad record. ok
// reports an intact log; err is for failures to run at all (unreadable key
// or directory).
func RunVerify(w io.Writer, dir, pubkeyFile string) (ok bool, err error) {
	vkey, err := LoadVerifierKey(pubkeyFile)
	if err != nil {
		return false, err
	}
	rep, err := Verify(dir, vkey, VerifyOptions{})
	if rep.Problem != nil {
		p := rep.Problem
		at := p.File
		if p.Line > 0 {
			at += fmt.Sprintf(" line %d", p.Line)
		}
		if p.Seq > 0 {
			at += fmt.Sprintf(" (seq %d)", p.Seq)
		}
		_, werr := fmt.Fprintf(w, "audit log %s FAILED verification at %s: %s. %d segments and %d records before it verified.\n",
			dir, at, p.Reason, rep.Segments, rep.Records)
		return false, werr
	}
	if err != nil {
		return false, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "audit log %s is intact: %d segments, %d records, last seq %d (hash %s), %d signed checkpoints",
		dir, rep.Segments, rep.Records, rep.LastSeq, rep.LastHash, rep.Checkpoints)
	if cp := rep.LastCheckpoint; cp != nil {
		fmt.Fprintf(&b, "; last checkpoint %q covers seq %d (hash %s)", cp.Origin, cp.Size, base64.StdEncoding.EncodeToString(cp.Hash[:]))
		if n := rep.LastSeq - cp.Size; n > 0 {
			fmt.Fprintf(&b, ", %d later records are chained but not yet checkpointed", n)
		}
	}
	b.WriteString(".")
	if rep.TornTailBytes > 0 {
		fmt.Fprintf(&b, " Warning: the last segment ends with a torn line of %d bytes (crash); the next Open truncates it.", rep.TornTailBytes)
	}
	if rep.TornCheckpointBytes > 0 {
		fmt.Fprintf(&b, " Warning: the checkpoints file ends with %d bytes of an incomplete checkpoint.", rep.TornCheckpointBytes)
	}
	b.WriteString("\n")
	_, err = io.WriteString(w, b.String())
	return err == nil, err
}

// Filter selects records for Search. Zero fields match everything.
type Filter struct {
	Identity   string
	Since      time.Time // inclusive
	Until      time.Time // exclusive
	SQLState   string
	DeniedOnly bool
	Kind       Kind
}

func (f Filter) match(e *Entry) bool {
	if f.Identity != "" && e.Identity != f.Identity ||
		f.SQLState != "" && e.SQLState != f.SQLState ||
		f.Kind != "" && e.Kind != f.Kind ||
		f.DeniedOnly && e.Kind != KindDenied {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		t, err := time.Parse(tsLayout, e.TS)
		if err != nil || !f.Since.IsZero() && t.Before(f.Since) || !f.Until.IsZero() && !t.Before(f.Until) {
			return false
		}
	}
	return true
}

// Search prints the records of dir matching f, oldest first, one per line.
// It does not verify the chain; use RunVerify for that.
func Search(w io.Writer, dir string, f Filter) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	for _, seg := range segs {
		lines, err := readLines(filepath.Join(dir, seg.name))
		if err != nil {
			return err
		}
		for _, l := range lines {
			var e Entry
			if json.Unmarshal(l, &e) != nil || !f.match(&e) {
				continue
			}
			if err := printEntry(w, &e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Tail prints the last n records of dir, oldest first.
func Tail(w io.Writer, dir string, n int) error {
	segs, err := listSegments(dir)
	if err != nil {
		return err
	}
	var keep [][]byte
	for i := len(segs) - 1; i >= 0 && len(keep) < n; i-- {
		lines, err := readLines(filepath.Join(dir, segs[i].name))
		if err != nil {
			return err
		}
		lines = lines[max(0, len(lines)-(n-len(keep))):]
		keep = append(lines, keep...)
	}
	for _, l := range keep {
		var e Entry
		if err := json.Unmarshal(l, &e); err != nil {
			fmt.Fprintf(w, "(unreadable record: %v)\n", err)
			continue
		}
		if err := printEntry(w, &e); err != nil {
			return err
		}
	}
	return nil
}

// readLines returns the complete lines of a segment.
func readLines(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return nil, nil
	}
	return bytes.Split(data, []byte("\n")), nil
}

// printEntry writes e as one readable line: time, seq, kind, identity,
// role, database, sqlstate, then the statement (or reason, or detail).
func printEntry(w io.Writer, e *Entry) error {
	text := e.Statement
	if e.Reason != "" {
		text = strings.TrimSpace("reason=" + e.Reason + " " + text)
	}
	if text == "" && len(e.Detail) > 0 {
		d, _ := json.Marshal(e.Detail)
		text = string(d)
	}
	_, err := fmt.Fprintf(w, "%s seq=%d %s identity=%s role=%s db=%s sqlstate=%s %s\n",
		e.TS, e.Seq, e.Kind, dash(e.Identity), dash(e.Role), dash(e.Database), dash(e.SQLState), clean(text))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

// clean keeps one record on one line and stops logged SQL from sending
// escape sequences to the reader's terminal.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
