package metrics

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// goldenNames is every metric pgshield exports. Changing it breaks
// dashboards and alerts: update it only on purpose.
var goldenNames = []string{
	"pgshield_audit_checkpoints_total",
	"pgshield_audit_failures_total",
	"pgshield_audit_records_total",
	"pgshield_audit_sync_duration_seconds",
	"pgshield_audit_unavailable",
	"pgshield_audit_write_duration_seconds",
	"pgshield_auth_failures_total",
	"pgshield_backend_connect_errors_total",
	"pgshield_backend_connects_total",
	"pgshield_build_info",
	"pgshield_certificate_expiry_seconds",
	"pgshield_client_connections",
	"pgshield_credential_rotations_total",
	"pgshield_credential_version_age_seconds",
	"pgshield_firewall_denials_total",
	"pgshield_pool_idle_connections",
	"pgshield_pool_in_use_connections",
	"pgshield_pool_pinned_sessions",
	"pgshield_pool_session_pins_total",
	"pgshield_pool_size",
	"pgshield_pool_wait_duration_seconds",
	"pgshield_pool_waiting_clients",
	"pgshield_start_time_seconds",
	"pgshield_statement_duration_seconds",
	"pgshield_statements_total",
	"pgshield_tls_handshake_failures_total",
	"pgshield_tls_handshakes_total",
	"pgshield_transactions_total",
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testOptions() Options {
	return Options{
		Identities:    []string{"app", "scrape-*", "batch-??", "app"},
		FirewallRules: []string{"set_role", "do_block"},
		Pools:         []string{"shop/app_rw", "shop/app_ro"},
		Logins:        []string{"app_rw"},
		Version:       "1.2.3",
		Now:           func() time.Time { return t0 },
	}
}

func newTest(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, testOptions())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, reg
}

func gatheredNames(t *testing.T, g prometheus.Gatherer) []string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	slices.Sort(names)
	return names
}

func TestMetricNames(t *testing.T) {
	m, reg := newTest(t)
	// Series that exist only once set.
	m.SetCredentialVersion("app_rw", t0.Add(-time.Hour))
	m.SetCertificateExpiry(t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour), t0)

	if got := gatheredNames(t, reg); !slices.Equal(got, goldenNames) {
		t.Errorf("metric names changed\n got: %q\nwant: %q", got, goldenNames)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"identity named unknown", Options{Identities: []string{"unknown"}}, "reserved"},
		{"rule named other", Options{FirewallRules: []string{"other"}}, "reserved"},
		{"empty identity", Options{Identities: []string{""}}, "empty identity"},
		{"empty pool", Options{Pools: []string{""}}, "empty pool"},
		{"bad utf8 login", Options{Logins: []string{"a\xff"}}, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(prometheus.NewRegistry(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// TestNewRollsBack checks that a failed registration leaves nothing of
// ours registered, so a caller can retry or report cleanly.
func TestNewRollsBack(t *testing.T) {
	reg := prometheus.NewRegistry()
	// Collides with the last collector New registers. Same help and
	// labels, because a registry remembers those for a name for ever.
	clash := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "pgshield_start_time_seconds",
		Help: "Unix time the pgshield process built its metrics, in seconds.",
	})
	reg.MustRegister(clash)
	_, err := New(reg, Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "metrics: register: ") {
		t.Fatalf("New error = %v, want a registration error", err)
	}
	if got := gatheredNames(t, reg); !slices.Equal(got, []string{"pgshield_start_time_seconds"}) {
		t.Errorf("after failed New, registry holds %q", got)
	}
	reg.Unregister(clash)
	if _, err := New(reg, Options{}); err != nil {
		t.Errorf("New after rollback: %v", err)
	}
}

func TestReasons(t *testing.T) {
	m, reg := newTest(t)
	tests := []struct {
		record func(string)
		metric string
		label  string
		in     string
		want   string
	}{
		{m.TLSHandshakeFailure, "pgshield_tls_handshake_failures_total", "reason", "revoked", "revoked"},
		{m.TLSHandshakeFailure, "pgshield_tls_handshake_failures_total", "reason", "weird", Other},
		{m.AuthFailure, "pgshield_auth_failures_total", "reason", "throttled", "throttled"},
		{m.AuthFailure, "pgshield_auth_failures_total", "reason", "", Other},
		{m.FirewallDenial, "pgshield_firewall_denials_total", "rule", "do_block", "do_block"},
		{m.FirewallDenial, "pgshield_firewall_denials_total", "rule", "load", Other},
		{m.AuditRecord, "pgshield_audit_records_total", "kind", "statement", "statement"},
		{m.AuditRecord, "pgshield_audit_records_total", "kind", "Statement", Other},
		{m.BackendConnectError, "pgshield_backend_connect_errors_total", "reason", "tls", "tls"},
		{m.BackendConnectError, "pgshield_backend_connect_errors_total", "reason", "password=hunter2", Other},
	}
	for _, tt := range tests {
		t.Run(tt.metric+"/"+tt.in, func(t *testing.T) {
			before := sample(t, reg, tt.metric, tt.label, tt.want)
			tt.record(tt.in)
			if got := sample(t, reg, tt.metric, tt.label, tt.want); got != before+1 {
				t.Errorf("%s{%s=%q} went %v -> %v", tt.metric, tt.label, tt.want, before, got)
			}
		})
	}
}

func TestEventMetrics(t *testing.T) {
	m, reg := newTest(t)
	m.TLSHandshake()
	m.BackendConnect()
	m.AuditFailure()
	m.AuditCheckpoint()
	m.AuditWrite(time.Millisecond)
	m.AuditSync(2 * time.Millisecond)
	m.SetAuditUnavailable(true)
	m.CredentialRotation(nil)
	m.CredentialRotation(errors.New("boom"))
	m.CredentialRotation(errors.New("boom"))

	tests := []struct {
		metric string
		labels []string
		want   float64
	}{
		{"pgshield_tls_handshakes_total", nil, 1},
		{"pgshield_backend_connects_total", nil, 1},
		{"pgshield_audit_failures_total", nil, 1},
		{"pgshield_audit_checkpoints_total", nil, 1},
		{"pgshield_audit_write_duration_seconds", nil, 1},
		{"pgshield_audit_sync_duration_seconds", nil, 1},
		{"pgshield_audit_unavailable", nil, 1},
		{"pgshield_credential_rotations_total", []string{"outcome", "success"}, 1},
		{"pgshield_credential_rotations_total", []string{"outcome", "failure"}, 2},
	}
	for _, tt := range tests {
		if got := sample(t, reg, tt.metric, tt.labels...); got != tt.want {
			t.Errorf("%s%q = %v, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
	m.SetAuditUnavailable(false)
	if v := metricValue(t, m.auditUnavailable); v != 0 {
		t.Errorf("audit_unavailable = %v after recovery", v)
	}
}

func TestCredentialAge(t *testing.T) {
	now := t0
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	age := func() string {
		t.Helper()
		var b strings.Builder
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "pgshield_credential_version_age_seconds" {
				for _, mt := range mf.GetMetric() {
					fmt.Fprintf(&b, "%s=%v;", mt.GetLabel()[0].GetValue(), mt.GetGauge().GetValue())
				}
			}
		}
		return b.String()
	}
	if got := age(); got != "" {
		t.Errorf("before any version: %q", got)
	}
	m.SetCredentialVersion("app_rw", t0.Add(-90*time.Second))
	m.SetCredentialVersion("not_configured", t0)
	if got := age(); got != "app_rw=90;" {
		t.Errorf("age = %q", got)
	}
	now = now.Add(10 * time.Second) // the age grows with no update
	if got := age(); got != "app_rw=100;" {
		t.Errorf("age later = %q", got)
	}
	m.SetCredentialVersion("app_rw", time.Time{})
	if got := age(); got != "" {
		t.Errorf("after clearing: %q", got)
	}
}

func TestCertificateExpiry(t *testing.T) {
	m, reg := newTest(t)
	expiry := func() map[string]float64 {
		got := map[string]float64{}
		for _, c := range []string{"server", "client_ca", "crl_next_update"} {
			if v, ok := lookup(t, reg, "pgshield_certificate_expiry_seconds", "certificate", c); ok {
				got[c] = v
			}
		}
		return got
	}
	m.SetCertificateExpiry(t0.Add(48*time.Hour), t0.Add(-time.Hour), t0.Add(30*time.Minute), t0)
	want := map[string]float64{"server": 172800, "client_ca": -3600, "crl_next_update": 1800}
	if got := expiry(); !maps.Equal(got, want) {
		t.Errorf("expiry = %v, want %v", got, want)
	}
	// No CRL configured any more: its series goes away.
	m.SetCertificateExpiry(t0.Add(48*time.Hour), t0.Add(time.Hour), time.Time{}, t0)
	want = map[string]float64{"server": 172800, "client_ca": 3600}
	if got := expiry(); !maps.Equal(got, want) {
		t.Errorf("expiry after CRL removed = %v, want %v", got, want)
	}
}

func TestPool(t *testing.T) {
	m, reg := newTest(t)
	if m.Pool("shop/other") != nil {
		t.Error("unconfigured pool has a handle")
	}
	p := m.Pool("shop/app_rw")
	p.SetStats(PoolStats{Size: 10, InUse: 3, Idle: 5, Waiting: 2})
	p.Wait(5 * time.Millisecond)
	p.PinStart()
	p.PinStart()
	p.PinEnd()
	tests := []struct {
		metric, pool string
		want         float64
	}{
		{"pgshield_pool_size", "shop/app_rw", 10},
		{"pgshield_pool_in_use_connections", "shop/app_rw", 3},
		{"pgshield_pool_idle_connections", "shop/app_rw", 5},
		{"pgshield_pool_waiting_clients", "shop/app_rw", 2},
		{"pgshield_pool_pinned_sessions", "shop/app_rw", 1},
		{"pgshield_pool_session_pins_total", "shop/app_rw", 2},
		{"pgshield_pool_wait_duration_seconds", "shop/app_rw", 1},
		{"pgshield_pool_in_use_connections", "shop/app_ro", 0},
		{"pgshield_pool_wait_duration_seconds", "shop/app_ro", 0},
	}
	for _, tt := range tests {
		if got := sample(t, reg, tt.metric, "pool", tt.pool); got != tt.want {
			t.Errorf("%s{pool=%q} = %v, want %v", tt.metric, tt.pool, got, tt.want)
		}
	}
	if n := seriesCount(t, reg, "pgshield_pool_size"); n != 2 {
		t.Errorf("pool_size has %d series, want 2", n)
	}
}

// everyMethod calls every recording method once on m.
func everyMethod(m *Metrics) {
	id := m.Identity("app")
	id.Statement(time.Millisecond)
	id.Transaction()
	_ = id.Label()
	c := m.OpenConn()
	c.SetState(StateActive)
	c.SetIdentity(id)
	c.Statement(time.Millisecond)
	c.Transaction()
	c.Close()
	m.TLSHandshake()
	m.TLSHandshakeFailure("revoked")
	m.AuthFailure("no_user")
	m.FirewallDenial("set_role")
	p := m.Pool("shop/app_rw")
	p.SetStats(PoolStats{Size: 1})
	p.Wait(time.Millisecond)
	p.PinStart()
	p.PinEnd()
	m.BackendConnect()
	m.BackendConnectError("dial")
	m.AuditRecord("statement")
	m.AuditWrite(time.Millisecond)
	m.AuditSync(time.Millisecond)
	m.AuditFailure()
	m.AuditCheckpoint()
	m.SetAuditUnavailable(true)
	m.SetCredentialVersion("app_rw", t0)
	m.CredentialRotation(nil)
	m.SetCertificateExpiry(t0, t0, t0, t0)
}

func TestNoop(t *testing.T) {
	for name, m := range map[string]*Metrics{"NewNoop": NewNoop(), "zero": {}, "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, func() { everyMethod(m) }); allocs != 0 {
				t.Errorf("no-op metrics allocate %v per run", allocs)
			}
			if m.Identity("app") != nil || m.Pool("shop/app_rw") != nil || m.OpenConn() != (Conn{}) {
				t.Error("no-op metrics hand out live handles")
			}
		})
	}
}

// TestHotPathAllocs pins the per-statement and per-transaction paths at
// zero allocations on live metrics.
func TestHotPathAllocs(t *testing.T) {
	m, _ := newTest(t)
	id := m.Identity("scrape-1")
	c := m.OpenConn()
	c.SetIdentity(id)
	defer c.Close()
	allocs := testing.AllocsPerRun(1000, func() {
		c.SetState(StateActive)
		c.Statement(3 * time.Millisecond)
		c.Transaction()
		c.SetState(StateIdle)
		m.FirewallDenial("set_role")
		m.AuditRecord("statement")
		m.AuditWrite(time.Microsecond)
	})
	if allocs != 0 {
		t.Errorf("hot path allocates %v per run", allocs)
	}
}

func TestStateString(t *testing.T) {
	want := []string{"handshake", "startup", "active", "idle", "waiting"}
	for s := range numStates {
		if s.String() != want[s] {
			t.Errorf("State(%d) = %q, want %q", s, s, want[s])
		}
	}
	if State(99).String() != "invalid" {
		t.Error("out-of-range State has a label")
	}
}
