package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func (m *Metrics) buildEvents(rules []string, add func(prometheus.Collector)) {
	m.tlsHandshakes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "tls_handshakes_total",
		Help:      "TLS handshakes started with clients, successful or not.",
	})
	tlsFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "tls_handshake_failures_total",
		Help:      "Client TLS handshakes refused, by reason.",
	}, []string{"reason"})
	authFailures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "auth_failures_total",
		Help:      "Clients refused after the TLS handshake, by reason.",
	}, []string{"reason"})
	denials := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "firewall_denials_total",
		Help:      "Statements the firewall denied, by rule id.",
	}, []string{"rule"})
	add(m.tlsHandshakes)
	add(tlsFailures)
	add(authFailures)
	add(denials)

	m.tlsFailures = newReasonSet(TLSFailureReasons(), counterChild(tlsFailures))
	m.authFailures = newReasonSet(AuthFailureReasons(), counterChild(authFailures))
	m.firewallDenials = newReasonSet(dedupe(rules), counterChild(denials))
}

func counterChild(v *prometheus.CounterVec) func(string) prometheus.Counter {
	return func(l string) prometheus.Counter { return v.WithLabelValues(l) }
}

// TLSHandshake counts a TLS handshake attempt; call it for every attempt,
// and TLSHandshakeFailure as well for the ones that fail.
func (m *Metrics) TLSHandshake() {
	if !m.on() {
		return
	}
	m.tlsHandshakes.Inc()
}

// TLSHandshakeFailure counts a refused handshake. reason is a tlsterm.Reason
// value; anything else is counted as Other.
func (m *Metrics) TLSHandshakeFailure(reason string) {
	if !m.on() {
		return
	}
	m.tlsFailures.get(reason).Inc()
}

// AuthFailure counts a client refused after the handshake. reason is one of
// AuthFailureReasons; anything else is counted as Other.
func (m *Metrics) AuthFailure(reason string) {
	if !m.on() {
		return
	}
	m.authFailures.get(reason).Inc()
}

// FirewallDenial counts a denied statement. rule is a firewall rule id
// given in Options.FirewallRules; anything else is counted as Other.
func (m *Metrics) FirewallDenial(rule string) {
	if !m.on() {
		return
	}
	m.firewallDenials.get(rule).Inc()
}

func (m *Metrics) buildAudit(add func(prometheus.Collector)) {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "audit_records_total",
		Help:      "Audit records written, by kind.",
	}, []string{"kind"})
	m.auditWrite = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "audit_write_duration_seconds",
		Help:      "Time to write one batch of audit records, in seconds.",
		Buckets:   ioBuckets(),
	})
	m.auditSync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "audit_sync_duration_seconds",
		Help:      "Time to fsync the audit segment, in seconds.",
		Buckets:   ioBuckets(),
	})
	m.auditFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "audit_failures_total",
		Help:      "Audit write or sync failures.",
	})
	m.auditCheckpoints = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "audit_checkpoints_total",
		Help:      "Signed audit checkpoints written.",
	})
	m.auditUnavailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "audit_unavailable",
		Help:      "1 while the audit log cannot be written (statements are refused), else 0.",
	})
	add(records)
	add(m.auditWrite)
	add(m.auditSync)
	add(m.auditFailures)
	add(m.auditCheckpoints)
	add(m.auditUnavailable)
	m.auditRecords = newReasonSet(AuditKinds(), counterChild(records))
}

// AuditRecord counts one audit record of kind (an audit.Kind value;
// anything else is counted as Other).
func (m *Metrics) AuditRecord(kind string) {
	if !m.on() {
		return
	}
	m.auditRecords.get(kind).Inc()
}

// AuditWrite records how long an audit write took.
func (m *Metrics) AuditWrite(d time.Duration) {
	if !m.on() {
		return
	}
	m.auditWrite.Observe(d.Seconds())
}

// AuditSync records how long an audit fsync took.
func (m *Metrics) AuditSync(d time.Duration) {
	if !m.on() {
		return
	}
	m.auditSync.Observe(d.Seconds())
}

// AuditFailure counts a failed audit write or sync.
func (m *Metrics) AuditFailure() {
	if !m.on() {
		return
	}
	m.auditFailures.Inc()
}

// AuditCheckpoint counts a signed checkpoint.
func (m *Metrics) AuditCheckpoint() {
	if !m.on() {
		return
	}
	m.auditCheckpoints.Inc()
}

// SetAuditUnavailable sets pgshield_audit_unavailable to 1 or 0.
func (m *Metrics) SetAuditUnavailable(unavailable bool) {
	if !m.on() {
		return
	}
	v := 0.0
	if unavailable {
		v = 1
	}
	m.auditUnavailable.Set(v)
}
