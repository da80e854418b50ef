package metrics_test

import (
	"slices"
	"testing"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/auth"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/tlsterm"
)

// TestLabelListsMatchPackages keeps the fixed label lists in step with the
// packages that produce the values, so a new reason shows up as its own
// series instead of silently landing in "other".
func TestLabelListsMatchPackages(t *testing.T) {
	tlsReasons := metrics.TLSFailureReasons()
	for _, r := range tlsterm.Reasons() {
		if !slices.Contains(tlsReasons, string(r)) {
			t.Errorf("tlsterm reason %q missing from TLSFailureReasons", r)
		}
	}
	if len(tlsReasons) != len(tlsterm.Reasons()) {
		t.Errorf("TLSFailureReasons has %d values, tlsterm %d", len(tlsReasons), len(tlsterm.Reasons()))
	}
	authReasons := metrics.AuthFailureReasons()
	for _, r := range []auth.Reason{
		auth.ReasonUnknownIdentity, auth.ReasonUserNotAllowed, auth.ReasonDatabaseNotAllowed,
		auth.ReasonParameterNotAllowed, auth.ReasonBadParameter, auth.ReasonNoUser,
	} {
		if !slices.Contains(authReasons, string(r)) {
			t.Errorf("auth reason %q missing from AuthFailureReasons", r)
		}
	}
	kinds := metrics.AuditKinds()
	for _, k := range []audit.Kind{
		audit.KindStatement, audit.KindOutcome, audit.KindDenied, audit.KindConnect,
		audit.KindAuthFailure, audit.KindDisconnect, audit.KindRestart, audit.KindReload,
		audit.KindKill, audit.KindCredentialRotation, audit.KindAdmin, audit.KindSegmentStart,
	} {
		if !slices.Contains(kinds, string(k)) {
			t.Errorf("audit kind %q missing from AuditKinds", k)
		}
	}
}
