package edge

import (
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Throttle defaults, used when the matching ThrottleOptions field is zero.
const (
	DefaultMaxFailures = 10
	DefaultWindow      = time.Minute
	DefaultBlock       = 5 * time.Minute
	DefaultMaxTracked  = 100_000
	DefaultIPv4Prefix  = 32
	DefaultIPv6Prefix  = 64
)

// ThrottleOptions configures NewThrottle. Zero values take the defaults
// above; negative or out-of-range values are errors.
type ThrottleOptions struct {
	// MaxFailures failed authentications from one source within Window
	// block it.
	MaxFailures int
	// Window is the sliding window failures are counted over.
	Window time.Duration
	// Block is how long a source stays blocked. It is not extended by
	// further failures.
	Block time.Duration
	// MaxTracked bounds the sources remembered. Beyond it the source
	// least recently seen is forgotten, preferring sources that are not
	// blocked, so a flood of new addresses evicts idle counters before it
	// can evict an active block.
	MaxTracked int
	// IPv4Prefix and IPv6Prefix group addresses into one source: by
	// default each IPv4 address is its own source and an IPv6 host is its
	// /64, since one host can rotate freely within its /64.
	IPv4Prefix, IPv6Prefix int
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// ThrottleStats are counters for metrics.
type ThrottleStats struct {
	Tracked      int    // sources currently remembered (blocked or counting)
	BlockedNow   int    // sources remembered as blocked, some possibly just expired
	BlocksTotal  uint64 // times a source became blocked
	RefusedTotal uint64 // Blocked calls that answered true
	EvictedTotal uint64 // sources forgotten because of MaxTracked
}

// Throttle counts failed authentications per source and blocks sources
// that fail too often. It is safe for concurrent use; each call is a map
// lookup under one mutex.
//
// There is deliberately no Success method: a successful login does not
// reset a source's failures. Many clients share a NAT address, and a reset
// on success would let an attacker who owns any valid account interleave
// its own logins to keep brute-forcing another account forever. Failures
// only age out of the window.
//
// The window is a sliding-window approximation: each source keeps the
// count of the current and the previous Window-long bucket, and the
// estimate is cur + prev*(unexpired fraction of the previous bucket). It
// needs two counters per source, unlike an exact sliding log, and unlike a
// fixed window it does not allow almost 2×MaxFailures around a bucket
// boundary.
type Throttle struct {
	opts ThrottleOptions // validated, defaults filled; immutable

	mu sync.Mutex // guards everything below
	// entries indexes both lists by source prefix.
	entries map[netip.Prefix]*list.Element
	// counting holds unblocked sources, least recently failed first;
	// blocked holds blocked sources, earliest block first. Elements hold
	// *throttleEntry.
	counting, blocked list.List
	stats             ThrottleStats // Tracked and BlockedNow derived on read
}

type throttleEntry struct {
	key          netip.Prefix
	bucketStart  time.Time // start of the current bucket
	cur, prev    int       // failures in the current and previous bucket
	blockedUntil time.Time // zero when not blocked
}

// NewThrottle validates opts and returns a Throttle.
func NewThrottle(opts ThrottleOptions) (*Throttle, error) {
	var errs []error
	defInt := func(name string, v *int, def, maxV int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0 || *v > maxV:
			errs = append(errs, fmt.Errorf("%s %d out of range 1..%d", name, *v, maxV))
		}
	}
	defDur := func(name string, v *time.Duration, def time.Duration) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			errs = append(errs, fmt.Errorf("%s is negative", name))
		}
	}
	defInt("MaxFailures", &opts.MaxFailures, DefaultMaxFailures, 1<<30)
	defInt("MaxTracked", &opts.MaxTracked, DefaultMaxTracked, 1<<30)
	defInt("IPv4Prefix", &opts.IPv4Prefix, DefaultIPv4Prefix, 32)
	defInt("IPv6Prefix", &opts.IPv6Prefix, DefaultIPv6Prefix, 128)
	defDur("Window", &opts.Window, DefaultWindow)
	defDur("Block", &opts.Block, DefaultBlock)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("edge: invalid throttle options: %w", errors.Join(errs...))
	}
	return &Throttle{opts: opts, entries: make(map[netip.Prefix]*list.Element)}, nil
}

// key groups addr into its source prefix; ok is false for an invalid addr.
func (t *Throttle) key(addr netip.Addr) (netip.Prefix, bool) {
	if !addr.IsValid() {
		return netip.Prefix{}, false
	}
	addr = canonicalAddr(addr)
	bits := t.opts.IPv6Prefix
	if addr.Is4() {
		bits = t.opts.IPv4Prefix
	}
	p, err := addr.Prefix(bits)
	return p, err == nil
}

// Failure records a failed authentication from addr. Invalid addresses
// are ignored. Failures from a source already blocked do not extend the
// block.
func (t *Throttle) Failure(addr netip.Addr) {
	k, ok := t.key(addr)
	if !ok {
		return
	}
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(now)
	el, ok := t.entries[k]
	if !ok {
		t.evictForNew()
		el = t.counting.PushBack(&throttleEntry{key: k, bucketStart: now})
		t.entries[k] = el
	}
	e := el.Value.(*throttleEntry)
	if !e.blockedUntil.IsZero() {
		if now.Before(e.blockedUntil) {
			return
		}
		// The block ended but expire has not reached it (the clock went
		// backwards at some point): count afresh.
		t.blocked.Remove(el)
		*e = throttleEntry{key: k, bucketStart: now}
		el = t.counting.PushBack(e)
		t.entries[k] = el
	}
	t.roll(e, now)
	e.cur++
	t.counting.MoveToBack(el)
	if t.estimate(e, now) < float64(t.opts.MaxFailures) {
		return
	}
	// Block: move to the blocked list. The counters restart so the source
	// starts clean when the block ends.
	t.counting.Remove(el)
	e.cur, e.prev, e.blockedUntil = 0, 0, now.Add(t.opts.Block)
	t.entries[k] = t.blocked.PushBack(e)
	t.stats.BlocksTotal++
}

// Blocked reports whether addr's source is blocked and for how much longer.
func (t *Throttle) Blocked(addr netip.Addr) (bool, time.Duration) {
	k, ok := t.key(addr)
	if !ok {
		return false, 0
	}
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[k]
	if !ok {
		return false, 0
	}
	e := el.Value.(*throttleEntry)
	if e.blockedUntil.IsZero() || !now.Before(e.blockedUntil) {
		return false, 0
	}
	t.stats.RefusedTotal++
	return true, e.blockedUntil.Sub(now)
}

// Stats returns a snapshot of the counters.
func (t *Throttle) Stats() ThrottleStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Tracked = len(t.entries)
	s.BlockedNow = t.blocked.Len()
	return s
}

// roll advances e's buckets to now.
func (t *Throttle) roll(e *throttleEntry, now time.Time) {
	elapsed := now.Sub(e.bucketStart)
	switch {
	case elapsed < t.opts.Window:
	case elapsed < 2*t.opts.Window:
		e.prev, e.cur = e.cur, 0
		e.bucketStart = e.bucketStart.Add(t.opts.Window)
	default:
		e.prev, e.cur = 0, 0
		e.bucketStart = now
	}
}

// estimate is the sliding-window failure count of e, already rolled to now.
func (t *Throttle) estimate(e *throttleEntry, now time.Time) float64 {
	left := t.opts.Window - now.Sub(e.bucketStart)
	return float64(e.cur) + float64(e.prev)*float64(left)/float64(t.opts.Window)
}

// expire forgets, from the front of each list, entries that no longer
// matter: ended blocks and counters that have fully aged out. The lists are
// only roughly ordered by expiry, so this is opportunistic; MaxTracked is
// the hard bound.
func (t *Throttle) expire(now time.Time) {
	for el := t.blocked.Front(); el != nil; el = t.blocked.Front() {
		e := el.Value.(*throttleEntry)
		if now.Before(e.blockedUntil) {
			break
		}
		t.blocked.Remove(el)
		delete(t.entries, e.key)
	}
	for el := t.counting.Front(); el != nil; el = t.counting.Front() {
		e := el.Value.(*throttleEntry)
		if now.Sub(e.bucketStart) < 2*t.opts.Window {
			break
		}
		t.counting.Remove(el)
		delete(t.entries, e.key)
	}
}

// evictForNew makes room for one more entry.
func (t *Throttle) evictForNew() {
	if len(t.entries) < t.opts.MaxTracked {
		return
	}
	victims := &t.counting
	if victims.Len() == 0 {
		victims = &t.blocked
	}
	el := victims.Front()
	victims.Remove(el)
	delete(t.entries, el.Value.(*throttleEntry).key)
	t.stats.EvictedTotal++
}
