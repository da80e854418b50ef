package shamir

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Limits on share sets. The x coordinate is one non-zero byte, so a set has
// at most 255 shares; a threshold of 1 would make every share the secret.
const (
	MinThreshold = 2
	MaxShares    = 255
)

// Split divides secret into shares shares, any threshold of which recover it
// through Combine. Each share is len(secret)+1 bytes: the y values followed
// by the x coordinate. Share i (0-based) has x = i+1; the coordinates carry
// no information about the secret, so there is nothing to gain from
// randomising them, and fixed ones make share files easy to tell apart.
//
// rand supplies the polynomial coefficients; nil means crypto/rand. It must
// be a cryptographically secure source outside tests.
func Split(secret []byte, shares, threshold int, rnd io.Reader) ([][]byte, error) {
	switch {
	case len(secret) == 0:
		return nil, errors.New("shamir: cannot split an empty secret")
	case threshold < MinThreshold:
		return nil, fmt.Errorf("shamir: threshold %d is below the minimum of %d", threshold, MinThreshold)
	case shares < threshold:
		return nil, fmt.Errorf("shamir: %d shares is fewer than the threshold %d", shares, threshold)
	case shares > MaxShares:
		return nil, fmt.Errorf("shamir: %d shares is more than the maximum of %d", shares, MaxShares)
	}
	if rnd == nil {
		rnd = rand.Reader
	}

	out := make([][]byte, shares)
	for i := range out {
		out[i] = make([]byte, len(secret)+1)
		out[i][len(secret)] = uint8(i + 1)
	}
	for b, s := range secret {
		p, err := makePolynomial(s, threshold-1, rnd)
		if err != nil {
			return nil, fmt.Errorf("shamir: %w", err)
		}
		for i := range out {
			out[i][b] = p.evaluate(uint8(i + 1))
		}
		clear(p.coefficients)
	}
	return out, nil
}

// Combine recovers the secret from shares made by Split. It needs at least
// two shares of equal length with distinct non-zero x coordinates. Given
// fewer shares than the split's threshold it returns a wrong secret without
// error, because raw shares do not record the threshold; use CombineFiles
// when that matters.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) < MinThreshold {
		return nil, fmt.Errorf("shamir: need at least %d shares, got %d", MinThreshold, len(shares))
	}
	if len(shares) > MaxShares {
		return nil, fmt.Errorf("shamir: %d shares is more than the maximum of %d", len(shares), MaxShares)
	}
	n := len(shares[0])
	if n < 2 {
		return nil, errors.New("shamir: share 1 is too short to hold a secret")
	}
	xs := make([]uint8, len(shares))
	seen := make(map[uint8]int, len(shares))
	for i, sh := range shares {
		if len(sh) != n {
			return nil, fmt.Errorf("shamir: share %d is %d bytes, share 1 is %d bytes; all shares must be the same length", i+1, len(sh), n)
		}
		x := sh[n-1]
		if x == 0 {
			return nil, fmt.Errorf("shamir: share %d has x coordinate 0, which is never issued", i+1)
		}
		if j, dup := seen[x]; dup {
			return nil, fmt.Errorf("shamir: shares %d and %d are the same share (x = %d)", j+1, i+1, x)
		}
		seen[x] = i
		xs[i] = x
	}

	secret := make([]byte, n-1)
	ys := make([]uint8, len(shares))
	for b := range secret {
		for i, sh := range shares {
			ys[i] = sh[b]
		}
		secret[b] = interpolateAt(xs, ys, 0)
	}
	clear(ys)
	return secret, nil
}
