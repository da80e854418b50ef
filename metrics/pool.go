package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Pool is the pre-resolved metrics of one backend pool. Get it once with
// Metrics.Pool. A nil *Pool records nothing.
type Pool struct {
	// Children resolved in New and never reassigned.
	size, inUse, idle, waiting prometheus.Gauge
	pinned                     prometheus.Gauge
	pins                       prometheus.Counter
	wait                       prometheus.Observer
}

// PoolStats is a snapshot of a pool's occupancy.
type PoolStats struct {
	// Size is the most backend connections the pool may hold.
	Size int
	// InUse is backend connections lent to clients.
	InUse int
	// Idle is open backend connections not lent out.
	Idle int
	// Waiting is clients waiting for a backend connection.
	Waiting int
}

// Pool returns the handle for a pool named in Options.Pools, or nil (which
// records nothing) for any other name: pool gauges are set, not added, so
// folding unknown pools into one series would report nonsense.
func (m *Metrics) Pool(name string) *Pool {
	if !m.on() {
		return nil
	}
	return m.pools[name]
}

// SetStats sets the pool's gauges.
func (p *Pool) SetStats(s PoolStats) {
	if p == nil {
		return
	}
	p.size.Set(float64(s.Size))
	p.inUse.Set(float64(s.InUse))
	p.idle.Set(float64(s.Idle))
	p.waiting.Set(float64(s.Waiting))
}

// Wait records how long a client waited for a backend connection.
func (p *Pool) Wait(d time.Duration) {
	if p == nil {
		return
	}
	p.wait.Observe(d.Seconds())
}

// PinStart counts a session pinned to one backend connection (for example
// by a session-level prepared statement or advisory lock).
func (p *Pool) PinStart() {
	if p == nil {
		return
	}
	p.pins.Inc()
	p.pinned.Inc()
}

// PinEnd releases a pin counted by PinStart.
func (p *Pool) PinEnd() {
	if p == nil {
		return
	}
	p.pinned.Dec()
}

// BackendConnect counts a backend connection attempt, successful or not;
// call BackendConnectError as well for failures.
func (m *Metrics) BackendConnect() {
	if !m.on() {
		return
	}
	m.backendConnects.Inc()
}

// BackendConnectError counts a failed backend connection. reason is one of
// BackendConnectReasons; anything else is counted as Other.
func (m *Metrics) BackendConnectError(reason string) {
	if !m.on() {
		return
	}
	m.backendErrors.get(reason).Inc()
}

func (m *Metrics) buildPools(names []string, add func(prometheus.Collector)) {
	gauge := func(name, help string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, []string{"pool"})
		add(v)
		return v
	}
	size := gauge("pool_size", "Most backend connections the pool may hold.")
	inUse := gauge("pool_in_use_connections", "Backend connections lent to clients.")
	idle := gauge("pool_idle_connections", "Open backend connections not lent out.")
	waiting := gauge("pool_waiting_clients", "Clients waiting for a backend connection.")
	// Named so the OpenMetrics family of the counter ("…_pins") does not
	// collide with the gauge.
	pinned := gauge("pool_pinned_sessions", "Client sessions currently pinned to one backend connection.")
	pins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "pool_session_pins_total",
		Help:      "Client sessions pinned to one backend connection.",
	}, []string{"pool"})
	wait := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "pool_wait_duration_seconds",
		Help:      "Time clients waited for a backend connection, in seconds.",
		Buckets:   latencyBuckets(),
	}, []string{"pool"})
	m.backendConnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "backend_connects_total",
		Help:      "Backend connection attempts, successful or not.",
	})
	backendErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "backend_connect_errors_total",
		Help:      "Failed backend connection attempts, by reason.",
	}, []string{"reason"})
	add(pins)
	add(wait)
	add(m.backendConnects)
	add(backendErrors)
	m.backendErrors = newReasonSet(BackendConnectReasons(), counterChild(backendErrors))

	names = dedupe(names)
	m.pools = make(map[string]*Pool, len(names))
	for _, n := range names {
		m.pools[n] = &Pool{
			size:    size.WithLabelValues(n),
			inUse:   inUse.WithLabelValues(n),
			idle:    idle.WithLabelValues(n),
			waiting: waiting.WithLabelValues(n),
			pinned:  pinned.WithLabelValues(n),
			pins:    pins.WithLabelValues(n),
			wait:    wait.WithLabelValues(n),
		}
	}
}
