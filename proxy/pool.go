package proxy

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgshield/pgshield/backend"
	"github.com/pgshield/pgshield/metrics"
	"github.com/pgshield/pgshield/pgwire"
)

// Pool modes (config pool.mode).
const (
	PoolModeTransaction = "transaction"
	PoolModeSession     = "session"
)

// PoolSettings are one pool's limits, with PgBouncer's meanings.
type PoolSettings struct {
	// Mode is PoolModeTransaction (default) or PoolModeSession.
	Mode string
	// Size is the most backend connections the pool opens; 20 when zero.
	Size int
	// MinIdle connections are kept open; zero: none.
	MinIdle int
	// QueryWaitTimeout bounds a client's wait for a free connection; 120s
	// when zero.
	QueryWaitTimeout time.Duration
	// ServerLifetime closes a connection this old at release; 1h when zero.
	ServerLifetime time.Duration
	// ServerIdleTimeout closes a connection idle this long; 10m when zero.
	ServerIdleTimeout time.Duration
	// ConnectTimeout bounds one backend login; ConnectRetries more tries
	// follow a failure, ConnectRetryDelay apart.
	ConnectRetries    int
	ConnectRetryDelay time.Duration
	// MaxPrepared bounds the client statements cached per connection; 256
	// when zero.
	MaxPrepared int
}

func (s PoolSettings) withDefaults() PoolSettings {
	if s.Mode == "" {
		s.Mode = PoolModeTransaction
	}
	if s.Size == 0 {
		s.Size = 20
	}
	if s.QueryWaitTimeout == 0 {
		s.QueryWaitTimeout = 120 * time.Second
	}
	if s.ServerLifetime == 0 {
		s.ServerLifetime = time.Hour
	}
	if s.ServerIdleTimeout == 0 {
		s.ServerIdleTimeout = 10 * time.Minute
	}
	if s.ConnectRetryDelay == 0 {
		s.ConnectRetryDelay = 200 * time.Millisecond
	}
	if s.MaxPrepared == 0 {
		s.MaxPrepared = 256
	}
	return s
}

// poolKey names a pool: one per database and backend login.
type poolKey struct {
	database string
	role     string // "" for the authenticator (set_local), else the login role
}

// metricName is "database/login" as configured for metrics.
func (k poolKey) metricName(login string) string {
	if k.role != "" {
		login = k.role
	}
	return k.database + "/" + login
}

func (k poolKey) String() string {
	if k.role == "" {
		return k.database
	}
	return k.database + "/" + k.role
}

// backendConn is a backend connection with what pgshield knows about it.
// Idle, it belongs to its pool; attached, to one session.
type backendConn struct {
	*backend.Conn
	pool *pool
	// fw reads the connection; its buffer lives as long as the connection.
	fw *pgwire.Forwarder
	// params are the server's current reported parameters.
	params map[string]string
	// prepared maps a statement key to its name on this connection, with an
	// LRU order for eviction. enforced: which enforcement statements exist.
	prepared map[string]*list.Element
	lru      *list.List
	nextStmt int
	enforced uint8
	// dirty: session state a client left behind is unknown; reset or close.
	dirty bool
	// retire: the login this connection used was replaced (credential
	// rotation); close it when it comes back instead of reusing it.
	retire atomic.Bool
	// wmu serializes writes (the pump's, and the reader's Sync).
	wmu       sync.Mutex
	createdAt time.Time
	lastUsed  time.Time
	// attachedTo is the session using it (for SHOW SERVERS); guarded by the pool's mu.
	attachedTo string
}

type preparedStmt struct {
	key, name string
}

// pool is the set of backend connections for one poolKey.
type pool struct {
	key poolKey
	// mode is settings.Mode, which a reload never changes: read without mu.
	mode string
	// maxPrepared is settings.MaxPrepared, read on every statement lookup.
	maxPrepared atomic.Int64
	connect     func(ctx context.Context) (*backend.Conn, error)
	now         func() time.Time
	// onClose is called for every connection the pool closes.
	onClose func()
	// metrics is the pool's series (nil-safe).
	metrics *metrics.Pool

	mu sync.Mutex
	// settings, idle, open, waiters, defaults and closed are guarded by mu
	// (a reload replaces settings).
	settings PoolSettings
	idle     []*backendConn
	open     int
	waiters  *list.List // of chan *backendConn
	defaults map[string]string
	closed   bool
	// busy are the attached connections, for SHOW SERVERS.
	busy map[*backendConn]struct{}
	// maxWait is the longest wait for a connection, for SHOW POOLS.
	maxWait time.Duration
	// paused: PAUSE is in force; acquire waits. resumed closes on RESUME.
	paused  bool
	resumed chan struct{}
	// counters are the pool's totals, for SHOW STATS.
	counters poolCounters
}

// setPaused switches PAUSE on or off.
func (p *pool) setPaused(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && !p.paused:
		p.paused, p.resumed = true, make(chan struct{})
	case !on && p.paused:
		p.paused = false
		close(p.resumed)
	}
}

func newPool(key poolKey, settings PoolSettings, connect func(ctx context.Context) (*backend.Conn, error), now func() time.Time) *pool {
	settings = settings.withDefaults()
	p := &pool{key: key, mode: settings.Mode, settings: settings, connect: connect, now: now,
		waiters: list.New(), busy: map[*backendConn]struct{}{}}
	p.maxPrepared.Store(int64(settings.MaxPrepared))
	return p
}

// errPoolTimeout: no connection became free within query_wait_timeout.
var errPoolTimeout = errors.New("query_wait_timeout")

// acquire returns a healthy idle connection, opens a new one while under
// the size, or waits for one to be released.
func (p *pool) acquire(ctx context.Context) (*backendConn, error) {
	start := p.now()
	for {
		p.mu.Lock()
		st := p.settings
		if p.closed {
			p.mu.Unlock()
			return nil, errors.New("pool closed")
		}
		if p.paused {
			resumed := p.resumed
			p.mu.Unlock()
			select {
			case <-resumed:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if n := len(p.idle); n > 0 {
			bc := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.busy[bc] = struct{}{}
			p.mu.Unlock()
			if !bc.healthy(p.now(), st.ServerLifetime) {
				p.discard(bc)
				continue
			}
			p.noteWait(start)
			return bc, nil
		}
		if p.open < st.Size {
			p.open++
			p.mu.Unlock()
			bc, err := p.dial(ctx)
			if err != nil {
				p.mu.Lock()
				p.open--
				p.wakeLocked()
				p.mu.Unlock()
				return nil, err
			}
			p.mu.Lock()
			p.busy[bc] = struct{}{}
			p.mu.Unlock()
			p.noteWait(start)
			return bc, nil
		}
		ch := make(chan *backendConn, 1)
		el := p.waiters.PushBack(ch)
		p.mu.Unlock()
		wait := st.QueryWaitTimeout - p.now().Sub(start)
		timer := time.NewTimer(max(wait, 0))
		select {
		case bc := <-ch:
			timer.Stop()
			if bc == nil {
				continue // a slot opened: try again
			}
			p.mu.Lock()
			p.busy[bc] = struct{}{}
			p.mu.Unlock()
			if !bc.healthy(p.now(), st.ServerLifetime) {
				p.discard(bc)
				continue
			}
			p.noteWait(start)
			return bc, nil
		case <-timer.C:
			p.dropWaiter(el, ch)
			return nil, errPoolTimeout
		case <-ctx.Done():
			timer.Stop()
			p.dropWaiter(el, ch)
			return nil, ctx.Err()
		}
	}
}

// dropWaiter removes a waiter that gave up; a connection handed to it in
// the meantime goes back to the pool.
func (p *pool) dropWaiter(el *list.Element, ch chan *backendConn) {
	p.mu.Lock()
	p.waiters.Remove(el)
	p.mu.Unlock()
	select {
	case bc := <-ch:
		if bc != nil {
			p.release(bc)
		} else {
			p.mu.Lock()
			p.wakeLocked()
			p.mu.Unlock()
		}
	default:
	}
}

func (p *pool) noteWait(start time.Time) {
	d := p.now().Sub(start)
	p.metrics.Wait(d)
	if d > 0 {
		p.mu.Lock()
		p.maxWait = max(p.maxWait, d)
		p.mu.Unlock()
	}
}

func (p *pool) dial(ctx context.Context) (*backendConn, error) {
	p.mu.Lock()
	retries, delay := p.settings.ConnectRetries, p.settings.ConnectRetryDelay
	p.mu.Unlock()
	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		c, err := p.connect(ctx)
		if err == nil {
			now := p.now()
			bc := &backendConn{Conn: c, pool: p, params: c.Params,
				fw:       pgwire.NewForwarder(c, pgwire.DefaultBufferSize, 1<<30, 16<<20),
				prepared: map[string]*list.Element{}, lru: list.New(), createdAt: now, lastUsed: now}
			p.mu.Lock()
			if p.defaults == nil {
				p.defaults = copyParams(c.Params)
			}
			p.mu.Unlock()
			return bc, nil
		}
		lastErr = err
		var le *backend.LoginError
		if errors.As(err, &le) && le.SQLState != "08001" {
			break // the database said no: retrying will not change it
		}
	}
	return nil, lastErr
}

// release hands a connection back: to a waiter, to the idle list, or, when
// it is too old or dirty, closed.
func (p *pool) release(bc *backendConn) {
	now := p.now()
	bc.lastUsed = now
	p.mu.Lock()
	delete(p.busy, bc)
	bc.attachedTo = ""
	if p.closed || bc.dirty || bc.retire.Load() || now.Sub(bc.createdAt) > p.settings.ServerLifetime {
		p.open--
		p.wakeLocked()
		p.mu.Unlock()
		p.closeConn(bc)
		return
	}
	if el := p.waiters.Front(); el != nil {
		// Sent under mu (the channel has room for one, so it never
		// blocks): a waiter that gives up takes mu to leave the queue and
		// then drains its channel, so it finds bc there or is still queued.
		// Sent after Unlock, bc could arrive after the drain and be lost.
		p.waiters.Remove(el)
		p.busy[bc] = struct{}{}
		el.Value.(chan *backendConn) <- bc
		p.mu.Unlock()
		return
	}
	p.idle = append(p.idle, bc)
	p.mu.Unlock()
}

// discard closes a connection that must not be used again.
func (p *pool) discard(bc *backendConn) {
	p.mu.Lock()
	delete(p.busy, bc)
	p.open--
	p.wakeLocked()
	p.mu.Unlock()
	p.closeConn(bc)
}

// closeConn closes a connection the pool gives up.
func (p *pool) closeConn(bc *backendConn) {
	bc.Close()
	if p.onClose != nil {
		p.onClose()
	}
}

// wakeLocked tells one waiter that a slot opened.
func (p *pool) wakeLocked() {
	if el := p.waiters.Front(); el != nil {
		p.waiters.Remove(el)
		el.Value.(chan *backendConn) <- nil
	}
}

// maintain closes idle connections past their idle timeout or lifetime and
// tops the pool up to MinIdle.
func (p *pool) maintain(ctx context.Context) {
	now := p.now()
	p.mu.Lock()
	var stale []*backendConn
	keep := p.idle[:0]
	for _, bc := range p.idle {
		if now.Sub(bc.lastUsed) > p.settings.ServerIdleTimeout || now.Sub(bc.createdAt) > p.settings.ServerLifetime {
			stale = append(stale, bc)
			p.open--
			continue
		}
		keep = append(keep, bc)
	}
	p.idle = keep
	need := min(p.settings.MinIdle-len(p.idle), p.settings.Size-p.open)
	p.open += max(need, 0)
	p.mu.Unlock()
	for _, bc := range stale {
		p.closeConn(bc)
	}
	for range max(need, 0) {
		bc, err := p.dial(ctx)
		if err != nil {
			p.mu.Lock()
			p.open--
			p.wakeLocked() // a client may be waiting for the slot this held
			p.mu.Unlock()
			continue
		}
		p.release(bc)
	}
}

// setSettings adopts new settings (a reload); the mode stays as it was.
func (p *pool) setSettings(s PoolSettings) {
	s = s.withDefaults()
	s.Mode = p.mode
	p.maxPrepared.Store(int64(s.MaxPrepared))
	p.mu.Lock()
	p.settings = s
	// Each slot the new size opens goes to a client already waiting.
	for free := s.Size - p.open; free > 0 && p.waiters.Len() > 0; free-- {
		p.wakeLocked()
	}
	p.mu.Unlock()
}

// retireAll closes the idle connections and marks the busy ones to close
// when released: they logged in with credentials that are being retired.
func (p *pool) retireAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	for bc := range p.busy {
		bc.retire.Store(true)
	}
	p.wakeLocked()
	p.mu.Unlock()
	for _, bc := range idle {
		p.closeConn(bc)
	}
}

// close closes every idle connection; busy ones close at release.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	for el := p.waiters.Front(); el != nil; el = el.Next() {
		el.Value.(chan *backendConn) <- nil
	}
	p.waiters.Init()
	p.mu.Unlock()
	for _, bc := range idle {
		p.closeConn(bc)
	}
}

// PoolStats is a snapshot for SHOW POOLS and metrics.
type PoolStats struct {
	Database, Role, Mode      string
	Size, Open, Idle, Waiting int
	MaxWait                   time.Duration
}

func (p *pool) stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Database: p.key.database, Role: p.key.role, Mode: p.mode, Size: p.settings.Size,
		Open: p.open, Idle: len(p.idle), Waiting: p.waiters.Len(), MaxWait: p.maxWait}
}

// healthy reports whether an idle connection may be handed out: not past
// its lifetime, nothing buffered, and the socket open and quiet.
func (bc *backendConn) healthy(now time.Time, lifetime time.Duration) bool {
	if now.Sub(bc.createdAt) > lifetime || bc.fw.Buffered() > 0 {
		return false
	}
	return bc.Alive()
}

// statement returns the name of key on this connection and whether it
// must be prepared first; it evicts the least recently used statement past
// max, returning its name to close.
func (bc *backendConn) statement(key string, max int) (name string, prepare bool, evict string) {
	if el, ok := bc.prepared[key]; ok {
		bc.lru.MoveToFront(el)
		return el.Value.(*preparedStmt).name, false, ""
	}
	bc.nextStmt++
	ps := &preparedStmt{key: key, name: fmt.Sprintf("%s_s%d", reservedPrefix, bc.nextStmt)}
	bc.prepared[key] = bc.lru.PushFront(ps)
	if bc.lru.Len() > max {
		old := bc.lru.Back()
		bc.lru.Remove(old)
		delete(bc.prepared, old.Value.(*preparedStmt).key)
		evict = old.Value.(*preparedStmt).name
	}
	return ps.name, true, evict
}

// forget drops a statement whose Parse failed.
func (bc *backendConn) forget(key string) {
	if el, ok := bc.prepared[key]; ok {
		bc.lru.Remove(el)
		delete(bc.prepared, key)
	}
}

// forgetStatements is for after DISCARD ALL.
func (bc *backendConn) forgetStatements() {
	bc.prepared = map[string]*list.Element{}
	bc.lru.Init()
	bc.enforced = 0
}

func copyParams(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// connectReason classifies a failed backend login for metrics.
func connectReason(err error) string {
	var le *backend.LoginError
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &le) && le.SQLState != "08001":
		return "auth"
	}
	return "dial"
}
