package edge

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Limiter defaults and the value meaning "no limit".
const (
	DefaultMaxHandshakes  = 256
	DefaultMaxPerIdentity = 100
	Unlimited             = -1
)

// LimiterOptions configures NewLimiter.
type LimiterOptions struct {
	// MaxHandshakes caps connections between accept and the end of
	// authentication. DefaultMaxHandshakes when zero, Unlimited for none.
	MaxHandshakes int
	// DefaultPerIdentity caps concurrent connections of an identity not in
	// PerIdentity. DefaultMaxPerIdentity when zero, Unlimited for none.
	DefaultPerIdentity int
	// PerIdentity caps named identities (exact match): a positive limit or
	// Unlimited. Zero is an error rather than "refuse everything" or "use
	// the default", because an unset YAML value would silently become it;
	// remove the entry to use the default.
	PerIdentity map[string]int
}

// LimiterStats are counters for metrics.
type LimiterStats struct {
	HandshakesInFlight     int64  // handshake slots held now
	HandshakesRefusedTotal uint64 // TryAcquireHandshake calls that failed
	IdentityRefusedTotal   uint64 // Acquire calls that failed
	Identities             int    // identities holding at least one slot
}

// Limiter enforces protective concurrency limits. It never queues: a
// caller over a limit is refused at once, so a flood costs a refusal, not
// a parked goroutine. It is safe for concurrent use.
type Limiter struct {
	maxHandshakes int64          // immutable; Unlimited or > 0
	defaultMax    int            // immutable; Unlimited or > 0
	perIdentity   map[string]int // immutable copy

	handshakes       atomic.Int64  // slots held
	handshakeRefused atomic.Uint64 // refusals
	identityRefused  atomic.Uint64 // refusals

	mu     sync.Mutex     // guards active
	active map[string]int // identity -> connections held; no zero entries
}

// NewLimiter validates opts and returns a Limiter.
func NewLimiter(opts LimiterOptions) (*Limiter, error) {
	var errs []error
	limit := func(name string, v, def int) int {
		switch {
		case v == 0 && def != 0:
			return def
		case v > 0 || v == Unlimited:
			return v
		}
		errs = append(errs, fmt.Errorf("%s is %d: use a positive limit or Unlimited (-1)", name, v))
		return v
	}
	l := &Limiter{
		maxHandshakes: int64(limit("MaxHandshakes", opts.MaxHandshakes, DefaultMaxHandshakes)),
		defaultMax:    limit("DefaultPerIdentity", opts.DefaultPerIdentity, DefaultMaxPerIdentity),
		perIdentity:   make(map[string]int, len(opts.PerIdentity)),
		active:        make(map[string]int),
	}
	for id, v := range opts.PerIdentity {
		l.perIdentity[id] = limit(fmt.Sprintf("PerIdentity[%q]", id), v, 0)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("edge: invalid limiter options: %w", errors.Join(errs...))
	}
	return l, nil
}

// TryAcquireHandshake takes a handshake slot if one is free. A caller that
// gets true must call ReleaseHandshake exactly once when authentication
// ends, whatever its outcome.
func (l *Limiter) TryAcquireHandshake() bool {
	if l.maxHandshakes == Unlimited {
		l.handshakes.Add(1)
		return true
	}
	for {
		n := l.handshakes.Load()
		if n >= l.maxHandshakes {
			l.handshakeRefused.Add(1)
			return false
		}
		if l.handshakes.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// ReleaseHandshake returns a slot taken by TryAcquireHandshake. Releasing
// more than was acquired is a bug in the caller and panics, since it would
// silently raise the limit.
func (l *Limiter) ReleaseHandshake() {
	if l.handshakes.Add(-1) < 0 {
		panic("edge: ReleaseHandshake without a matching TryAcquireHandshake")
	}
}

// Acquire takes one of identity's connection slots. If ok, release must be
// called when the connection ends; calling it again is harmless.
func (l *Limiter) Acquire(identity string) (release func(), ok bool) {
	capN, named := l.perIdentity[identity]
	if !named {
		capN = l.defaultMax
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if capN != Unlimited && l.active[identity] >= capN {
		l.identityRefused.Add(1)
		return nil, false
	}
	l.active[identity]++
	var once sync.Once
	return func() { once.Do(func() { l.release(identity) }) }, true
}

func (l *Limiter) release(identity string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Delete at zero so identities that come and go do not grow the map.
	if l.active[identity]--; l.active[identity] <= 0 {
		delete(l.active, identity)
	}
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	ids := len(l.active)
	l.mu.Unlock()
	return LimiterStats{
		HandshakesInFlight:     l.handshakes.Load(),
		HandshakesRefusedTotal: l.handshakeRefused.Load(),
		IdentityRefusedTotal:   l.identityRefused.Load(),
		Identities:             ids,
	}
}
