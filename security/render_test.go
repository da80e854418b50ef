package security

import (
	"bytes"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// weakened is a realistic half-hardened deployment for the golden files.
func weakened() Facts {
	f := hardened()
	f.TLS.CRLNextUpdate = testNow().Add(-26 * time.Hour)
	f.Backend = BackendFacts{Transport: TransportVerifyFull, TLSMinVersion: 0}
	f.Roles = RoleFacts{Mode: "set_local", FirewallOn: true}
	f.Audit.Mode = "async"
	f.Credentials = CredentialFacts{Source: "env"}
	f.KeyFiles[0].Mode = 0o644
	f.Listeners.MetricsLoopback = false
	f.ProxyProtocol.Trusted = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	return f
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		r    Report
	}{
		{"hardened.golden", Evaluate(hardened()).WithPolicy(LevelHigh, FallbackStrict)},
		{"weakened.golden", Evaluate(weakened()).WithPolicy(LevelModerate, FallbackWarn)},
		{"no_policy.golden", Evaluate(weakened())},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.r); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("Render differs from %s (run go test -update after checking):\n%s", golden, buf.String())
			}
		})
	}
}

func TestRenderMarks(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, Evaluate(weakened())); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"Security level: REDUCED", "⚠ crl", "✓ tls_version", "⚠ key_file", "Recommendations:"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	// The worst recommendation comes first.
	if i, j := strings.Index(out, "[reduced]"), strings.Index(out, "[high]"); i < 0 || j < 0 || i > j {
		t.Errorf("recommendations not ordered worst first:\n%s", out)
	}
}

func TestRenderWriteError(t *testing.T) {
	boom := errors.New("boom")
	err := Render(errWriter{boom}, Evaluate(hardened()))
	if !errors.Is(err, boom) {
		t.Fatalf("Render = %v, want wrapped %v", err, boom)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestRows(t *testing.T) {
	r := Evaluate(weakened()).WithPolicy(LevelHigh, FallbackWarn)
	rows := r.Rows()
	if len(rows) != len(r.Checks)+1 {
		t.Fatalf("%d rows for %d checks", len(rows), len(r.Checks))
	}
	for i, row := range rows {
		if len(row) != len(Columns()) {
			t.Fatalf("row %d has %d columns, want %d", i, len(row), len(Columns()))
		}
	}
	if !slices.Equal(Columns(), []string{"check", "status", "detail", "recommendation"}) {
		t.Errorf("Columns = %v", Columns())
	}
	if got := rows[0]; got[0] != "level" || got[1] != "reduced" || !strings.Contains(got[2], "BELOW THE MINIMUM") {
		t.Errorf("level row = %q", got)
	}
	for i, c := range r.Checks {
		row := rows[i+1]
		wantStatus := "ok"
		if !c.OK {
			wantStatus = "warn (caps at " + c.Ceiling.String() + ")"
		}
		if row[0] != c.Name || row[1] != wantStatus || row[2] != c.Detail || row[3] != c.Recommendation {
			t.Errorf("row %d = %q for %+v", i+1, row, c)
		}
	}
}

func TestPolicyLine(t *testing.T) {
	r := Report{Level: LevelModerate}
	for _, tc := range []struct {
		minimum Level
		mode    FallbackMode
		verdict Verdict
		want    string
	}{
		{LevelReduced, FallbackStrict, VerdictMet, "Policy: minimum reduced, fallback strict: met"},
		{LevelHigh, FallbackWarn, VerdictWarned, "⚠ Policy: minimum high, fallback warn: BELOW THE MINIMUM, running anyway"},
		{LevelHigh, FallbackPermissive, VerdictAllowed, "Policy: minimum high, fallback permissive: below the minimum, allowed"},
		{LevelHigh, FallbackStrict, VerdictRefused, "⚠ Policy: minimum high, fallback strict: BELOW THE MINIMUM, refusing to run"},
		{0, FallbackStrict, VerdictRefused, `⚠ Policy: minimum Level(0), fallback "strict": INVALID, refusing to run`},
	} {
		p := r.WithPolicy(tc.minimum, tc.mode)
		if p.Verdict != tc.verdict || policyLine(p) != tc.want {
			t.Errorf("%s/%s: verdict %s, line %q; want %s, %q", tc.minimum, tc.mode, p.Verdict, policyLine(p), tc.verdict, tc.want)
		}
	}
	if policyLine(r) != "" {
		t.Error("policy line without a policy")
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range []string{"none", "met", "warned", "allowed", "refused", "Verdict(5)"} {
		if got := Verdict(v).String(); got != want {
			t.Errorf("Verdict(%d) = %q, want %q", v, got, want)
		}
	}
}
