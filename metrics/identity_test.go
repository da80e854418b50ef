package metrics

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestIdentityResolve(t *testing.T) {
	m, _ := newTest(t)
	tests := []struct{ name, want string }{
		{"app", "app"},
		{"scrape-eu1", "scrape-*"},
		{"scrape-*", "scrape-*"}, // the rolemap pattern itself
		{"scrape-", "scrape-*"},
		{"batch-01", "batch-??"},
		{"batch-001", UnknownIdentity},
		{"App", UnknownIdentity},
		{"", UnknownIdentity},
		{"app\x00", UnknownIdentity},
	}
	for _, tt := range tests {
		if got := m.Identity(tt.name).Label(); got != tt.want {
			t.Errorf("Identity(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestIdentityCardinality feeds many random identities through every
// per-identity path and checks the series count never grows past the
// configured entries plus unknown.
func TestIdentityCardinality(t *testing.T) {
	m, reg := newTest(t)
	before := seriesCount(t, reg, "")
	r := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "scrape-", "batch-", "app", "unknown"}
	for range 1000 {
		b := make([]byte, 1+r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		name := prefixes[r.IntN(len(prefixes))] + string(b)
		c := m.OpenConn()
		c.SetState(StateStartup)
		c.SetIdentity(m.Identity(name))
		c.SetState(StateActive)
		c.Statement(time.Millisecond)
		c.Transaction()
		c.Close()
		m.Pool(name).SetStats(PoolStats{Size: 1})
		m.SetCredentialVersion(name, t0)
		m.FirewallDenial(name)
		m.AuthFailure(name)
		m.TLSHandshakeFailure(name)
		m.AuditRecord(name)
		m.BackendConnectError(name)
	}
	after := seriesCount(t, reg, "")
	if after != before {
		t.Errorf("series count went from %d to %d", before, after)
	}
	// 3 distinct configured identities + unknown.
	for metric, want := range map[string]int{
		"pgshield_statements_total":   4,
		"pgshield_transactions_total": 4,
		"pgshield_client_connections": 4 * int(numStates),
	} {
		if n := seriesCount(t, reg, metric); n != want {
			t.Errorf("%s has %d series, want %d", metric, n, want)
		}
	}
	// Every connection closed, so every connection gauge is back to zero.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "pgshield_client_connections" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if v := mt.GetGauge().GetValue(); v != 0 {
				t.Errorf("client_connections %v = %v after all closed", mt.GetLabel(), v)
			}
		}
	}
}

func TestConnLifecycle(t *testing.T) {
	m, _ := newTest(t)
	gauge := func(id string, s State) float64 { return metricValue(t, m.Identity(id).conns[s]) }

	c := m.OpenConn()
	if got := gauge("nobody", StateHandshake); got != 1 {
		t.Fatalf("after OpenConn unknown/handshake = %v, want 1", got)
	}
	steps := []struct {
		do       func()
		id       string
		state    State
		wantHere float64
	}{
		{func() { c.SetState(StateStartup) }, "nobody", StateStartup, 1},
		{func() { c.SetIdentity(m.Identity("scrape-x")) }, "scrape-*", StateStartup, 1},
		{func() { c.SetState(StateWaiting) }, "scrape-*", StateWaiting, 1},
		{func() { c.SetState(State(200)) }, "scrape-*", StateWaiting, 1}, // invalid: ignored
		{func() { c.SetState(StateActive) }, "scrape-*", StateActive, 1},
		{func() { c.SetIdentity(nil) }, "nobody", StateActive, 1},
		{func() { c.SetIdentity(m.Identity("app")) }, "app", StateActive, 1},
		{func() { c.SetState(StateIdle) }, "app", StateIdle, 1},
	}
	for i, st := range steps {
		st.do()
		var total float64
		for _, id := range []string{"nobody", "app", "scrape-*", "batch-??"} {
			for s := range numStates {
				total += gauge(id, s)
			}
		}
		if got := gauge(st.id, st.state); got != st.wantHere || total != 1 {
			t.Fatalf("step %d: %s/%s = %v (total %v), want %v (total 1)", i, st.id, st.state, got, total, st.wantHere)
		}
	}
	if c.Identity().Label() != "app" {
		t.Errorf("Conn.Identity = %q", c.Identity().Label())
	}
	c.Close()
	c.Close() // idempotent
	c.SetState(StateActive)
	if got := gauge("app", StateIdle) + gauge("app", StateActive); got != 0 {
		t.Errorf("after Close app gauges sum to %v", got)
	}
}
