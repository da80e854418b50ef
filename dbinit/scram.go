package dbinit

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations matches PostgreSQL's default scram_iterations.
const scramIterations = 4096

// checkPassword refuses passwords whose SCRAM verifier we could compute
// differently from the server: PostgreSQL runs SASLprep on non-ASCII
// passwords, which we do not implement.
func checkPassword(pw string) error {
	if len(pw) < 16 {
		return errors.New("authenticator password is shorter than 16 characters")
	}
	for i := 0; i < len(pw); i++ {
		if pw[i] < 0x21 || pw[i] > 0x7e {
			return errors.New("authenticator password must be printable ASCII without spaces")
		}
	}
	return nil
}

// scramVerifier returns the verifier PostgreSQL stores for password, in
// pg_authid's format, so that only the verifier is sent to the server.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("dbinit: salt: %w", err)
	}
	stored, server, err := scramKeys(password, salt, scramIterations)
	if err != nil {
		return "", err
	}
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored), b64(server)), nil
}

// scramMatches reports whether verifier (as read from pg_authid) was made
// from password. A verifier in any other format does not match.
func scramMatches(verifier, password string) bool {
	rest, ok := strings.CutPrefix(verifier, "SCRAM-SHA-256$")
	if !ok {
		return false
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return false
	}
	iterStr, saltStr, ok1 := strings.Cut(iterSalt, ":")
	storedStr, serverStr, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return false
	}
	iter, err := strconv.Atoi(iterStr)
	if err != nil || iter < 1 || iter > 1<<24 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(saltStr)
	wantStored, err2 := base64.StdEncoding.DecodeString(storedStr)
	wantServer, err3 := base64.StdEncoding.DecodeString(serverStr)
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	stored, server, err := scramKeys(password, salt, iter)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(stored, wantStored)&subtle.ConstantTimeCompare(server, wantServer) == 1
}

// scramKeys computes StoredKey and ServerKey per RFC 5802.
func scramKeys(password string, salt []byte, iter int) (stored, server []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("dbinit: pbkdf2: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	sum := sha256.Sum256(clientKey)
	return sum[:], hmacSHA256(salted, "Server Key"), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
