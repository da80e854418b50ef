package credstore

import (
	"bytes"
	"errors"
	"fmt"
)

const (
	magic         = "PGSHSTOR"
	formatVersion = 1
)

// Sentinel errors, matched with errors.Is. The messages callers see name the
// store path; see storeError.
var (
	// ErrWrongKey means the store was written under another identity key.
	ErrWrongKey = errors.New("credential store was encrypted for a different identity key")
	// ErrCorrupted means the store failed to parse or authenticate.
	ErrCorrupted = errors.New("credential store is corrupted or was tampered with")
)

// storeError is a one-line error about the store at path that unwraps to
// one of the sentinels.
type storeError struct {
	path   string
	kind   error
	detail string
}

func (e *storeError) Error() string { return "credential store " + e.path + " " + e.detail }
func (e *storeError) Unwrap() error { return e.kind }

func (e *storeError) withPath(path string) *storeError {
	e.path = path
	return e
}

// header is the unencrypted, authenticated prefix of a store file.
type header struct {
	method Method
	keyID  [8]byte
	salt   []byte
	nonce  []byte
}

func (h header) marshal() []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteByte(formatVersion)
	writeField(&b, []byte(h.method))
	b.Write(h.keyID[:])
	writeField(&b, h.salt)
	writeField(&b, h.nonce)
	return b.Bytes()
}

// writeField writes a 1-byte length and the bytes; every field is far
// below 256 bytes.
func writeField(b *bytes.Buffer, f []byte) {
	b.WriteByte(byte(len(f)))
	b.Write(f)
}

// parseHeader splits a store file into its header and body.
func parseHeader(data []byte) (header, []byte, *storeError) {
	corrupt := func(why string) (header, []byte, *storeError) {
		return header{}, nil, &storeError{kind: ErrCorrupted, detail: "is corrupted or was tampered with (" + why + ")"}
	}
	if len(data) < len(magic)+1 || string(data[:len(magic)]) != magic {
		return corrupt("not a pgshield credential store")
	}
	if v := data[len(magic)]; v != formatVersion {
		return header{}, nil, &storeError{kind: ErrCorrupted, detail: fmt.Sprintf(
			"has format version %d; this pgshield reads version %d", v, formatVersion)}
	}
	rest := data[len(magic)+1:]
	field := func() ([]byte, bool) {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return nil, false
		}
		f := rest[1 : 1+int(rest[0])]
		rest = rest[1+int(rest[0]):]
		return f, true
	}
	var h header
	m, ok := field()
	if !ok {
		return corrupt("truncated header")
	}
	h.method = Method(m)
	if !h.method.valid() {
		if len(m) > 16 {
			return corrupt("unknown method")
		}
		return corrupt(fmt.Sprintf("unknown method %q", m))
	}
	if len(rest) < len(h.keyID) {
		return corrupt("truncated header")
	}
	copy(h.keyID[:], rest)
	rest = rest[len(h.keyID):]
	if h.salt, ok = field(); !ok {
		return corrupt("truncated header")
	}
	if h.nonce, ok = field(); !ok {
		return corrupt("truncated header")
	}
	return h, rest, nil
}
