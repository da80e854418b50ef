package credstore

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
)

// Password length limits, in hex characters (4 bits each).
const (
	// DefaultPasswordHexChars (256 bits) is used when GeneratePassword is
	// asked for 0 characters.
	DefaultPasswordHexChars = 64
	// MinPasswordHexChars (128 bits) is the entropy floor.
	MinPasswordHexChars = 32
	// MaxPasswordHexChars keeps passwords well inside what clients and
	// SCRAM implementations accept.
	MaxPasswordHexChars = 1024
)

// GeneratePassword returns a random password of hexChars lower-case hex
// characters read from r (nil means crypto/rand). Hex avoids every quoting
// problem in connection strings and SQL. 0 means DefaultPasswordHexChars;
// fewer than MinPasswordHexChars is refused.
func GeneratePassword(r io.Reader, hexChars int) (string, error) {
	if hexChars == 0 {
		hexChars = DefaultPasswordHexChars
	}
	if hexChars < MinPasswordHexChars || hexChars > MaxPasswordHexChars {
		return "", fmt.Errorf("password length %d hex characters is outside %d..%d", hexChars, MinPasswordHexChars, MaxPasswordHexChars)
	}
	if r == nil {
		r = rand.Reader
	}
	buf := make([]byte, (hexChars+1)/2)
	defer clear(buf)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", fmt.Errorf("generating password: %w", err)
	}
	return hex.EncodeToString(buf)[:hexChars], nil
}
