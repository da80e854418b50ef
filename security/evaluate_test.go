package security

import (
	"crypto/tls"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHardenedIsMaximum(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Facts)
	}{
		{"unix backend, login roles", func(*Facts) {}},
		{"verify-full backend", func(f *Facts) {
			f.Backend = BackendFacts{Transport: TransportVerifyFull, TLSMinVersion: tls.VersionTLS13}
		}},
		{"set_local with firewall", func(f *Facts) { f.Roles.Mode = "set_local" }},
		{"optional listeners off", func(f *Facts) { f.Listeners = ListenerFacts{} }},
		{"proxy protocol off", func(f *Facts) { f.ProxyProtocol = ProxyProtocolFacts{} }},
		{"proxy protocol trusting no one", func(f *Facts) { f.ProxyProtocol.Trusted = nil }},
		{"narrow IPv6 proxy trust", func(f *Facts) {
			f.ProxyProtocol.Trusted = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::ffff:10.0.0.0/104")}
		}},
		{"CRL without nextUpdate", func(f *Facts) { f.TLS.CRLNextUpdate = time.Time{} }},
		{"audit batch", func(f *Facts) { f.Audit.Mode = "batch" }},
		{"audit default mode", func(f *Facts) { f.Audit.Mode = "" }},
		{"store method default", func(f *Facts) { f.Credentials.Method = "" }},
		{"store method hkdf", func(f *Facts) { f.Credentials.Method = "hkdf" }},
		{"rotation default interval", func(f *Facts) { f.Credentials.RotationInterval = 0 }},
		{"rotation every 30 days", func(f *Facts) { f.Credentials.RotationInterval = 30 * 24 * time.Hour }},
		{"no key files", func(f *Facts) { f.KeyFiles = nil }},
		{"server cert valid 31 days", func(f *Facts) { f.TLS.ServerCertNotAfter = testNow().Add(31 * 24 * time.Hour) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hardened()
			tc.mutate(&f)
			r := Evaluate(f)
			if r.Level != LevelMaximum || len(failing(r)) != 0 {
				t.Fatalf("level %s, failing %v; want maximum, none", r.Level, failing(r))
			}
			for _, c := range r.Checks {
				if c.Ceiling != LevelMaximum || c.Recommendation != "" || c.Detail == "" {
					t.Errorf("passing check %+v: want ceiling maximum, a detail, no recommendation", c)
				}
			}
		})
	}
}

// TestSingleWeakening pins the documented ceiling of each failure.
func TestSingleWeakening(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name   string
		mutate func(*Facts)
		want   Level
		fails  []string
	}{
		{"TLS 1.2", func(f *Facts) { f.TLS.MinVersion = tls.VersionTLS12 }, LevelHigh, []string{"tls_version"}},
		{"TLS default", func(f *Facts) { f.TLS.MinVersion = 0 }, LevelHigh, []string{"tls_version"}},
		{"TLS 1.1", func(f *Facts) { f.TLS.MinVersion = tls.VersionTLS11 }, LevelReduced, []string{"tls_version"}},
		{"client certs optional", func(f *Facts) { f.TLS.ClientCertsRequired = false }, LevelModerate, []string{"client_certs"}},
		{"no CRL", func(f *Facts) { f.TLS.CRLLoaded = false }, LevelHigh, []string{"crl"}},
		{"CRL past nextUpdate", func(f *Facts) { f.TLS.CRLNextUpdate = testNow().Add(-time.Hour) }, LevelHigh, []string{"crl"}},
		{"CRL at nextUpdate", func(f *Facts) { f.TLS.CRLNextUpdate = testNow() }, LevelHigh, []string{"crl"}},
		{"server cert expiring", func(f *Facts) { f.TLS.ServerCertNotAfter = testNow().Add(10 * 24 * time.Hour) }, LevelHigh, []string{"server_cert"}},
		{"server cert expired", func(f *Facts) { f.TLS.ServerCertNotAfter = testNow().Add(-time.Minute) }, LevelModerate, []string{"server_cert"}},
		{"server cert unknown", func(f *Facts) { f.TLS.ServerCertNotAfter = time.Time{} }, LevelHigh, []string{"server_cert"}},
		{"no clock", func(f *Facts) { f.Now = time.Time{} }, LevelHigh, []string{"crl", "server_cert"}},
		{"backend TLS 1.2", func(f *Facts) {
			f.Backend = BackendFacts{Transport: TransportVerifyFull, TLSMinVersion: tls.VersionTLS12}
		}, LevelHigh, []string{"backend_tls_version"}},
		{"backend TLS default", func(f *Facts) { f.Backend = BackendFacts{Transport: TransportVerifyFull} }, LevelHigh, []string{"backend_tls_version"}},
		{"backend insecure", func(f *Facts) { f.Backend.Transport = TransportInsecure }, LevelReduced, []string{"backend_transport"}},
		{"backend unknown", func(f *Facts) { f.Backend.Transport = "" }, LevelReduced, []string{"backend_transport"}},
		{"set_local without firewall", func(f *Facts) { f.Roles = RoleFacts{Mode: "set_local"} }, LevelModerate, []string{"role_mode", "firewall"}},
		{"login without firewall", func(f *Facts) { f.Roles.FirewallOn = false }, LevelHigh, []string{"firewall"}},
		{"role mode unknown", func(f *Facts) { f.Roles.Mode = "" }, LevelReduced, []string{"role_mode"}},
		{"audit off", func(f *Facts) { f.Audit.Enabled = false }, LevelModerate, []string{"audit"}},
		{"audit async", func(f *Facts) { f.Audit.Mode = "async" }, LevelHigh, []string{"audit"}},
		{"audit unknown mode", func(f *Facts) { f.Audit.Mode = "eventually" }, LevelModerate, []string{"audit"}},
		{"audit fails open", func(f *Facts) { f.Audit.FailOpen = true }, LevelModerate, []string{"audit_fail_closed"}},
		{"audit unsigned", func(f *Facts) { f.Audit.CheckpointsSigned = false }, LevelHigh, []string{"audit_checkpoints"}},
		{"credentials file", func(f *Facts) { f.Credentials.Source = "file" }, LevelHigh, []string{"credentials"}},
		{"credentials env", func(f *Facts) { f.Credentials.Source = "env" }, LevelModerate, []string{"credentials"}},
		{"credentials unknown", func(f *Facts) { f.Credentials.Source = "" }, LevelModerate, []string{"credentials"}},
		{"store method unknown", func(f *Facts) { f.Credentials.Method = "rot13" }, LevelModerate, []string{"credentials"}},
		{"rotation off", func(f *Facts) { f.Credentials.RotationOn = false }, LevelHigh, []string{"credential_rotation"}},
		{"rotation every 90 days", func(f *Facts) { f.Credentials.RotationInterval = 90 * 24 * time.Hour }, LevelHigh, []string{"credential_rotation"}},
		{"key 0640", func(f *Facts) { f.KeyFiles[0].Mode = 0o640 }, LevelModerate, []string{"key_file"}},
		{"key 0660", func(f *Facts) { f.KeyFiles[0].Mode = 0o660 }, LevelModerate, []string{"key_file"}},
		{"key 0644", func(f *Facts) { f.KeyFiles[1].Mode = 0o644 }, LevelReduced, []string{"key_file"}},
		{"key 0602", func(f *Facts) { f.KeyFiles[1].Mode = 0o602 }, LevelReduced, []string{"key_file"}},
		{"metrics off loopback", func(f *Facts) { f.Listeners.MetricsLoopback = false }, LevelHigh, []string{"metrics_listener"}},
		{"admin off loopback", func(f *Facts) { f.Listeners.AdminLoopback = false }, LevelModerate, []string{"admin_listener"}},
		{"proxy trusts 0.0.0.0/0", func(f *Facts) { f.ProxyProtocol.Trusted = append(f.ProxyProtocol.Trusted, p("0.0.0.0/0")) }, LevelReduced, []string{"proxy_protocol"}},
		{"proxy trusts 0.0.0.0/1", func(f *Facts) { f.ProxyProtocol.Trusted = []netip.Prefix{p("0.0.0.0/1"), p("128.0.0.0/1")} }, LevelReduced, []string{"proxy_protocol"}},
		{"proxy trusts ::/0", func(f *Facts) { f.ProxyProtocol.Trusted = []netip.Prefix{p("::/0")} }, LevelReduced, []string{"proxy_protocol"}},
		{"proxy trusts mapped IPv4", func(f *Facts) { f.ProxyProtocol.Trusted = []netip.Prefix{p("::ffff:0:0/96")} }, LevelReduced, []string{"proxy_protocol"}},
		{"proxy trusts ::/80", func(f *Facts) { f.ProxyProtocol.Trusted = []netip.Prefix{p("::/80")} }, LevelReduced, []string{"proxy_protocol"}},
		{"proxy trusts invalid prefix", func(f *Facts) { f.ProxyProtocol.Trusted = []netip.Prefix{{}} }, LevelReduced, []string{"proxy_protocol"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := hardened()
			tc.mutate(&f)
			r := Evaluate(f)
			if r.Level != tc.want {
				t.Errorf("level %s, want %s", r.Level, tc.want)
			}
			if got := failing(r); !slices.Equal(got, tc.fails) {
				t.Errorf("failing %v, want %v", got, tc.fails)
			}
			for _, c := range r.Checks {
				if !c.OK && (c.Recommendation == "" || c.Detail == "" || !c.Ceiling.Valid()) {
					t.Errorf("failing check %+v: want detail, recommendation and ceiling", c)
				}
			}
		})
	}
}

func TestClientCertsOptionalDropsCRLCheck(t *testing.T) {
	f := hardened()
	f.TLS.ClientCertsRequired, f.TLS.CRLLoaded = false, false
	for _, c := range Evaluate(f).Checks {
		if c.Name == "crl" {
			t.Fatalf("crl check present without client certificates: %+v", c)
		}
	}
}

func TestKeyFileDetail(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		ok   bool
		want string
	}{
		{0o600, true, "mode 0600, owner only"},
		{0o640, false, "mode 0640, open to its group"},
		{0o644, false, "mode 0644, open to other users"},
	} {
		c := keyFile(KeyFile{Path: "/k", Mode: tc.mode, Purpose: "p"})
		if c.OK != tc.ok || !strings.Contains(c.Detail, tc.want) || !strings.HasPrefix(c.Detail, "/k (p)") {
			t.Errorf("mode %04o: %+v; want ok=%t and %q", tc.mode, c, tc.ok, tc.want)
		}
	}
}

// TestMinorFailuresAccumulate pins the point rule: three failures that
// each cap at high together cap at moderate.
func TestMinorFailuresAccumulate(t *testing.T) {
	minors := []func(*Facts){
		func(f *Facts) { f.TLS.MinVersion = tls.VersionTLS12 },
		func(f *Facts) { f.Audit.CheckpointsSigned = false },
		func(f *Facts) { f.Listeners.MetricsLoopback = false },
		func(f *Facts) { f.Credentials.RotationOn = false },
	}
	for n, want := range []Level{LevelMaximum, LevelHigh, LevelHigh, LevelModerate, LevelModerate} {
		f := hardened()
		for _, m := range minors[:n] {
			m(&f)
		}
		if got := Evaluate(f).Level; got != want {
			t.Errorf("%d minor failures: level %s, want %s", n, got, want)
		}
	}
}

// TestCeilingsCombine checks that the worst ceiling wins whatever else
// passes or fails.
func TestCeilingsCombine(t *testing.T) {
	f := hardened()
	f.Audit.FailOpen = true
	f.TLS.MinVersion = tls.VersionTLS12
	if got := Evaluate(f).Level; got != LevelModerate {
		t.Errorf("fail-open audit with TLS 1.2: %s, want moderate", got)
	}
	f.Backend.Transport = TransportInsecure
	if got := Evaluate(f).Level; got != LevelReduced {
		t.Errorf("plus insecure backend: %s, want reduced", got)
	}
}

func TestRotationPeriod(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{24 * time.Hour, "day"},
		{0, "7 days"},
		{90 * 24 * time.Hour, "90 days"},
		{36 * time.Hour, "36h0m0s"},
	} {
		c := rotation(CredentialFacts{RotationOn: true, RotationInterval: tc.d})
		if !strings.HasPrefix(c.Detail, "every "+tc.want) {
			t.Errorf("interval %s: detail %q, want every %s", tc.d, c.Detail, tc.want)
		}
	}
}

func TestGradeFailsClosedOnMissingCeiling(t *testing.T) {
	if got := grade([]Check{{Name: "x"}}); got != LevelReduced {
		t.Errorf("failing check without ceiling: %s, want reduced", got)
	}
}
