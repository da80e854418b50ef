package security

import "fmt"

// Report is the outcome of Evaluate.
type Report struct {
	// Level is the graded level; see the package comment for the rules.
	// The zero Level means the report was never evaluated, and is below
	// every minimum.
	Level Level
	// Checks are the individual checks, in a fixed order: client TLS,
	// backend, roles, audit, credentials, key files, listeners, PROXY
	// protocol.
	Checks []Check

	// Minimum, Fallback and Verdict are set by WithPolicy. Their zero
	// values mean no policy has been applied, and Render and Rows leave
	// the policy out.
	Minimum  Level
	Fallback FallbackMode
	Verdict  Verdict
}

// Check is one graded property of the deployment.
type Check struct {
	// Name identifies the check, such as "tls_version"; several key_file
	// checks may share a name, their Detail names the file.
	Name string
	// OK is true when the property meets the maximum level.
	OK bool
	// Detail says what was found, in one line.
	Detail string
	// Recommendation says how to fix a failing check; empty when OK.
	Recommendation string
	// Ceiling is the highest level the report can reach while this check
	// fails; LevelMaximum when OK.
	Ceiling Level
}

// Verdict is the outcome of applying a minimum level and fallback mode.
type Verdict uint8

// The verdicts. The zero Verdict means no policy was applied.
const (
	VerdictNone Verdict = iota
	// VerdictMet: the level is at or above the minimum.
	VerdictMet
	// VerdictWarned: below the minimum; fallback warn lets pgshield run.
	VerdictWarned
	// VerdictAllowed: below the minimum; fallback permissive lets pgshield
	// run.
	VerdictAllowed
	// VerdictRefused: below the minimum with fallback strict, or the
	// policy itself is invalid; pgshield must not run.
	VerdictRefused
)

// WithPolicy returns a copy of r recording the minimum level, the fallback
// mode and the resulting verdict, which Enforce acts on and Render and Rows
// show. An invalid minimum or mode gives VerdictRefused.
func (r Report) WithPolicy(minimum Level, mode FallbackMode) Report {
	r.Minimum, r.Fallback = minimum, mode
	r.Verdict = decide(r.Level, minimum, mode)
	return r
}

// decide is the one place that maps a level and a policy to a verdict, so
// Enforce and WithPolicy never disagree.
func decide(l, minimum Level, mode FallbackMode) Verdict {
	switch {
	case !minimum.Valid() || !mode.Valid():
		return VerdictRefused
	case l >= minimum:
		return VerdictMet
	case mode == FallbackWarn:
		return VerdictWarned
	case mode == FallbackPermissive:
		return VerdictAllowed
	}
	return VerdictRefused
}

// Evaluate grades f. It is a pure function of f; time comes from f.Now.
func Evaluate(f Facts) Report {
	cs := []Check{tlsVersion("tls_version", "clients",
		`set tls.min_version to "1.3" once every client supports it`, f.TLS.MinVersion), clientCerts(f.TLS)}
	if f.TLS.ClientCertsRequired {
		// Without client certificates there is nothing to revoke.
		cs = append(cs, crl(f.TLS, f.Now))
	}
	cs = append(cs, serverCert(f.TLS.ServerCertNotAfter, f.Now))
	cs = append(cs, backend(f.Backend)...)
	cs = append(cs, roleMode(f.Roles), firewall(f.Roles))
	cs = append(cs, audit(f.Audit)...)
	cs = append(cs, credentials(f.Credentials), rotation(f.Credentials))
	for _, k := range f.KeyFiles {
		cs = append(cs, keyFile(k))
	}
	cs = append(cs,
		listener("metrics_listener", "metrics endpoint", f.Listeners.MetricsEnabled, f.Listeners.MetricsLoopback, LevelHigh),
		listener("admin_listener", "admin console", f.Listeners.AdminEnabled, f.Listeners.AdminLoopback, LevelModerate),
		proxyProtocol(f.ProxyProtocol))
	return Report{Level: grade(cs), Checks: cs}
}

// minorLimit is how many failing checks with ceiling high it takes to
// lower the level to moderate.
const minorLimit = 3

// grade applies the ceiling rules documented in the package comment.
func grade(cs []Check) Level {
	l, minor := LevelMaximum, 0
	for _, c := range cs {
		if c.OK {
			continue
		}
		ceiling := c.Ceiling
		if !ceiling.Valid() {
			// A failing check without a ceiling is a bug; fail closed.
			ceiling = LevelReduced
		}
		l = min(l, ceiling)
		if ceiling == LevelHigh {
			minor++
		}
	}
	if minor >= minorLimit {
		l = min(l, LevelModerate)
	}
	return l
}

// String returns the verdict's name, such as "warned".
func (v Verdict) String() string {
	switch v {
	case VerdictNone:
		return "none"
	case VerdictMet:
		return "met"
	case VerdictWarned:
		return "warned"
	case VerdictAllowed:
		return "allowed"
	case VerdictRefused:
		return "refused"
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}
