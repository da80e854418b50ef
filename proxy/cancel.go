package proxy

import (
	"crypto/subtle"
	"encoding/binary"
	"io"
	"sync"
)

// cancelKey is what pgshield hands a client in BackendKeyData. It names no
// backend: a client never learns a backend's pid or secret.
type cancelKey struct {
	pid    uint32
	secret [4]byte
}

// cancelRegistry maps proxy-issued keys to live sessions.
type cancelRegistry struct {
	rand io.Reader
	// instance is carried in bits 27-30 of every issued pid, so a cancel
	// that reaches another instance can be forwarded here.
	instance uint32
	mu       sync.Mutex
	// byPID is guarded by mu.
	byPID map[uint32]*session
}

func newCancelRegistry(rand io.Reader) *cancelRegistry {
	return &cancelRegistry{rand: rand, byPID: map[uint32]*session{}}
}

// register issues a fresh key for s and sets s.key.
func (r *cancelRegistry) register(s *session) (cancelKey, error) {
	var buf [8]byte
	for {
		if _, err := io.ReadFull(r.rand, buf[:]); err != nil {
			return cancelKey{}, err
		}
		k := cancelKey{pid: binary.BigEndian.Uint32(buf[:4])&0x07ffffff | r.instance<<27}
		copy(k.secret[:], buf[4:])
		if k.pid&0x07ffffff == 0 {
			continue
		}
		r.mu.Lock()
		if _, taken := r.byPID[k.pid]; !taken {
			s.key = k // before lookup can find s
			r.byPID[k.pid] = s
			r.mu.Unlock()
			return k, nil
		}
		r.mu.Unlock()
	}
}

// unregister withdraws s's key. Only s's own entry goes: calling it again,
// after the pid was issued to another session, leaves that one alone.
func (r *cancelRegistry) unregister(s *session) {
	r.mu.Lock()
	if r.byPID[s.key.pid] == s {
		delete(r.byPID, s.key.pid)
	}
	r.mu.Unlock()
}

// lookup returns the session whose key matches, comparing the secret in
// constant time; nil when nothing matches.
func (r *cancelRegistry) lookup(pid uint32, secret []byte) *session {
	r.mu.Lock()
	s := r.byPID[pid]
	r.mu.Unlock()
	if s == nil || len(secret) != 4 {
		return nil
	}
	if subtle.ConstantTimeCompare(s.key.secret[:], secret) != 1 {
		return nil
	}
	return s
}

// instanceOf returns the instance number a proxy-issued pid names.
func instanceOf(pid uint32) int { return int(pid >> 27 & 0xf) }
