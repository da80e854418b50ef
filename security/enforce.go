package security

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBelowMinimum is wrapped by Enforce's error when the level is below
// the minimum and the fallback mode is strict.
var ErrBelowMinimum = errors.New("security level below minimum")

// Enforce applies a minimum level and fallback mode to r. It returns an
// error wrapping ErrBelowMinimum when r.Level is below minimum and mode is
// FallbackStrict, naming the level, the minimum and the checks that hold
// the level down; one wrapping ErrInvalidPolicy when minimum or mode is not
// valid (fail closed: a policy that was never set refuses to start); and
// nil otherwise. Warn and permissive return nil below the minimum: use
// Report.WithPolicy to have the report say so.
func Enforce(r Report, minimum Level, mode FallbackMode) error {
	if !minimum.Valid() {
		return fmt.Errorf("%w: minimum level %s", ErrInvalidPolicy, minimum)
	}
	if !mode.Valid() {
		return fmt.Errorf("%w: fallback mode %q", ErrInvalidPolicy, string(mode))
	}
	if decide(r.Level, minimum, mode) != VerdictRefused {
		return nil
	}
	return fmt.Errorf("%w: level %s, minimum %s; failing: %s",
		ErrBelowMinimum, r.Level, minimum, strings.Join(culprits(r, minimum), ", "))
}

// culprits names the failing checks whose ceiling is below minimum. When
// there are none, the level was lowered by several minor failures together
// (or the report is empty), and every failing check is named.
func culprits(r Report, minimum Level) []string {
	var below, all []string
	for _, c := range r.Checks {
		if c.OK {
			continue
		}
		all = appendNew(all, c.Name)
		if c.Ceiling < minimum {
			below = appendNew(below, c.Name)
		}
	}
	switch {
	case len(below) > 0:
		return below
	case len(all) > 0:
		return all
	}
	return []string{"none (report not evaluated)"}
}

// appendNew appends name unless present: several key_file checks share
// a name, and the error should name each kind once.
func appendNew(names []string, name string) []string {
	if slices.Contains(names, name) {
		return names
	}
	return append(names, name)
}
