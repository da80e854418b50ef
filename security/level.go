package security

import (
	"errors"
	"fmt"
)

// Level is how well a deployment is hardened. Levels are ordered: a
// greater Level is a better one, so "at least high" is l >= LevelHigh.
//
// The zero Level is not a level: Valid reports false, and Enforce refuses
// it as a minimum, so a minimum that was never set fails closed instead of
// admitting everything.
type Level uint8

// The levels, worst first.
const (
	LevelReduced Level = iota + 1
	LevelModerate
	LevelHigh
	LevelMaximum
)

// DefaultMinimum is the minimum level ParseLevel returns for an empty
// string, the configuration's zero value.
const DefaultMinimum = LevelModerate

// String returns the level's configuration name, such as "high".
func (l Level) String() string {
	switch l {
	case LevelReduced:
		return "reduced"
	case LevelModerate:
		return "moderate"
	case LevelHigh:
		return "high"
	case LevelMaximum:
		return "maximum"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// Valid reports whether l is one of the four levels.
func (l Level) Valid() bool { return l >= LevelReduced && l <= LevelMaximum }

// ErrInvalidPolicy is wrapped by the errors of ParseLevel,
// ParseFallbackMode and Enforce for a level or mode that does not exist.
var ErrInvalidPolicy = errors.New("security: invalid policy")

// ParseLevel parses a configured minimum level: "maximum", "high",
// "moderate" or "reduced". The empty string means DefaultMinimum.
func ParseLevel(s string) (Level, error) {
	if s == "" {
		return DefaultMinimum, nil
	}
	for l := LevelReduced; l <= LevelMaximum; l++ {
		if s == l.String() {
			return l, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown level %q (want maximum, high, moderate or reduced)", ErrInvalidPolicy, s)
}

// FallbackMode is what pgshield does when its level is below the
// configured minimum.
type FallbackMode string

// The fallback modes. The zero FallbackMode is not a mode: Enforce refuses
// it; ParseFallbackMode maps an empty configuration value to DefaultFallback.
const (
	// FallbackStrict refuses to start below the minimum.
	FallbackStrict FallbackMode = "strict"
	// FallbackWarn starts below the minimum, and the report says so.
	FallbackWarn FallbackMode = "warn"
	// FallbackPermissive starts below the minimum without a warning.
	FallbackPermissive FallbackMode = "permissive"
)

// DefaultFallback is the mode ParseFallbackMode returns for an empty
// string.
const DefaultFallback = FallbackWarn

// Valid reports whether m is one of the three modes.
func (m FallbackMode) Valid() bool {
	return m == FallbackStrict || m == FallbackWarn || m == FallbackPermissive
}

// ParseFallbackMode parses a configured fallback mode: "strict", "warn" or
// "permissive". The empty string means DefaultFallback.
func ParseFallbackMode(s string) (FallbackMode, error) {
	if s == "" {
		return DefaultFallback, nil
	}
	if m := FallbackMode(s); m.Valid() {
		return m, nil
	}
	return "", fmt.Errorf("%w: unknown fallback mode %q (want strict, warn or permissive)", ErrInvalidPolicy, s)
}
