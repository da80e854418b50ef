package proxy

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// txState is what the two halves of a session share about the backend's
// transaction: how many transaction boundaries (Query, Sync) are still
// unanswered, the status of the last ReadyForQuery, which responses to
// pgshield's own injected messages the backend reader must swallow, and the
// denial markers whose errors it must replace.
type txState struct {
	mu   sync.Mutex
	cond *sync.Cond
	// The fields below up to drop are guarded by mu. sent-answered
	// boundaries are unanswered.
	sent     uint64
	answered uint64
	status   byte
	closed   bool
	// windows are drop windows waiting for their turn; active describes the
	// one being consumed.
	windows []dropWindow
	active  dropWindow
	denials []denial
	// drop is what remains of the active window. Atomic because the reader
	// checks it for every DataRow without taking the lock.
	drop atomic.Int32
}

// onInjectError says what an error inside a drop window means.
type onInjectError uint8

const (
	// injectRecover: the transaction's injection failed; the client's
	// statement is refused with an error and the session goes on. When the
	// next client message is a simple Query, which the backend now skips,
	// a Sync must produce its ReadyForQuery.
	injectRecover onInjectError = iota
	injectRecoverSimple
	// injectFatal: a session-level role change failed; the session ends.
	injectFatal
)

// dropWindow: once `after` boundaries are answered, swallow the next n
// watched messages (the responses to pgshield's own messages).
type dropWindow struct {
	after   uint64
	n       int32
	onError onInjectError
}

// denial is a statement pgshield refused: the backend received a marker
// that fails with a syntax error naming token, and the reader replaces that
// error with msg.
type denial struct {
	token []byte
	msg   []byte
	// cycle is the number of the boundary that ends the marker's cycle;
	// once it is answered, an unmatched marker was skipped by an earlier error.
	cycle uint64
}

func newTxState() *txState {
	t := &txState{status: 'I'}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// sentBoundary records a Query or Sync on its way to the backend and
// returns how many boundaries have been sent, it included.
func (t *txState) sentBoundary() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sent++
	return t.sent
}

// boundaries returns how many boundaries have been sent.
func (t *txState) boundaries() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sent
}

// readyForQuery records a ReadyForQuery from the backend.
func (t *txState) readyForQuery(status byte) {
	t.mu.Lock()
	if t.answered < t.sent {
		t.answered++
	}
	t.status = status
	for len(t.denials) > 0 && t.denials[0].cycle <= t.answered {
		t.denials = t.denials[1:] // skipped by an earlier error in its cycle
	}
	t.activateLocked()
	t.mu.Unlock()
	t.cond.Broadcast()
}

// idleStatus waits until every boundary is answered and returns the
// backend's transaction status, or false when the session is closing.
func (t *txState) idleStatus() (byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.answered < t.sent && !t.closed {
		t.cond.Wait()
	}
	return t.status, !t.closed
}

// close wakes every waiter for good.
func (t *txState) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cond.Broadcast()
}

// arm registers a drop window before its messages are written.
func (t *txState) arm(w dropWindow) {
	t.mu.Lock()
	t.windows = append(t.windows, w)
	t.activateLocked()
	t.mu.Unlock()
}

// activateLocked starts the next window once its turn has come.
func (t *txState) activateLocked() {
	if t.drop.Load() == 0 && len(t.windows) > 0 && t.windows[0].after <= t.answered {
		t.active = t.windows[0]
		t.windows = t.windows[1:]
		t.drop.Store(t.active.n)
	}
}

// consume reports whether the reader must swallow the current message.
func (t *txState) consume() bool {
	if t.drop.Load() == 0 {
		return false
	}
	if t.drop.Add(-1) == 0 {
		t.mu.Lock()
		t.activateLocked()
		t.mu.Unlock()
	}
	return true
}

// dropping reports whether a window is being consumed.
func (t *txState) dropping() bool { return t.drop.Load() > 0 }

// injectionFailed ends the active window after the backend refused
// pgshield's own statement and says what that means.
func (t *txState) injectionFailed() onInjectError {
	t.mu.Lock()
	defer t.mu.Unlock()
	onErr := t.active.onError
	if onErr == injectFatal {
		// Only the ReadyForQuery of the failed Query is left to swallow.
		t.drop.Store(1)
	} else {
		t.drop.Store(0)
		t.activateLocked()
	}
	return onErr
}

// addDenial registers a marker before it is written to the backend; the
// marker belongs to the cycle the next boundary ends.
func (t *txState) addDenial(d denial) {
	t.mu.Lock()
	d.cycle = t.sent + 1
	t.denials = append(t.denials, d)
	t.mu.Unlock()
}

// matchDenial returns the replacement for an ErrorResponse caused by a
// denial marker, or nil for a genuine backend error.
func (t *txState) matchDenial(body []byte) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, d := range t.denials {
		if bytes.Contains(body, d.token) {
			t.denials = append(t.denials[:i], t.denials[i+1:]...)
			return d.msg
		}
	}
	return nil
}
