package shamir

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// pemType is the PEM block type of a share file.
const pemType = "PGSHIELD SECRET SHARE"

// ShareMeta describes the share set a share belongs to. None of it is secret
// for a high-entropy secret such as a key; SecretSHA256 would allow
// brute-forcing a guessable secret, so do not split passwords chosen by
// people.
type ShareMeta struct {
	// Threshold is how many shares of the set recover the secret.
	Threshold int
	// Total is how many shares the set has.
	Total int
	// ID identifies the set (lower-case hex), so shares from two splits of
	// the same or different secrets are never mixed.
	ID string
	// SecretSHA256 is the SHA-256 of the secret, which CombineFiles checks
	// the recovered secret against.
	SecretSHA256 [sha256.Size]byte
}

func (m ShareMeta) validate() error {
	switch {
	case m.Threshold < MinThreshold:
		return fmt.Errorf("threshold %d is below the minimum of %d", m.Threshold, MinThreshold)
	case m.Total < m.Threshold || m.Total > MaxShares:
		return fmt.Errorf("total %d is outside %d..%d", m.Total, m.Threshold, MaxShares)
	case m.ID == "":
		return errors.New("missing set ID")
	}
	if _, err := hex.DecodeString(m.ID); err != nil {
		return fmt.Errorf("set ID %q is not hex", m.ID)
	}
	return nil
}

// EncodeShare returns a PEM share file holding share and meta, with a
// plain-text preamble telling the shareholder what the file is. DecodeShare
// reverses it.
func EncodeShare(share []byte, meta ShareMeta) []byte {
	var x int
	if len(share) > 0 {
		x = int(share[len(share)-1])
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "pgshield secret share %d of %d; any %d shares of set %s recover the secret.\n"+
		"Keep this file private: it is a piece of a secret key.\n\n", x, meta.Total, meta.Threshold, meta.ID)
	// pem.Encode to a bytes.Buffer cannot fail: the headers have no colons.
	_ = pem.Encode(&buf, &pem.Block{
		Type: pemType,
		Headers: map[string]string{
			"Set-Id":        meta.ID,
			"Threshold":     strconv.Itoa(meta.Threshold),
			"Total":         strconv.Itoa(meta.Total),
			"Secret-Sha256": hex.EncodeToString(meta.SecretSHA256[:]),
		},
		Bytes: share,
	})
	return buf.Bytes()
}

// DecodeShare parses a share file made by EncodeShare and checks that its
// metadata is self-consistent.
func DecodeShare(data []byte) ([]byte, ShareMeta, error) {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, ShareMeta{}, errors.New("not a pgshield share file (no " + pemType + " PEM block)")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, ShareMeta{}, errors.New("share file has trailing data after the PEM block")
	}
	var meta ShareMeta
	var err error
	if meta.Threshold, err = strconv.Atoi(block.Headers["Threshold"]); err != nil {
		return nil, ShareMeta{}, errors.New("share file has a missing or malformed Threshold header")
	}
	if meta.Total, err = strconv.Atoi(block.Headers["Total"]); err != nil {
		return nil, ShareMeta{}, errors.New("share file has a missing or malformed Total header")
	}
	meta.ID = block.Headers["Set-Id"]
	sum, err := hex.DecodeString(block.Headers["Secret-Sha256"])
	if err != nil || len(sum) != sha256.Size {
		return nil, ShareMeta{}, errors.New("share file has a missing or malformed Secret-Sha256 header")
	}
	copy(meta.SecretSHA256[:], sum)
	if err := meta.validate(); err != nil {
		return nil, ShareMeta{}, fmt.Errorf("share file metadata: %w", err)
	}
	share := block.Bytes
	if len(share) < 2 {
		return nil, ShareMeta{}, errors.New("share file holds no share data")
	}
	if x := int(share[len(share)-1]); x < 1 || x > meta.Total {
		return nil, ShareMeta{}, fmt.Errorf("share file has share number %d, outside 1..%d", x, meta.Total)
	}
	return share, meta, nil
}

// SplitFiles splits secret like Split and returns one encoded share file per
// shareholder, all tagged with a fresh random set ID. rnd nil means
// crypto/rand.
func SplitFiles(secret []byte, shares, threshold int, rnd io.Reader) ([][]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	id := make([]byte, 8)
	if _, err := io.ReadFull(rnd, id); err != nil {
		return nil, fmt.Errorf("shamir: reading random set ID: %w", err)
	}
	raw, err := Split(secret, shares, threshold, rnd)
	if err != nil {
		return nil, err
	}
	meta := ShareMeta{Threshold: threshold, Total: shares, ID: hex.EncodeToString(id), SecretSHA256: sha256.Sum256(secret)}
	files := make([][]byte, len(raw))
	for i, sh := range raw {
		files[i] = EncodeShare(sh, meta)
		clear(sh)
	}
	return files, nil
}

// CombineFiles recovers the secret from share files made by SplitFiles or
// EncodeShare. Unlike Combine it knows the threshold, so it fails with
// "need 3 shares, got 2" instead of returning garbage; it refuses shares from
// different sets and verifies the recovered secret against the set's
// SHA-256.
func CombineFiles(files ...[]byte) ([]byte, error) {
	if len(files) == 0 {
		return nil, errors.New("shamir: no share files given")
	}
	shares := make([][]byte, len(files))
	var first ShareMeta
	seen := make(map[byte]int, len(files))
	for i, f := range files {
		sh, meta, err := DecodeShare(f)
		if err != nil {
			return nil, fmt.Errorf("shamir: share file %d: %w", i+1, err)
		}
		if i == 0 {
			first = meta
		} else if meta.ID != first.ID || meta.SecretSHA256 != first.SecretSHA256 {
			return nil, fmt.Errorf("shamir: share file %d is from share set %s, share file 1 from set %s; shares of different sets cannot be combined", i+1, meta.ID, first.ID)
		} else if meta.Threshold != first.Threshold || meta.Total != first.Total {
			return nil, fmt.Errorf("shamir: share file %d says %d of %d, share file 1 says %d of %d; the files were edited", i+1, meta.Threshold, meta.Total, first.Threshold, first.Total)
		}
		x := sh[len(sh)-1]
		if j, dup := seen[x]; dup {
			return nil, fmt.Errorf("shamir: share files %d and %d are both share %d; give distinct shares", j+1, i+1, x)
		}
		seen[x] = i
		shares[i] = sh
	}
	if len(shares) < first.Threshold {
		return nil, fmt.Errorf("shamir: need %d shares, got %d", first.Threshold, len(shares))
	}
	secret, err := Combine(shares)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(sum[:], first.SecretSHA256[:]) != 1 {
		clear(secret)
		return nil, errors.New("shamir: the recovered secret does not match the share set's checksum; a share file is corrupted or was altered")
	}
	return secret, nil
}
