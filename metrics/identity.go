package metrics

import (
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Identity is the pre-resolved metrics of one identity class: a configured
// entry, or UnknownIdentity. Resolve it once per connection with
// Metrics.Identity. A nil *Identity records nothing.
type Identity struct {
	// label is the identity label value; the fields below are its
	// children, resolved in New and never reassigned.
	label        string
	conns        [numStates]prometheus.Gauge
	statements   prometheus.Counter
	transactions prometheus.Counter
	// latency is shared by all identities: a histogram per identity would
	// multiply the series by the bucket count for little operational gain.
	latency prometheus.Observer
}

// Label returns the identity label value, or "" for a nil *Identity.
func (id *Identity) Label() string {
	if id == nil {
		return ""
	}
	return id.label
}

// Statement counts one statement run for the identity and records how long
// it took. It does not allocate.
func (id *Identity) Statement(d time.Duration) {
	if id == nil {
		return
	}
	id.statements.Inc()
	id.latency.Observe(d.Seconds())
}

// Transaction counts one finished transaction (explicit or implicit).
func (id *Identity) Transaction() {
	if id == nil {
		return
	}
	id.transactions.Inc()
}

// Identity returns the handle for a certificate identity. name may be the
// identity itself or the rolemap pattern it matched; both resolve to the
// configured entry: an exact entry first, then the first glob that matches
// (the role map rejects overlapping entries, so there is at most one). A
// name that matches nothing resolves to the UnknownIdentity handle, never a
// new series. Call it once per connection: a glob lookup is path.Match per
// configured glob.
func (m *Metrics) Identity(name string) *Identity {
	if !m.on() {
		return nil
	}
	if name == "" {
		return m.unknown
	}
	if id, ok := m.identities[name]; ok {
		return id
	}
	for _, id := range m.globs {
		if ok, _ := path.Match(id.label, name); ok {
			return id
		}
	}
	return m.unknown
}

func (m *Metrics) buildIdentities(names []string, add func(prometheus.Collector)) {
	conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "client_connections",
		Help:      "Client connections by state and configured identity entry (unknown until identified or when none matched).",
	}, []string{"state", "identity"})
	statements := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "statements_total",
		Help:      "Statements forwarded to the backend, by configured identity entry.",
	}, []string{"identity"})
	transactions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "transactions_total",
		Help:      "Transactions finished, by configured identity entry.",
	}, []string{"identity"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "statement_duration_seconds",
		Help:      "Time from forwarding a statement to the backend's completion, in seconds.",
		Buckets:   latencyBuckets(),
	})
	add(conns)
	add(statements)
	add(transactions)
	add(latency)

	handle := func(label string) *Identity {
		id := &Identity{
			label:        label,
			statements:   statements.WithLabelValues(label),
			transactions: transactions.WithLabelValues(label),
			latency:      latency,
		}
		for s := range numStates {
			id.conns[s] = conns.WithLabelValues(s.String(), label)
		}
		return id
	}
	m.unknown = handle(UnknownIdentity)
	names = dedupe(names)
	m.identities = make(map[string]*Identity, len(names))
	for _, n := range names {
		id := handle(n)
		m.identities[n] = id
		if isGlob(n) {
			m.globs = append(m.globs, id)
		}
	}
}

// isGlob matches rolemap's notion of a glob entry.
func isGlob(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// Conn tracks one client connection in pgshield_client_connections. Get it
// from Metrics.OpenConn, keep it in the connection's state and call Close
// exactly when the connection ends (extra calls do nothing). A Conn is owned
// by one goroutine and is not safe for concurrent use. The zero Conn records
// nothing.
type Conn struct {
	// id is the identity class the connection is counted under; nil for
	// an inert Conn.
	id *Identity
	// unknown is where SetIdentity(nil) moves the connection.
	unknown *Identity
	// state is the state the connection is counted in.
	state State
}

// OpenConn counts a new connection in StateHandshake under UnknownIdentity.
func (m *Metrics) OpenConn() Conn {
	if !m.on() {
		return Conn{}
	}
	m.unknown.conns[StateHandshake].Inc()
	return Conn{id: m.unknown, unknown: m.unknown, state: StateHandshake}
}

// SetState moves the connection to state s. Invalid states are ignored.
func (c *Conn) SetState(s State) {
	if c.id == nil || s == c.state || s >= numStates {
		return
	}
	c.id.conns[c.state].Dec()
	c.id.conns[s].Inc()
	c.state = s
}

// SetIdentity moves the connection to identity class id, keeping its state.
// A nil id moves it to UnknownIdentity.
func (c *Conn) SetIdentity(id *Identity) {
	if c.id == nil {
		return
	}
	if id == nil {
		id = c.unknown
	}
	if id == c.id {
		return
	}
	c.id.conns[c.state].Dec()
	id.conns[c.state].Inc()
	c.id = id
}

// Identity returns the identity class the connection is counted under, or
// nil for an inert or closed Conn.
func (c *Conn) Identity() *Identity { return c.id }

// Statement is c.Identity().Statement(d).
func (c *Conn) Statement(d time.Duration) { c.id.Statement(d) }

// Transaction is c.Identity().Transaction().
func (c *Conn) Transaction() { c.id.Transaction() }

// Close removes the connection from the gauge and makes c inert.
func (c *Conn) Close() {
	if c.id == nil {
		return
	}
	c.id.conns[c.state].Dec()
	*c = Conn{}
}
