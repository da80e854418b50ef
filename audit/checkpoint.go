package audit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// checkpointsFile is the append-only history of signed checkpoints.
const checkpointsFile = "checkpoints"

// Checkpoint is the signed statement "the log named Origin had Size records
// and the hash of record Size was Hash".
type Checkpoint struct {
	Origin string
	Size   uint64
	Hash   [32]byte
}

// body is the tlog-checkpoint note text.
func (c Checkpoint) body() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// signCheckpoint returns the signed note for c.
func signCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: c.body()}, s)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	return msg, nil
}

// storedCheckpoint is one checkpoint as found in the checkpoints file.
type storedCheckpoint struct {
	Checkpoint
	line int // 1-based line where the note starts
}

// parseCheckpoints splits the checkpoints file into notes and verifies each.
// A final note cut short by a crash is not an error: its start offset is
// returned as good (== len(data) when there is none). Any complete note that
// does not verify is an error naming its line.
func parseCheckpoints(data []byte, v note.Verifiers) (cps []storedCheckpoint, good int, err error) {
	off, line := 0, 1
	for off < len(data) {
		end, lines, complete := noteEnd(data[off:])
		if !complete {
			return cps, off, nil
		}
		cp, err := openCheckpoint(data[off:off+end], v)
		if err != nil {
			return cps, off, fmt.Errorf("checkpoint at line %d: %w", line, err)
		}
		if len(cps) > 0 {
			prev := cps[len(cps)-1]
			if cp.Origin != prev.Origin {
				return cps, off, fmt.Errorf("checkpoint at line %d: origin %q differs from earlier %q", line, cp.Origin, prev.Origin)
			}
			if cp.Size < prev.Size {
				return cps, off, fmt.Errorf("checkpoint at line %d: size %d is smaller than earlier %d", line, cp.Size, prev.Size)
			}
			if cp.Size == prev.Size && cp.Hash != prev.Hash {
				return cps, off, fmt.Errorf("checkpoint at line %d: fork: size %d signed with two hashes", line, cp.Size)
			}
		}
		cps = append(cps, storedCheckpoint{cp, line})
		off += end
		line += lines
	}
	return cps, off, nil
}

// noteEnd finds the end of the signed note at the start of data: text lines,
// a blank line, then one or more "— " signature lines.
func noteEnd(data []byte) (end, lines int, complete bool) {
	sawBlank, sigs := false, 0
	for end < len(data) {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			return 0, 0, false // torn final line
		}
		l := data[end : end+i]
		switch {
		case !sawBlank && len(l) == 0:
			sawBlank = true
		case sawBlank && bytes.HasPrefix(l, []byte("— ")):
			sigs++
		case sawBlank:
			return end, lines, sigs > 0 // the next note starts here
		}
		end += i + 1
		lines++
	}
	return end, lines, sawBlank && sigs > 0
}

func openCheckpoint(msg []byte, v note.Verifiers) (Checkpoint, error) {
	n, err := note.Open(msg, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("bad signature: %w", err)
	}
	parts := strings.Split(n.Text, "\n")
	if len(parts) < 4 || parts[0] == "" {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint body")
	}
	size, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint size")
	}
	h, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(h) != 32 {
		return Checkpoint{}, fmt.Errorf("malformed checkpoint hash")
	}
	cp := Checkpoint{Origin: parts[0], Size: size}
	copy(cp.Hash[:], h)
	return cp, nil
}
