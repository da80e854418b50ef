package credrotate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
)

// bootstrap runs Bootstrap and returns the first active credential.
func (h *harness) bootstrap(ctx context.Context, r Rotator) credstore.Credential {
	h.t.Helper()
	if err := h.noteErr(r.Bootstrap(ctx, nil)); err != nil {
		h.t.Fatalf("Bootstrap: %v", err)
	}
	c, err := r.Active()
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// openAs opens a session as c, for tests that hold one across a rotation.
func openAs(ctx context.Context, t *testing.T, c credstore.Credential) *pgconn.PgConn {
	t.Helper()
	cfg := adminConfig(t)
	cfg.User, cfg.Password = c.Login, c.Password()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("login as %s: %v", c.Login, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// loader opens new connections with whatever Credentials says, as the
// proxy's backend does, until stopped.
type loader struct {
	attempts, failures atomic.Int64
	mu                 sync.Mutex
	firstErr           error
	stop               context.CancelFunc
	wg                 sync.WaitGroup
}

// credsLogin is one login attempt with creds, as the proxy's backend makes.
func credsLogin(t *testing.T, creds func() (string, string, error)) func(context.Context) error {
	return func(ctx context.Context) error {
		user, password, err := creds()
		if err != nil {
			return err
		}
		return tryLogin(ctx, t, user, password)
	}
}

func startLoader(ctx context.Context, attempt func(context.Context) error, workers int) *loader {
	ctx, cancel := context.WithCancel(ctx)
	l := &loader{stop: cancel}
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				err := attempt(ctx)
				if ctx.Err() != nil {
					return
				}
				l.attempts.Add(1)
				if err != nil {
					l.failures.Add(1)
					l.mu.Lock()
					if l.firstErr == nil {
						l.firstErr = err
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *loader) finish() (attempts, failures int64, firstErr error) {
	l.stop()
	l.wg.Wait()
	return l.attempts.Load(), l.failures.Load(), l.firstErr
}

func TestRotateUnderLoad(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, "rot_load")
	var oldConn *pgconn.PgConn
	var duringGrace, afterGrace error
	h.onEvent = func(e Event) {
		switch e.Step {
		case StepActivated:
			_, duringGrace = oldConn.Exec(ctx, "SELECT 1").ReadAll()
		case StepGrace:
			// The old session has lived through the whole grace
			// period; it now ends, as a pooled connection would.
			_, afterGrace = oldConn.Exec(ctx, "SELECT 1").ReadAll()
			oldConn.Close(ctx)
		}
	}
	r := h.rotator(func(o *Options) { o.Grace = time.Second })
	old := h.bootstrap(ctx, r)
	oldConn = openAs(ctx, t, old)

	load := startLoader(ctx, credsLogin(t, Credentials(r)), 3)
	time.Sleep(200 * time.Millisecond)
	err := h.noteErr(r.Rotate(ctx))
	time.Sleep(200 * time.Millisecond)
	attempts, failures, firstErr := load.finish()
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if failures != 0 {
		t.Errorf("%d of %d logins failed during the rotation; first: %v", failures, attempts, h.noteErr(firstErr))
	}
	if attempts < 10 {
		t.Errorf("only %d logins during the rotation; the load did not run", attempts)
	}
	if duringGrace != nil || afterGrace != nil {
		t.Errorf("old session during grace: %v; at its end: %v", duringGrace, afterGrace)
	}
	if tryLogin(ctx, t, old.Login, old.Password()) == nil {
		t.Errorf("the old password still logs in after the rotation")
	}

	st := h.store.Snapshot()
	if c, ok := find(&st, old.Login, old.Version); !ok || c.State != credstore.StateExpired || c.Password() != "" {
		t.Errorf("old credential = %v, want expired without a password", c)
	}
	want := []Step{StepBootstrapped, StepGenerated, StepApplied, StepVerified, StepActivated, StepGrace,
		StepDrained, StepDisabled, StepExpired, StepDone}
	if got := h.steps(); !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	h.checkConsistent(ctx, r, "rot_load_b", 2)
}

func TestRotateAlternates(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, "rot_alt")
	r := h.rotator(nil)
	h.bootstrap(ctx, r)
	for i, want := range []string{"rot_alt_b", "rot_alt_a", "rot_alt_b"} {
		if err := h.noteErr(r.Rotate(ctx)); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		h.checkConsistent(ctx, r, want, i+2)
	}
}

func TestDrain(t *testing.T) {
	t.Run("terminate after grace", func(t *testing.T) {
		ctx := testCtx(t)
		h := newHarness(t, "drain_term")
		r := h.rotator(func(o *Options) { o.MaxWait = 300 * time.Millisecond; o.TerminateAfterGrace = true })
		conn := openAs(ctx, t, h.bootstrap(ctx, r))
		if err := h.noteErr(r.Rotate(ctx)); err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err == nil {
			t.Errorf("the old login's session survived TerminateAfterGrace")
		}
		h.checkConsistent(ctx, r, "drain_term_b", 2)
	})
	t.Run("sessions remain", func(t *testing.T) {
		ctx := testCtx(t)
		h := newHarness(t, "drain_wait")
		r := h.rotator(func(o *Options) { o.MaxWait = 300 * time.Millisecond })
		conn := openAs(ctx, t, h.bootstrap(ctx, r))
		err := h.noteErr(r.Rotate(ctx))
		if !errors.Is(err, ErrSessionsRemain) {
			t.Fatalf("Rotate = %v, want ErrSessionsRemain", err)
		}
		// Switched but not finished: the new login is handed out, the
		// old session still works, the step is recorded as pending.
		if c, err := r.Active(); err != nil || c.Login != "drain_wait_b" {
			t.Fatalf("Active = %v, %v; want drain_wait_b", c, err)
		}
		if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
			t.Errorf("the old session was cut without TerminateAfterGrace: %v", err)
		}
		if rot := h.store.Snapshot().Rotation; rot == nil || rot.Step != string(StepGrace) {
			t.Fatalf("rotation record = %v, want step %s", rot, StepGrace)
		}
		conn.Close(ctx)
		if err := h.noteErr(r.Resume(ctx)); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		h.checkConsistent(ctx, r, "drain_wait_b", 2)
	})
}

// errCrash is what the test hook returns to simulate a crash.
var errCrash = errors.New("simulated crash")

func TestCrashResume(t *testing.T) {
	// Each case crashes right after a step's work (recorded false) or
	// right after its record (recorded true). Steps that write only the
	// store record themselves and have no "after work" point.
	tests := []struct {
		step     Step
		recorded bool
		// rolledBack: Resume undoes the rotation rather than finish it.
		rolledBack bool
	}{
		{StepGenerated, false, true},
		{StepGenerated, true, true},
		{StepApplied, false, true},
		{StepApplied, true, false},
		{StepVerified, false, false},
		{StepVerified, true, false},
		{StepActivated, true, false},
		{StepGrace, false, false},
		{StepGrace, true, false},
		{StepDrained, false, false},
		{StepDrained, true, false},
		{StepDisabled, false, false},
		{StepDisabled, true, false},
		{StepExpired, true, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s/recorded=%t", tt.step, tt.recorded), func(t *testing.T) {
			ctx := testCtx(t)
			base := fmt.Sprintf("crash%d", i)
			h := newHarness(t, base)
			crashing := h.rotator(func(o *Options) {
				o.Grace = 200 * time.Millisecond
				o.hook = func(s Step, rec bool) error {
					if s == tt.step && rec == tt.recorded {
						return errCrash
					}
					return nil
				}
			})
			h.bootstrap(ctx, crashing)
			if err := crashing.Rotate(ctx); !errors.Is(err, errCrash) {
				t.Fatalf("Rotate = %v, want the simulated crash", h.noteErr(err))
			}
			// A new process: a fresh Rotator on the same store.
			r := h.rotator(func(o *Options) { o.Grace = 200 * time.Millisecond })
			if err := h.noteErr(r.Resume(ctx)); err != nil {
				t.Fatalf("Resume: %v", err)
			}
			login, version := base+"_b", 2
			if tt.rolledBack {
				login, version = base+"_a", 1
			}
			h.checkConsistent(ctx, r, login, version)
			// The next rotation works from whatever Resume left.
			if err := h.noteErr(r.Rotate(ctx)); err != nil {
				t.Fatalf("Rotate after Resume: %v", err)
			}
			next := base + "_a"
			if login == next {
				next = base + "_b"
			}
			h.checkConsistent(ctx, r, next, version+1)
		})
	}
}

func TestRotateRollsBackFailedVerify(t *testing.T) {
	ctx := testCtx(t)
	h := newHarness(t, "rot_rb")
	r := h.rotator(nil)
	h.bootstrap(ctx, r)
	// A verification login that cannot succeed: a database that does
	// not exist. The new login must be disabled again and the pending
	// credential dropped, with the old one still active.
	bad := h.rotator(func(o *Options) {
		o.Login = adminConfig(t)
		o.Login.Database = "no_such_database"
	})
	if err := h.noteErr(bad.Rotate(ctx)); err == nil {
		t.Fatal("Rotate succeeded with a broken verification login")
	}
	if !slices.Contains(h.steps(), StepRolledBack) {
		t.Errorf("no %s event; events = %v", StepRolledBack, h.steps())
	}
	h.checkConsistent(ctx, r, "rot_rb_a", 1)
}
