package security

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
)

func TestEnforce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		level   Level
		minimum Level
		mode    FallbackMode
		err     error
		verdict Verdict
	}{
		{"strict at minimum", LevelHigh, LevelHigh, FallbackStrict, nil, VerdictMet},
		{"strict above minimum", LevelMaximum, LevelModerate, FallbackStrict, nil, VerdictMet},
		{"strict below minimum", LevelModerate, LevelHigh, FallbackStrict, ErrBelowMinimum, VerdictRefused},
		{"strict, report never evaluated", 0, LevelReduced, FallbackStrict, ErrBelowMinimum, VerdictRefused},
		{"warn below minimum", LevelReduced, LevelMaximum, FallbackWarn, nil, VerdictWarned},
		{"warn at minimum", LevelModerate, LevelModerate, FallbackWarn, nil, VerdictMet},
		{"permissive below minimum", LevelReduced, LevelHigh, FallbackPermissive, nil, VerdictAllowed},
		{"zero minimum", LevelMaximum, 0, FallbackWarn, ErrInvalidPolicy, VerdictRefused},
		{"zero mode", LevelMaximum, LevelReduced, "", ErrInvalidPolicy, VerdictRefused},
		{"unknown mode", LevelMaximum, LevelReduced, "lenient", ErrInvalidPolicy, VerdictRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Report{Level: tc.level}
			if err := Enforce(r, tc.minimum, tc.mode); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("Enforce = %v, want %v", err, tc.err)
			}
			p := r.WithPolicy(tc.minimum, tc.mode)
			if p.Verdict != tc.verdict || p.Minimum != tc.minimum || p.Fallback != tc.mode {
				t.Errorf("WithPolicy = %v %s %q, want verdict %v", p.Verdict, p.Minimum, p.Fallback, tc.verdict)
			}
		})
	}
}

// TestEnforceMessage checks the strict error is one line naming the
// level, the minimum and only the checks that hold the level below it.
func TestEnforceMessage(t *testing.T) {
	f := hardened()
	f.Audit.FailOpen = true             // moderate
	f.TLS.MinVersion = tls.VersionTLS12 // high: not the reason for < high
	f.KeyFiles[0].Mode = 0o640          // moderate
	f.KeyFiles[1].Mode = 0o640          // moderate, same check name
	err := Enforce(Evaluate(f), LevelHigh, FallbackStrict)
	want := "security level below minimum: level moderate, minimum high; failing: audit_fail_closed, key_file"
	if err == nil || err.Error() != want {
		t.Fatalf("Enforce error\n got %v\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Error("error spans lines")
	}
}

// TestEnforceMessageMinorFailures covers a level lowered by the point
// rule, where no single check is below the minimum: all failures are named.
func TestEnforceMessageMinorFailures(t *testing.T) {
	f := hardened()
	f.TLS.MinVersion = tls.VersionTLS12
	f.Audit.CheckpointsSigned = false
	f.Credentials.RotationOn = false
	err := Enforce(Evaluate(f), LevelHigh, FallbackStrict)
	if err == nil || !strings.HasSuffix(err.Error(), "failing: tls_version, audit_checkpoints, credential_rotation") {
		t.Fatalf("Enforce = %v", err)
	}
}
