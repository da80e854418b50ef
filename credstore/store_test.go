package credstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

var methods = []Method{MethodX25519, MethodHKDF, MethodHybrid}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openStore(t *testing.T, path string, m Method, key ed25519.PrivateKey) Store {
	t.Helper()
	s, err := Open(Options{Path: path, Method: m, Key: key, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// addActive is an Update function that stores an active credential.
func addActive(login string, version int, password string) func(*State) error {
	return func(st *State) error {
		c := NewCredential(login, version, password, t0)
		c.State, c.ActivatedAt = StateActive, t0
		st.Put(c)
		return nil
	}
}

func TestRoundTripEachMethod(t *testing.T) {
	ctx := context.Background()
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "secrets", "db.enc")
			key := newKey(t)
			s := openStore(t, path, m, key)
			if st := s.Snapshot(); st.Version != 0 || len(st.Credentials) != 0 {
				t.Fatalf("new store state %v", st)
			}
			assertMode(t, path, 0o600)
			assertMode(t, filepath.Dir(path), 0o700|os.ModeDir)
			if err := s.Update(ctx, addActive("app_a", 1, "pw-a-1")); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(ctx, func(st *State) error {
				st.Rotation = &Rotation{Step: "altered", Login: "app_b", TargetVersion: 2, StartedAt: t0, Notes: map[string]string{"k": "v"}}
				st.Put(NewCredential("app_b", 2, "pw-b-2", t0))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			assertMode(t, path, 0o600)
			raw, _ := os.ReadFile(path)
			if !bytes.HasPrefix(raw, []byte(magic+"\x01"+string(rune(len(m)))+string(m))) {
				t.Fatalf("file does not start with the %s header: %q", m, raw[:20])
			}
			if bytes.Contains(raw, []byte("pw-a-1")) || bytes.Contains(raw, []byte("app_a")) {
				t.Fatal("store file holds plaintext")
			}
			s.Close()

			// Reopen under another method: the file says how to read it.
			s2 := openStore(t, path, MethodHybrid, key)
			st := s2.Snapshot()
			if st.Version != 2 || !st.UpdatedAt.Equal(t0) {
				t.Fatalf("reloaded version %d updated %v", st.Version, st.UpdatedAt)
			}
			c, ok := s2.Active("app_a")
			if !ok || c.Password() != "pw-a-1" || c.Version != 1 || !c.ActivatedAt.Equal(t0) {
				t.Fatalf("Active(app_a) = %v, %v", c, ok)
			}
			if _, ok := s2.Active("app_b"); ok {
				t.Fatal("a pending credential was returned as active")
			}
			if r := st.Rotation; r == nil || r.Step != "altered" || r.TargetVersion != 2 || r.Notes["k"] != "v" {
				t.Fatalf("rotation = %+v", r)
			}
		})
	}
}

func TestEveryWriteUsesFreshRandomness(t *testing.T) {
	for _, m := range methods {
		path := filepath.Join(t.TempDir(), "db.enc")
		s := openStore(t, path, m, newKey(t))
		noop := func(*State) error { return nil }
		s.Update(context.Background(), noop)
		a, _ := os.ReadFile(path)
		s.Update(context.Background(), noop)
		b, _ := os.ReadFile(path)
		// Same content except the version counter; the ciphertexts must
		// share no long run, which a reused key stream would produce.
		if len(a) != len(b) || bytes.Equal(a[len(a)-32:], b[len(b)-32:]) {
			t.Fatalf("%s: two writes look alike", m)
		}
	}
}

// TestTamperedStore flips every byte of a store file in turn: Open must
// fail every time, as corrupted unless the flip hit the key id.
func TestTamperedStore(t *testing.T) {
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.enc")
			key := newKey(t)
			s := openStore(t, path, m, key)
			if err := s.Update(context.Background(), addActive("app", 1, "hunter2-hunter2")); err != nil {
				t.Fatal(err)
			}
			s.Close()
			good, _ := os.ReadFile(path)
			keyIDAt := len(magic) + 1 + 1 + len(m)
			for i := range good {
				bad := append([]byte(nil), good...)
				bad[i] ^= 0x01
				os.WriteFile(path, bad, 0o600)
				_, err := Open(Options{Path: path, Method: m, Key: key})
				switch {
				case err == nil:
					t.Fatalf("byte %d flipped: Open succeeded", i)
				case i >= keyIDAt && i < keyIDAt+8:
					if !errors.Is(err, ErrWrongKey) {
						t.Fatalf("byte %d (key id) flipped: err = %v, want ErrWrongKey", i, err)
					}
				case !errors.Is(err, ErrCorrupted):
					t.Fatalf("byte %d flipped: err = %v, want ErrCorrupted", i, err)
				case i > keyIDAt+8 && !strings.HasPrefix(err.Error(), "credential store "+path+" is corrupted or was tampered with"):
					t.Fatalf("byte %d flipped: message %q", i, err)
				}
			}
			for _, n := range []int{0, 5, len(good) / 2, len(good) - 1} {
				os.WriteFile(path, good[:n], 0o600)
				if _, err := Open(Options{Path: path, Method: m, Key: key}); !errors.Is(err, ErrCorrupted) {
					t.Fatalf("truncated to %d bytes: err = %v", n, err)
				}
			}
		})
	}
}

func TestDifferentIdentityKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.enc")
	s := openStore(t, path, "", newKey(t))
	s.Update(context.Background(), addActive("app", 1, "pw-pw-pw-pw"))
	s.Close()
	other := newKey(t)
	_, err := Open(Options{Path: path, Key: other})
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	want := "credential store " + path + " was encrypted for a different identity key"
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), KeyID(other.Public().(ed25519.PublicKey))) {
		t.Fatalf("message %q", err)
	}
}

func TestOpenOptionsErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no path", Options{Key: newKey(t)}, "Path is required"},
		{"no key", Options{Path: filepath.Join(dir, "a")}, "not an Ed25519 private key"},
		{"bad method", Options{Path: filepath.Join(dir, "b"), Key: newKey(t), Method: "rot13"}, `unknown method "rot13"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLockStopsSecondWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.enc")
	key := newKey(t)
	s := openStore(t, path, "", key)
	if _, err := Open(Options{Path: path, Key: key}); err == nil || !strings.Contains(err.Error(), "held by another pgshield process") {
		t.Fatalf("second Open: err = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Update(context.Background(), addActive("a", 1, "pw-pw-pw-pw")); err == nil {
		t.Fatal("Update after Close succeeded")
	}
	openStore(t, path, "", key)
}

func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.enc")
	key := newKey(t)
	s := openStore(t, path, "", key)
	s.Update(context.Background(), addActive("app", 1, "old-password-1234"))
	s.Close()
	good, _ := os.ReadFile(path)

	// A writer that died between creating and renaming its temp file.
	leftover := filepath.Join(filepath.Dir(path), tempPrefix("db.enc")+"12345")
	os.WriteFile(leftover, []byte("half a store"), 0o600)
	s = openStore(t, path, "", key)
	if c, ok := s.Active("app"); !ok || c.Password() != "old-password-1234" {
		t.Fatal("old store did not load past a leftover temp file")
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file not cleaned: %v", err)
	}
	s.Close()

	// A write that fails part-way (here: the random source dies) leaves
	// the file and the in-memory state as they were.
	s, err := Open(Options{Path: path, Key: key, Rand: iotest.ErrReader(errors.New("entropy gone"))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(context.Background(), addActive("app", 2, "new-password-5678")); err == nil {
		t.Fatal("Update with a dead random source succeeded")
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Fatal("failed Update changed the file")
	}
	if st := s.Snapshot(); st.Version != 1 || len(st.Credentials) != 1 {
		t.Fatalf("failed Update changed the state: %v", st)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("failed Update left %s behind", e.Name())
		}
	}
}

func TestUpdateRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.enc")
	s := openStore(t, path, "", newKey(t))
	ctx := context.Background()
	s.Update(ctx, addActive("app", 1, "first-password-1"))
	before, _ := os.ReadFile(path)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		fn   func(*State) error
		want string
	}{
		{"fn error", ctx, func(st *State) error { st.Credentials = nil; return errors.New("boom") }, "boom"},
		{"two active", ctx, addActive("app", 2, "secret-two-2222"), "two active credentials"},
		{"duplicate", ctx, func(st *State) error {
			st.Credentials = append(st.Credentials, st.Credentials[0])
			return nil
		}, "appears twice"},
		{"empty login", ctx, addActive("", 3, "secret-three-333"), "empty login"},
		{"version 0", ctx, addActive("x", 0, "secret-zero-0000"), "version 0"},
		{"no password", ctx, addActive("y", 1, ""), "has no password"},
		{"bad state", ctx, func(st *State) error {
			st.Credentials[0].State = "zombie"
			return nil
		}, `unknown state "zombie"`},
		{"cancelled", cancelled, addActive("z", 1, "secret-zzzz-zzzz"), "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Update(tt.ctx, tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			for _, pw := range []string{"secret-two", "secret-three", "secret-zero", "first-password"} {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("error leaks a password: %q", err)
				}
			}
			if st := s.Snapshot(); st.Version != 1 || len(st.Credentials) != 1 || st.Credentials[0].State != StateActive {
				t.Fatalf("rejected Update changed the state: %v", st)
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, before) {
				t.Fatal("rejected Update changed the file")
			}
		})
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "db.enc"), "", newKey(t))
	s.Update(context.Background(), func(st *State) error {
		st.Rotation = &Rotation{Step: "s", Notes: map[string]string{"a": "1"}}
		return addActive("app", 1, "pw-pw-pw-pw-pw")(st)
	})
	snap := s.Snapshot()
	snap.Credentials[0].Login = "mallory"
	snap.Rotation.Notes["a"] = "2"
	snap.Rotation.Step = "changed"
	again := s.Snapshot()
	if again.Credentials[0].Login != "app" || again.Rotation.Notes["a"] != "1" || again.Rotation.Step != "s" {
		t.Fatalf("mutating a snapshot changed the store: %v", again)
	}
}

func TestConcurrentUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.enc")
	key := newKey(t)
	s := openStore(t, path, MethodHKDF, key)
	const writers, each = 4, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				login := fmt.Sprintf("w%d", w)
				err := s.Update(context.Background(), func(st *State) error {
					c := NewCredential(login, i+1, fmt.Sprintf("password-%d-%d-xxxxxxxx", w, i), t0)
					c.State = StateExpired
					st.Put(c)
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range each {
				st := s.Snapshot()
				_ = st.String()
				s.Active("w0")
			}
		})
	}
	wg.Wait()
	st := s.Snapshot()
	if st.Version != writers*each || len(st.Credentials) != writers*each {
		t.Fatalf("version %d, %d credentials; want %d of each", st.Version, len(st.Credentials), writers*each)
	}
	s.Close()
	if got := openStore(t, path, MethodHKDF, key).Snapshot(); got.Version != writers*each || len(got.Credentials) != writers*each {
		t.Fatalf("reloaded version %d, %d credentials", got.Version, len(got.Credentials))
	}
}

func TestReadStateWhileLocked(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(nil)
	path := filepath.Join(dir, "db.enc")
	st, err := Open(Options{Path: path, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(context.Background(), func(s *State) error {
		s.Put(NewCredential("login_a", 1, strings.Repeat("ab", 32), time.Now()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(path, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Credentials) != 1 || got.Credentials[0].Login != "login_a" {
		t.Fatalf("ReadState: %v", got)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := ReadState(path, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other key: %v", err)
	}
}
