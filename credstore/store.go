package credstore

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// maxStoreSize bounds how much of a store file Open reads.
const maxStoreSize = 16 << 20

// Store is the encrypted credential store. It is safe for concurrent use by
// one process; Open's flock keeps other processes out.
type Store interface {
	// Snapshot returns a copy of the current state.
	Snapshot() State
	// Active returns login's active credential.
	Active(login string) (Credential, bool)
	// Update runs fn on a copy of the state and, if fn succeeds and the
	// result is valid, bumps State.Version and UpdatedAt and writes the
	// store atomically before making the result current. If fn, validation
	// or the write fails, nothing changes. Updates are serialised.
	Update(ctx context.Context, fn func(*State) error) error
	// Close releases the lock and wipes key material. It is idempotent;
	// afterwards Update fails, Snapshot and Active still work.
	Close() error
}

// Options configures Open.
type Options struct {
	// Path is the store file, e.g. <config_dir>/secrets/db.enc. Required.
	// Its directory is created with mode 0700 if missing.
	Path string
	// Method is how Update encrypts. The zero value means MethodHybrid.
	Method Method
	// Key is the node's identity key. Required. Open copies what it needs.
	Key ed25519.PrivateKey
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Rand supplies salts, nonces and ephemeral keys; nil means
	// crypto/rand.
	Rand io.Reader
}

// String describes the options without the key.
func (o Options) String() string {
	key := "<nil>"
	if o.Key != nil {
		key = "[REDACTED]"
	}
	return fmt.Sprintf("credstore.Options{Path:%q Method:%q Key:%s}", o.Path, o.Method, key)
}

// GoString is String, so %#v redacts too.
func (o Options) GoString() string { return o.String() }

// Format makes every fmt verb print String.
func (o Options) Format(f fmt.State, _ rune) { io.WriteString(f, o.String()) }

type fileStore struct {
	// path, method, now and rnd are set by Open and never change.
	path   string
	method Method
	now    func() time.Time
	rnd    io.Reader

	// writeMu serialises Update and Close; it guards keys, lock and the
	// file on disk.
	writeMu sync.Mutex
	keys    *keySet
	lock    *os.File // nil after Close

	// mu guards state; Update holds writeMu too when it swaps state in.
	mu    sync.RWMutex
	state State
}

// Open opens the store at opts.Path, creating an empty one if the file does
// not exist, and holds its lock until Close. It removes temp files a crashed
// writer left behind.
func Open(opts Options) (Store, error) {
	if opts.Path == "" {
		return nil, errors.New("credstore: Options.Path is required")
	}
	if opts.Method == "" {
		opts.Method = MethodHybrid
	}
	if !opts.Method.valid() {
		return nil, fmt.Errorf("credstore: unknown method %q; want x25519, hkdf or hybrid", opts.Method)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	keys, err := newKeySet(opts.Key)
	if err != nil {
		return nil, fmt.Errorf("credstore: %w", err)
	}
	s := &fileStore{path: opts.Path, method: opts.Method, now: opts.Now, rnd: opts.Rand, keys: keys}
	if err := s.open(); err != nil {
		keys.wipe()
		if s.lock != nil {
			s.lock.Close()
		}
		return nil, err
	}
	return s, nil
}

func (s *fileStore) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("credential store %s: %w", s.path, err)
	}
	lock, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("credential store %s: %w", s.path, err)
	}
	s.lock = lock
	if err := removeStaleTemps(s.path); err != nil {
		return fmt.Errorf("credential store %s: removing stale temp files: %w", s.path, err)
	}
	data, err := readStoreFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Write the empty store now, so a wrong path or unwritable
		// directory shows at start-up, not at the first rotation.
		return s.write(State{})
	}
	if err != nil {
		return err
	}
	plain, _, err := s.keys.open(s.path, data)
	if err != nil {
		return err
	}
	defer clear(plain)
	st, err := unmarshalState(plain)
	if err != nil {
		return &storeError{path: s.path, kind: ErrCorrupted, detail: "is corrupted (its decrypted content is not valid JSON)"}
	}
	if err := st.validate(); err != nil {
		return &storeError{path: s.path, kind: ErrCorrupted, detail: "holds invalid data: " + err.Error()}
	}
	s.state = st
	return nil
}

func readStoreFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("credential store: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStoreSize+1))
	if err != nil {
		return nil, fmt.Errorf("credential store %s: %w", path, err)
	}
	if len(data) > maxStoreSize {
		return nil, fmt.Errorf("credential store %s is larger than %d bytes", path, maxStoreSize)
	}
	return data, nil
}

// write encrypts st and replaces the file. The caller holds writeMu (or is
// Open, before the store is shared).
func (s *fileStore) write(st State) error {
	plain, err := marshalState(st)
	if err != nil {
		return fmt.Errorf("credential store %s: encoding: %w", s.path, err)
	}
	defer clear(plain)
	data, err := s.keys.seal(s.method, plain, s.rnd)
	if err != nil {
		return fmt.Errorf("credential store %s: encrypting: %w", s.path, err)
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("credential store %s: writing: %w", s.path, err)
	}
	return nil
}

func (s *fileStore) Snapshot() State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.clone()
}

func (s *fileStore) Active(login string) (Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.state.Active(login)
}

func (s *fileStore) Update(ctx context.Context, fn func(*State) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("credential store %s is closed", s.path)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Only Update changes state, and we hold writeMu: no lock needed to
	// read it here.
	next := s.state.clone()
	if err := fn(&next); err != nil {
		return err
	}
	if err := next.validate(); err != nil {
		return fmt.Errorf("credential store %s: update rejected: %w", s.path, err)
	}
	// A caller that gave up while fn ran should not get a write it no
	// longer expects.
	if err := ctx.Err(); err != nil {
		return err
	}
	next.Version = s.state.Version + 1
	next.UpdatedAt = s.now().UTC()
	if err := s.write(next); err != nil {
		return err
	}
	s.mu.Lock()
	s.state = next
	s.mu.Unlock()
	return nil
}

func (s *fileStore) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.lock == nil {
		return nil
	}
	s.keys.wipe()
	err := s.lock.Close()
	s.lock = nil
	return err
}

// String describes the store by path only.
func (s *fileStore) String() string { return fmt.Sprintf("credstore.Store{Path:%q}", s.path) }

// GoString is String, so %#v shows no key material.
func (s *fileStore) GoString() string { return s.String() }

// Format makes every fmt verb print String.
func (s *fileStore) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// ReadState decrypts the store at path without taking its lock, for a
// reader such as `pgshield creds status` while pgshield runs: writes are
// atomic renames, so the file read is always one whole version.
func ReadState(path string, key ed25519.PrivateKey) (State, error) {
	keys, err := newKeySet(key)
	if err != nil {
		return State{}, fmt.Errorf("credstore: %w", err)
	}
	defer keys.wipe()
	data, err := readStoreFile(path)
	if err != nil {
		return State{}, err
	}
	plain, _, err := keys.open(path, data)
	if err != nil {
		return State{}, err
	}
	defer clear(plain)
	st, err := unmarshalState(plain)
	if err != nil {
		return State{}, &storeError{path: path, kind: ErrCorrupted, detail: "is corrupted (its decrypted content is not valid JSON)"}
	}
	return st, nil
}
