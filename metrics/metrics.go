package metrics

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "pgshield"

// Options configures New. Every list is copied; later changes to the
// caller's slices have no effect.
type Options struct {
	// Identities are the configured identity entries, exact names and globs
	// (`scrape-*`) exactly as written in the config. They are the only
	// identity label values besides UnknownIdentity. Empty means every
	// connection is labelled UnknownIdentity.
	Identities []string
	// FirewallRules are the rule ids the firewall can report; any other
	// rule is counted as Other.
	FirewallRules []string
	// Pools are the configured pool names ("database/login"). Pool returns
	// nil (records nothing) for any other name.
	Pools []string
	// Logins are the backend logins whose credential age is exported.
	// Unlisted logins are not recorded.
	Logins []string
	// Version is the pgshield version for pgshield_build_info; empty means
	// "devel".
	Version string
	// Now is the clock for the start time and credential ages; nil means
	// time.Now.
	Now func() time.Time
}

// Metrics is every pgshield collector. Build it with New or NewNoop; the
// zero Metrics and a nil *Metrics record nothing. All methods are safe for
// concurrent use.
type Metrics struct {
	// enabled is false for the no-op variant; every method checks it first.
	// All fields below are set by New and never reassigned.
	enabled bool
	now     func() time.Time

	// identities maps every configured entry's text to its handle; globs
	// lists glob entries in config order. unknown is the catch-all.
	identities map[string]*Identity
	globs      []*Identity
	unknown    *Identity

	tlsHandshakes   prometheus.Counter
	tlsFailures     reasonSet[prometheus.Counter]
	authFailures    reasonSet[prometheus.Counter]
	firewallDenials reasonSet[prometheus.Counter]

	pools           map[string]*Pool
	backendConnects prometheus.Counter
	backendErrors   reasonSet[prometheus.Counter]

	auditRecords     reasonSet[prometheus.Counter]
	auditWrite       prometheus.Histogram
	auditSync        prometheus.Histogram
	auditFailures    prometheus.Counter
	auditCheckpoints prometheus.Counter
	auditUnavailable prometheus.Gauge

	credAge      *ageCollector
	rotationsOK  prometheus.Counter
	rotationsErr prometheus.Counter

	certExpiry *prometheus.GaugeVec
}

// latencyBuckets span 100µs to 10s, for statements and pool waits.
func latencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// ioBuckets span 10µs to 1s, for audit writes and fsyncs.
func ioBuckets() []float64 {
	return []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
}

// NewNoop returns Metrics whose methods do nothing and allocate nothing.
func NewNoop() *Metrics { return &Metrics{} }

// New builds every collector and registers it on reg. On error nothing
// stays registered.
func New(reg prometheus.Registerer, opts Options) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("metrics: nil Registerer")
	}
	if err := validate(opts); err != nil {
		return nil, err
	}
	m := &Metrics{enabled: true, now: opts.Now}
	if m.now == nil {
		m.now = time.Now
	}
	var cs []prometheus.Collector
	add := func(c prometheus.Collector) { cs = append(cs, c) }

	m.buildIdentities(opts.Identities, add)
	m.buildEvents(opts.FirewallRules, add)
	m.buildPools(opts.Pools, add)
	m.buildAudit(add)
	m.buildCredentials(opts.Logins, add)
	m.buildProcess(opts.Version, add)

	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("metrics: register: %w", err)
		}
	}
	return m, nil
}

// validate rejects label values that would collide with a catch-all or
// that Prometheus cannot carry, so New fails at start-up rather than
// panicking on the first connection.
func validate(opts Options) error {
	var errs []error
	check := func(kind string, vals []string, reserved string) {
		for _, v := range vals {
			switch {
			case v == "":
				errs = append(errs, fmt.Errorf("metrics: empty %s name", kind))
			case !utf8.ValidString(v):
				errs = append(errs, fmt.Errorf("metrics: %s name %q is not valid UTF-8", kind, v))
			case reserved != "" && v == reserved:
				errs = append(errs, fmt.Errorf("metrics: %s name %q is reserved for unmatched values", kind, v))
			}
		}
	}
	check("identity", opts.Identities, UnknownIdentity)
	check("firewall rule", opts.FirewallRules, Other)
	check("pool", opts.Pools, "")
	check("login", opts.Logins, "")
	return errors.Join(errs...)
}

func (m *Metrics) on() bool { return m != nil && m.enabled }

func (m *Metrics) buildProcess(version string, add func(prometheus.Collector)) {
	if version == "" {
		version = "devel"
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; the labels carry the pgshield and Go versions.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	info.Set(1)
	start := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace,
		Name:      "start_time_seconds",
		Help:      "Unix time the pgshield process built its metrics, in seconds.",
	})
	start.Set(float64(m.now().UnixNano()) / 1e9)
	add(info)
	add(start)
}

// dedupe returns vals without repeats, keeping the first occurrence, so a
// name listed twice maps to one series instead of failing registration.
func dedupe(vals []string) []string {
	seen := make(map[string]bool, len(vals))
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
