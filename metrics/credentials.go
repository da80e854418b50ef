package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ageCollector exports pgshield_credential_version_age_seconds computed at
// scrape time, so the age keeps growing between rotations without anyone
// updating a gauge.
type ageCollector struct {
	desc *prometheus.Desc
	now  func() time.Time
	// logins and created are parallel and fixed in New; created[i] holds
	// the UnixNano creation time of logins[i]'s current credential version,
	// or 0 when none is known (then no sample is exported).
	logins  []string
	created []atomic.Int64
}

func (a *ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

func (a *ageCollector) Collect(ch chan<- prometheus.Metric) {
	now := a.now()
	for i, login := range a.logins {
		ns := a.created[i].Load()
		if ns == 0 {
			continue
		}
		age := now.Sub(time.Unix(0, ns)).Seconds()
		ch <- prometheus.MustNewConstMetric(a.desc, prometheus.GaugeValue, age, login)
	}
}

func (m *Metrics) buildCredentials(logins []string, add func(prometheus.Collector)) {
	logins = dedupe(logins)
	m.credAge = &ageCollector{
		desc: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "credential_version_age_seconds"),
			"Seconds since the current backend credential version of a login was created.",
			[]string{"login"}, nil),
		now:     m.now,
		logins:  logins,
		created: make([]atomic.Int64, len(logins)),
	}
	rotations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "credential_rotations_total",
		Help:      "Backend credential rotations, by outcome (success or failure).",
	}, []string{"outcome"})
	m.rotationsOK = rotations.WithLabelValues("success")
	m.rotationsErr = rotations.WithLabelValues("failure")
	m.certExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "certificate_expiry_seconds",
		Help:      "Seconds until the server certificate or client CA expires, or the CRL's next update is due; negative once past.",
	}, []string{"certificate"})
	add(m.credAge)
	add(rotations)
	add(m.certExpiry)
}

// SetCredentialVersion records when login's current credential version was
// created; the exported age is computed at each scrape. A zero created
// removes the login's sample. Logins not in Options.Logins are ignored.
func (m *Metrics) SetCredentialVersion(login string, created time.Time) {
	if !m.on() {
		return
	}
	for i, l := range m.credAge.logins {
		if l == login {
			var ns int64
			if !created.IsZero() {
				ns = created.UnixNano()
			}
			m.credAge.created[i].Store(ns)
			return
		}
	}
}

// CredentialRotation counts one rotation attempt: success when err is nil,
// failure otherwise. err is only inspected for nil; its text never reaches
// a label.
func (m *Metrics) CredentialRotation(err error) {
	if !m.on() {
		return
	}
	if err != nil {
		m.rotationsErr.Inc()
		return
	}
	m.rotationsOK.Inc()
}

// SetCertificateExpiry sets the time left, relative to now, until the
// server certificate's NotAfter, the client CA bundle's earliest NotAfter
// and the CRL's NextUpdate. A zero time (nothing configured) removes that
// series rather than reporting a misleading value. Call it at start-up and
// after every reload.
func (m *Metrics) SetCertificateExpiry(server, clientCA, crlNextUpdate, now time.Time) {
	if !m.on() {
		return
	}
	for _, c := range []struct {
		label string
		t     time.Time
	}{{"server", server}, {"client_ca", clientCA}, {"crl_next_update", crlNextUpdate}} {
		if c.t.IsZero() {
			m.certExpiry.DeleteLabelValues(c.label)
			continue
		}
		m.certExpiry.WithLabelValues(c.label).Set(c.t.Sub(now).Seconds())
	}
}
