package security

import (
	"errors"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		err  bool
	}{
		{"maximum", LevelMaximum, false},
		{"high", LevelHigh, false},
		{"moderate", LevelModerate, false},
		{"reduced", LevelReduced, false},
		{"", DefaultMinimum, false},
		{"HIGH", 0, true},
		{"low", 0, true},
		{"Level(0)", 0, true},
	} {
		got, err := ParseLevel(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseLevel(%q) = %s, %v; want %s, error %t", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParseLevel(%q) error %v does not wrap ErrInvalidPolicy", tc.in, err)
		}
		if err == nil && tc.in != "" && got.String() != tc.in {
			t.Errorf("%s.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestLevelOrderAndZero(t *testing.T) {
	if !(LevelReduced < LevelModerate && LevelModerate < LevelHigh && LevelHigh < LevelMaximum) {
		t.Error("levels are not ordered worst to best")
	}
	var zero Level
	if zero.Valid() || zero.String() != "Level(0)" || Level(9).Valid() {
		t.Errorf("zero or out-of-range Level considered valid: %s", zero)
	}
}

func TestParseFallbackMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FallbackMode
		err  bool
	}{
		{"strict", FallbackStrict, false},
		{"warn", FallbackWarn, false},
		{"permissive", FallbackPermissive, false},
		{"", DefaultFallback, false},
		{"Strict", "", true},
		{"off", "", true},
	} {
		got, err := ParseFallbackMode(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseFallbackMode(%q) = %q, %v; want %q, error %t", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParseFallbackMode(%q) error %v does not wrap ErrInvalidPolicy", tc.in, err)
		}
	}
}
