package shamir

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// testRand is a deterministic source so failures reproduce.
func testRand(seed byte) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return mrand.NewChaCha8(s)
}

// subsets calls fn with every subset of {0..n-1} of size k.
func subsets(n, k int, fn func([]int)) {
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			fn(append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
}

func pick(all [][]byte, idx []int) [][]byte {
	out := make([][]byte, len(idx))
	for i, j := range idx {
		out[i] = all[j]
	}
	return out
}

func TestSplitCombineEveryQuorum(t *testing.T) {
	secret := []byte("the quick brown fox \x00\xff jumps")
	shares, err := Split(secret, 5, 3, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	for i, sh := range shares {
		if len(sh) != len(secret)+1 || sh[len(sh)-1] != uint8(i+1) {
			t.Fatalf("share %d has length %d and x %d", i, len(sh), sh[len(sh)-1])
		}
	}
	files, err := SplitFiles(secret, 5, 3, testRand(2))
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for k := 3; k <= 5; k++ {
		subsets(5, k, func(idx []int) {
			count++
			got, err := Combine(pick(shares, idx))
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("Combine(%v) = %q, %v; want the secret", idx, got, err)
			}
			got, err = CombineFiles(pick(files, idx)...)
			if err != nil || !bytes.Equal(got, secret) {
				t.Errorf("CombineFiles(%v) = %q, %v; want the secret", idx, got, err)
			}
		})
	}
	if count != 10+5+1 {
		t.Fatalf("tried %d subsets, want 16", count)
	}
}

func TestCombineFilesBelowThreshold(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	files, err := SplitFiles(secret, 5, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	subsets(5, 2, func(idx []int) {
		n++
		got, err := CombineFiles(pick(files, idx)...)
		if err == nil || err.Error() != "shamir: need 3 shares, got 2" {
			t.Errorf("CombineFiles(%v) = %q, %v; want need-3-got-2 error", idx, got, err)
		}
	})
	if _, err := CombineFiles(files[4]); err == nil || !strings.Contains(err.Error(), "need 3 shares, got 1") {
		t.Errorf("one share: err = %v", err)
	}
	if n != 10 {
		t.Fatalf("tried %d pairs, want 10", n)
	}
}

func TestSplitErrors(t *testing.T) {
	tests := []struct {
		name              string
		secret            []byte
		shares, threshold int
		want              string
	}{
		{"empty secret", nil, 3, 2, "empty secret"},
		{"threshold 1", []byte("s"), 3, 1, "threshold 1 is below"},
		{"shares below threshold", []byte("s"), 2, 3, "fewer than the threshold"},
		{"too many shares", []byte("s"), 256, 3, "more than the maximum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Split(tt.secret, tt.shares, tt.threshold, rand.Reader)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Split([]byte("s"), 3, 2, iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Fatal("Split with a failing random source succeeded")
	}
	if _, err := Split([]byte("s"), 255, 255, testRand(3)); err != nil {
		t.Fatalf("255 of 255: %v", err)
	}
}

func TestCombineErrors(t *testing.T) {
	shares, err := Split([]byte("secret"), 3, 2, testRand(4))
	if err != nil {
		t.Fatal(err)
	}
	zeroX := append([]byte(nil), shares[1]...)
	zeroX[len(zeroX)-1] = 0
	tests := []struct {
		name   string
		shares [][]byte
		want   string
	}{
		{"none", nil, "need at least 2 shares, got 0"},
		{"one", shares[:1], "need at least 2 shares, got 1"},
		{"mismatched lengths", [][]byte{shares[0], shares[1][1:]}, "same length"},
		{"duplicate x", [][]byte{shares[0], shares[0]}, "same share"},
		{"zero x", [][]byte{shares[0], zeroX}, "x coordinate 0"},
		{"too short", [][]byte{{1}, {2}}, "too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Combine(tt.shares)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestShareFileRoundTripAndErrors(t *testing.T) {
	secret := []byte("k3y-material-k3y-material-k3y-ma")
	files, err := SplitFiles(secret, 3, 2, testRand(5))
	if err != nil {
		t.Fatal(err)
	}
	sh, meta, err := DecodeShare(files[1])
	if err != nil {
		t.Fatal(err)
	}
	if meta.Threshold != 2 || meta.Total != 3 || len(meta.ID) != 16 || sh[len(sh)-1] != 2 {
		t.Fatalf("decoded meta %+v, x %d", meta, sh[len(sh)-1])
	}
	if !bytes.Equal(EncodeShare(sh, meta), files[1]) {
		t.Fatal("re-encoding a decoded share changed it")
	}
	other, err := SplitFiles(secret, 3, 2, testRand(6))
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(files[1], []byte("Threshold: 2"), []byte("Threshold: 3"), 1)
	// Flip one y byte, leaving the metadata and x intact.
	bad := append([]byte(nil), sh...)
	bad[0] ^= 0x01
	tampered := EncodeShare(bad, meta)

	tests := []struct {
		name  string
		files [][]byte
		want  string
	}{
		{"none", nil, "no share files"},
		{"garbage", [][]byte{[]byte("hello"), files[0]}, "share file 1: not a pgshield share file"},
		{"mixed sets", [][]byte{files[0], other[1]}, "different sets"},
		{"duplicate", [][]byte{files[0], files[0]}, "both share 1"},
		{"edited threshold", [][]byte{files[0], edited}, "the files were edited"},
		{"tampered body", [][]byte{files[0], tampered}, "does not match the share set's checksum"},
		{"trailing data", [][]byte{append(append([]byte(nil), files[0]...), "x"...), files[1]}, "trailing data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CombineFiles(tt.files...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CombineFiles = %q, %v; want error %q", got, err, tt.want)
			}
		})
	}
}

// TestSingleShareDoesNotLeak checks that one share's bytes are uniformly
// distributed whatever the secret: a chi-square test over 256 buckets for
// an all-0x00 and an all-0xff secret. With 255 degrees of freedom the
// statistic's mean is 255 and 400 is far beyond any plausible fluke (p <
// 1e-8), while a leaking split (e.g. y = secret) scores in the millions.
func TestSingleShareDoesNotLeak(t *testing.T) {
	const n = 256 * 64
	for _, b := range []byte{0x00, 0xff} {
		secret := bytes.Repeat([]byte{b}, n)
		shares, err := Split(secret, 3, 2, testRand(b))
		if err != nil {
			t.Fatal(err)
		}
		for s, sh := range shares {
			var counts [256]int
			for _, y := range sh[:n] {
				counts[y]++
			}
			exp := float64(n) / 256
			var chi2 float64
			for _, c := range counts {
				d := float64(c) - exp
				chi2 += d * d / exp
			}
			if chi2 > 400 {
				t.Errorf("secret byte %#02x, share %d: chi-square %.1f over 255 dof; share bytes are not uniform", b, s+1, chi2)
			}
		}
	}
}
