package credrotate

import (
	"context"
	"crypto/rand"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pgshield/pgshield/credstore"
)

// singleLogin creates login with a password, sent as a verifier, and stores
// that password as login's active v1, as rolemap's login mode would have.
func singleLogin(ctx context.Context, t *testing.T, h *harness, login string) (old string) {
	t.Helper()
	old, err := credstore.GeneratePassword(rand.Reader, 64)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := scramVerifier(old, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Exec(ctx, "", "CREATE ROLE "+login+" LOGIN PASSWORD "+quoteLiteral(verifier)); err != nil {
		t.Fatal(err)
	}
	err = h.store.Update(ctx, func(st *credstore.State) error {
		c := credstore.NewCredential(login, 1, old, time.Now())
		c.State, c.ActivatedAt = credstore.StateActive, time.Now()
		st.Put(c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return old
}

func TestRotateSingle(t *testing.T) {
	ctx := testCtx(t)
	const login = "single_u"
	h := newHarness(t, "")
	old := singleLogin(ctx, t, h, login)

	// The proxy's side of Serialize: read-locked around reading the
	// credential and logging in.
	var mu sync.RWMutex
	r := h.rotator(func(o *Options) {
		o.Serialize = func(fn func() error) error {
			mu.Lock()
			defer mu.Unlock()
			return fn()
		}
	})
	load := startLoader(ctx, func(ctx context.Context) error {
		mu.RLock()
		defer mu.RUnlock()
		c, ok := h.store.Active(login)
		if !ok {
			return ErrNotInitialised
		}
		return tryLogin(ctx, t, c.Login, c.Password())
	}, 3)
	time.Sleep(100 * time.Millisecond)
	for range 2 {
		if err := h.noteErr(r.RotateSingle(ctx, login)); err != nil {
			t.Fatalf("RotateSingle: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	attempts, failures, firstErr := load.finish()
	if failures != 0 || attempts == 0 {
		t.Errorf("%d of %d logins failed; first: %v", failures, attempts, h.noteErr(firstErr))
	}
	c, ok := h.store.Active(login)
	if !ok || c.Version != 3 {
		t.Fatalf("active = %v, want v3", c)
	}
	h.collectSecrets()
	h.mu.Lock()
	h.secrets[old] = true
	h.mu.Unlock()
	if tryLogin(ctx, t, login, old) == nil {
		t.Errorf("the old password still logs in")
	}
	if err := tryLogin(ctx, t, login, c.Password()); err != nil {
		t.Errorf("the new password does not log in: %v", err)
	}
	st := h.store.Snapshot()
	if st.Rotation != nil {
		t.Errorf("rotation still recorded: %v", st.Rotation)
	}
	for _, x := range st.Credentials {
		if x.Version < 3 && (x.State != credstore.StateExpired || x.Password() != "") {
			t.Errorf("credential %v should be expired without a password", x)
		}
	}
}

func TestRotateSingleNeedsSerialize(t *testing.T) {
	h := newHarness(t, "")
	h.secrets["placeholder-not-a-password"] = true
	r := h.rotator(nil)
	if err := h.noteErr(r.RotateSingle(testCtx(t), "whoever")); err == nil {
		t.Fatal("RotateSingle without Options.Serialize succeeded")
	}
}

func TestRotateSingleCrashResume(t *testing.T) {
	ctx := testCtx(t)
	const login = "single_crash"
	h := newHarness(t, "")
	old := singleLogin(ctx, t, h, login)
	serialize := func(fn func() error) error { return fn() }
	crashing := h.rotator(func(o *Options) {
		o.Serialize = serialize
		o.hook = func(s Step, rec bool) error {
			if s == StepApplied {
				return errCrash
			}
			return nil
		}
	})
	// The crash comes after ALTER ROLE: the database has the new
	// password, the store still hands out the old one.
	if err := crashing.RotateSingle(ctx, login); !errors.Is(err, errCrash) {
		t.Fatalf("RotateSingle = %v, want the simulated crash", h.noteErr(err))
	}
	h.collectSecrets()
	r := h.rotator(func(o *Options) { o.Serialize = serialize })
	if err := h.noteErr(r.Resume(ctx)); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	c, ok := h.store.Active(login)
	if !ok || c.Version != 2 || h.store.Snapshot().Rotation != nil {
		t.Fatalf("after Resume: active %v, rotation %v; want v2 and none", c, h.store.Snapshot().Rotation)
	}
	if err := tryLogin(ctx, t, login, c.Password()); err != nil {
		t.Errorf("the resumed credential does not log in: %v", err)
	}
	if tryLogin(ctx, t, login, old) == nil {
		t.Errorf("the old password still logs in")
	}
}
