package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// domain separates pgshield audit hashes from every other use of SHA-256.
const domain = "pgshield-audit-v1\x00"

// chainHash is hash_n = SHA-256(domain || prev || body).
func chainHash(prev [32]byte, body []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(domain))
	h.Write(prev[:])
	h.Write(body)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// lineHead is the part of a stored line the chain checks need.
type lineHead struct {
	Seq    uint64            `json:"seq"`
	TS     string            `json:"ts"`
	Kind   Kind              `json:"kind"`
	Prev   string            `json:"prev"`
	Hash   string            `json:"hash"`
	Detail map[string]string `json:"detail"`
}

// parsedLine is one line split into its hashed body and stored hash.
type parsedLine struct {
	head       lineHead
	prev, hash [32]byte
	body       []byte // the hashed bytes; aliases the scratch buffer
}

// parseLine splits line (without "\n") into body and hash and decodes the
// head. scratch is reused for the body to avoid an allocation per line.
func parseLine(line, scratch []byte) (parsedLine, []byte, error) {
	var p parsedLine
	if len(line) < hashSuffixLen+2 || !bytes.HasPrefix(line[len(line)-hashSuffixLen:], []byte(`,"hash":"`)) ||
		!bytes.HasSuffix(line, []byte(`"}`)) {
		return p, scratch, fmt.Errorf("malformed line: does not end with a hash member")
	}
	hexHash := line[len(line)-hashSuffixLen+len(`,"hash":"`) : len(line)-2]
	if _, err := hex.Decode(p.hash[:], hexHash); err != nil {
		return p, scratch, fmt.Errorf("malformed line: bad hash hex")
	}
	scratch = append(scratch[:0], line[:len(line)-hashSuffixLen]...)
	scratch = append(scratch, '}')
	p.body = scratch
	if err := json.Unmarshal(p.body, &p.head); err != nil {
		return p, scratch, fmt.Errorf("malformed line: %w", err)
	}
	if p.head.Hash != "" {
		return p, scratch, fmt.Errorf("malformed line: hash member inside the hashed body")
	}
	if len(p.head.Prev) != 64 {
		return p, scratch, fmt.Errorf("malformed line: bad prev")
	}
	if _, err := hex.Decode(p.prev[:], []byte(p.head.Prev)); err != nil {
		return p, scratch, fmt.Errorf("malformed line: bad prev hex")
	}
	return p, scratch, nil
}

// checker follows a chain line by line. It is shared by Verify and by Open,
// which checks the tail of an existing log before appending to it.
type checker struct {
	// started is false until the first line; a checker started mid-chain
	// (trustFirst) adopts the first line's seq and prev.
	started    bool
	trustFirst bool
	nextSeq    uint64
	last       [32]byte
	scratch    []byte
}

// parse splits and decodes one line and checks it against its own hash.
func (c *checker) parse(line []byte) (parsedLine, error) {
	p, scratch, err := parseLine(line, c.scratch)
	c.scratch = scratch
	if err != nil {
		return p, err
	}
	if chainHash(p.prev, p.body) != p.hash {
		return p, fmt.Errorf("record content altered: hash does not match its bytes")
	}
	return p, nil
}

// link checks that parsed line p is the next record of the chain and
// advances the chain.
func (c *checker) link(p *parsedLine) error {
	if !c.started {
		c.started = true
		if c.trustFirst {
			c.nextSeq, c.last = p.head.Seq, p.prev
		} else {
			c.nextSeq = 1
		}
	}
	if p.head.Seq != c.nextSeq {
		return fmt.Errorf("seq %d where %d expected: records deleted, reordered or inserted", p.head.Seq, c.nextSeq)
	}
	if p.prev != c.last {
		return fmt.Errorf("prev does not link to the previous record: record spliced from another chain")
	}
	c.nextSeq++
	c.last = p.hash
	return nil
}
