package credstore

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds how much of a key file is read; a PKCS#8 Ed25519 PEM
// is under 200 bytes.
const maxKeyFileSize = 64 << 10

// KeyID returns the identity key's public id: the first 8 bytes of the
// SHA-256 of the Ed25519 public key, in hex. It is not secret.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// LoadOrCreateIdentityKey loads the Ed25519 identity key at path, or creates
// one (mode 0600, directory 0700) if the file does not exist; created reports
// which. rnd nil means crypto/rand. If two processes race to create the key,
// one wins and both return its key.
func LoadOrCreateIdentityKey(path string, rnd io.Reader) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadIdentityKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	_, key, err = ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, false, fmt.Errorf("generating identity key: %w", err)
	}
	err = WriteIdentityKey(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it between our load and write.
		key, err = LoadIdentityKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// LoadIdentityKey loads the identity key at path. It refuses a file that is
// not a regular file, one that group or others may access, and anything but
// an unencrypted PKCS#8 Ed25519 private key.
func LoadIdentityKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("identity key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("identity key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("identity key %s has mode %04o; want 0600 (chmod 600 it)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("identity key %s: %w", path, err)
	}
	defer clear(data)
	key, why := parseIdentityKey(data)
	if why != "" {
		return nil, fmt.Errorf("identity key %s is malformed: %s", path, why)
	}
	return key, nil
}

// parseIdentityKey returns the key or a reason it is malformed. The reason
// never quotes the file, which holds the secret.
func parseIdentityKey(data []byte) (ed25519.PrivateKey, string) {
	if len(data) > maxKeyFileSize {
		return nil, "file is too large"
	}
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, "no PEM block"
	case block.Type != "PRIVATE KEY":
		return nil, fmt.Sprintf("PEM block type is %q; want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	case len(block.Headers) != 0:
		return nil, "PEM block has headers (encrypted keys are not supported)"
	case len(trimSpace(rest)) != 0:
		return nil, "trailing data after the PEM block"
	}
	defer clear(block.Bytes)
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, "not a PKCS#8 private key"
	}
	key, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Sprintf("key is %T; want Ed25519", parsed)
	}
	return key, ""
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// WriteIdentityKey writes key to path as PKCS#8 PEM, mode 0600, creating the
// directory with mode 0700 if needed. It never replaces an existing file:
// then the error wraps fs.ErrExist. The file appears complete or not at all.
func WriteIdentityKey(path string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("identity key: not an Ed25519 private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("identity key: encoding: %w", err)
	}
	defer clear(der)
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	defer clear(data)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity key: %w", err)
	}
	tmp, err := writeTemp(dir, filepath.Base(path), data)
	if err != nil {
		return fmt.Errorf("identity key %s: %w", path, err)
	}
	defer os.Remove(tmp)
	// Link, unlike rename, fails if path exists: a racing creator or an
	// existing key is never overwritten.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("identity key %s already exists: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("identity key: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("identity key %s: %w", path, err)
	}
	return nil
}
