package credstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestGeneratePassword(t *testing.T) {
	tests := []struct {
		hexChars int
		wantLen  int
		wantErr  string
	}{
		{0, 64, ""},
		{32, 32, ""},
		{33, 33, ""},
		{64, 64, ""},
		{1024, 1024, ""},
		{31, 0, "outside 32..1024"},
		{-1, 0, "outside"},
		{1025, 0, "outside"},
	}
	for _, tt := range tests {
		pw, err := GeneratePassword(nil, tt.hexChars)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("GeneratePassword(%d): err = %v, want %q", tt.hexChars, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(pw) != tt.wantLen {
			t.Errorf("GeneratePassword(%d) = %d chars, %v; want %d", tt.hexChars, len(pw), err, tt.wantLen)
		}
		if strings.Trim(pw, "0123456789abcdef") != "" {
			t.Errorf("GeneratePassword(%d) has non-hex characters", tt.hexChars)
		}
	}
}

func TestGeneratePasswordUsesReader(t *testing.T) {
	pw, err := GeneratePassword(bytes.NewReader(bytes.Repeat([]byte{0xab}, 16)), 32)
	if err != nil || pw != strings.Repeat("ab", 16) {
		t.Fatalf("got %q, %v", pw, err)
	}
	if _, err := GeneratePassword(iotest.ErrReader(errors.New("no entropy")), 64); err == nil {
		t.Fatal("a failing reader gave a password")
	}
	if _, err := GeneratePassword(bytes.NewReader(make([]byte, 8)), 64); err == nil {
		t.Fatal("a short reader gave a password")
	}
}

// TestGeneratePasswordEntropy is a sanity floor, not a randomness test: no
// repeats, and every hex digit roughly equally common.
func TestGeneratePasswordEntropy(t *testing.T) {
	seen := map[string]bool{}
	var counts [16]int
	const n = 200
	for range n {
		pw, err := GeneratePassword(nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[pw] {
			t.Fatal("repeated password")
		}
		seen[pw] = true
		for _, c := range pw {
			counts[strings.IndexRune("0123456789abcdef", c)]++
		}
	}
	// 12800 digits, 800 expected each; ±25% is > 10 sigma.
	for d, c := range counts {
		if c < 600 || c > 1000 {
			t.Errorf("hex digit %x appeared %d times in %d, want about 800", d, c, n*64)
		}
	}
}
