package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// SigningKey is a signed-note private key ("PRIVATE+KEY+name+hash+key").
// Every fmt verb prints it as [redacted], so it cannot leak through logs or
// a %+v of Options.
type SigningKey string

// Format implements fmt.Formatter.
func (SigningKey) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// String implements fmt.Stringer.
func (SigningKey) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer.
func (SigningKey) GoString() string { return "[redacted]" }

// GenerateSigningKey returns a new Ed25519 signed-note key pair named name.
func GenerateSigningKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("audit: generate key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// WriteKeyFiles generates a key pair named name and writes the private key
// to privPath (mode 0600) and the verifier key to pubPath (0644). Neither
// file may already exist. It prints the verifier key to w.
func WriteKeyFiles(w io.Writer, name, privPath, pubPath string) error {
	skey, vkey, err := GenerateSigningKey(name)
	if err != nil {
		return err
	}
	if err := writeNew(privPath, skey+"\n", 0o600); err != nil {
		return err
	}
	if err := writeNew(pubPath, vkey+"\n", 0o644); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "wrote private key %s (keep it secret) and verifier key %s:\n%s\n", privPath, pubPath, vkey)
	return err
}

func writeNew(path, content string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("audit: create key file: %w", err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit: write key file %s: %w", path, err)
	}
	return nil
}

// LoadSigningKey reads a private key file. It refuses files readable by
// group or others, and never puts key bytes in its errors.
func LoadSigningKey(path string) (SigningKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("audit: signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("audit: signing key %s has mode %v; want 0600 or stricter", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("audit: signing key: %w", err)
	}
	k := SigningKey(strings.TrimSpace(string(b)))
	if _, err := note.NewSigner(string(k)); err != nil {
		return "", fmt.Errorf("audit: signing key %s is not a valid signed-note private key", path)
	}
	return k, nil
}

// LoadVerifierKey reads a verifier (public) key file.
func LoadVerifierKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	vkey := strings.TrimSpace(string(b))
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("audit: verifier key %s: %w", path, err)
	}
	return vkey, nil
}

// signerAndVerifier parses skey and derives its verifier, so Open can check
// the checkpoints it wrote earlier without a separate public key file.
func signerAndVerifier(skey SigningKey) (note.Signer, note.Verifier, error) {
	errBad := errors.New("audit: SigningKey is not a valid signed-note private key")
	s, err := note.NewSigner(string(skey))
	if err != nil {
		return nil, nil, errBad
	}
	parts := strings.SplitN(string(skey), "+", 5) // base64 may contain "+"
	if len(parts) != 5 {
		return nil, nil, errBad
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, nil, errBad
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, nil, errBad
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, nil, errBad
	}
	return s, v, nil
}
