package credrotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
)

// Rotator rotates pgshield's backend credentials. Its methods are safe for
// concurrent use; rotations (and Bootstrap and Resume) run one at a time,
// a second caller waiting for the first or for its context.
type Rotator interface {
	// Bootstrap creates the roles if missing and, for an empty store, gives
	// <base>_a a fresh password stored as the active credential; see
	// bootstrap.go. superuser runs the DDL; nil means Options.Admin.
	Bootstrap(ctx context.Context, superuser *pgconn.Config) error
	// Rotate finishes an interrupted rotation, if any, then switches to
	// the other login with a new password.
	Rotate(ctx context.Context) error
	// RotateSingle changes login's password in place; see single.go.
	RotateSingle(ctx context.Context, login string) error
	// BootstrapSingle stores a first password for login (role_mode login)
	// unless one is active; see single.go.
	BootstrapSingle(ctx context.Context, login string) error
	// Resume finishes, or rolls back, the rotation the store records as
	// interrupted. Call it at start-up; it does nothing when none is.
	Resume(ctx context.Context) error
	// Active returns the active alternating credential. Do not log its
	// password.
	Active() (credstore.Credential, error)
}

// Credentials adapts r to backend.Options.Credentials: each new backend
// login reads the store, so a rotation takes effect at the next login.
func Credentials(r Rotator) func() (user, password string, err error) {
	return func() (string, string, error) {
		c, err := r.Active()
		if err != nil {
			return "", "", err
		}
		return c.Login, c.Password(), nil
	}
}

type rotator struct {
	// opts is validated by New and never changes.
	opts Options
	// sem, holding one token, serialises rotations; a channel rather than
	// a mutex so that waiting honours the caller's context.
	sem chan struct{}
}

// New validates opts. It does not connect and starts no goroutine.
func New(opts Options) (Rotator, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &rotator{opts: opts, sem: make(chan struct{}, 1)}, nil
}

func (r *rotator) acquire(ctx context.Context) error {
	select {
	case r.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("credrotate: waiting for another rotation: %w", ctx.Err())
	}
}

func (r *rotator) release() { <-r.sem }

// logins returns the two alternating logins.
func (r *rotator) logins() (a, b string, err error) {
	if r.opts.Base == "" {
		return "", "", errors.New("credrotate: Options.Base is required for alternating users")
	}
	return r.opts.Base + "_a", r.opts.Base + "_b", nil
}

func (r *rotator) Active() (credstore.Credential, error) {
	a, b, err := r.logins()
	if err != nil {
		return credstore.Credential{}, err
	}
	return activeOf(r.opts.Store.Snapshot(), a, b)
}

// activeOf returns the active credential of a or b. The store allows one
// active credential per login; the rotation keeps at most one across both,
// and should both ever be active the newer wins.
func activeOf(st credstore.State, a, b string) (credstore.Credential, error) {
	ca, okA := st.Active(a)
	cb, okB := st.Active(b)
	switch {
	case okA && (!okB || ca.Version > cb.Version):
		return ca, nil
	case okB:
		return cb, nil
	}
	return credstore.Credential{}, ErrNotInitialised
}

// find returns the credential with login and version.
func find(st *credstore.State, login string, version int) (credstore.Credential, bool) {
	for _, c := range st.Credentials {
		if c.Login == login && c.Version == version {
			return c, true
		}
	}
	return credstore.Credential{}, false
}

// remove drops the credential with login and version.
func remove(st *credstore.State, login string, version int) {
	out := st.Credentials[:0]
	for _, c := range st.Credentials {
		if c.Login != login || c.Version != version {
			out = append(out, c)
		}
	}
	st.Credentials = out
}

// nextVersion is one more than the highest version of any of logins.
func nextVersion(st credstore.State, logins ...string) int {
	v := 0
	for _, c := range st.Credentials {
		for _, l := range logins {
			if c.Login == l && c.Version > v {
				v = c.Version
			}
		}
	}
	return v + 1
}

// emit logs the step and hands it to Options.Events.
func (r *rotator) emit(step Step, login string, version int, err error) {
	ev := Event{Step: step, Login: login, Version: version, Time: r.opts.Now(), Err: err}
	attrs := []any{slog.String("step", string(step)), slog.String("login", login), slog.Int("version", version)}
	if err != nil {
		r.opts.Logger.Error("credential rotation step failed", append(attrs, slog.Any("err", err))...)
	} else {
		r.opts.Logger.Info("credential rotation step", attrs...)
	}
	r.opts.Events(ev)
}

// callHook runs the test hook, if any.
func (r *rotator) callHook(step Step, recorded bool) error {
	if r.opts.hook == nil {
		return nil
	}
	return r.opts.hook(step, recorded)
}

func (r *rotator) Resume(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	return r.resume(ctx)
}

// resume dispatches on the interrupted rotation's mode. The caller holds sem.
func (r *rotator) resume(ctx context.Context) error {
	rot := r.opts.Store.Snapshot().Rotation
	if rot == nil {
		return nil
	}
	switch rot.Notes[noteMode] {
	case modeAlternating:
		if rot.Notes[noteBase] != r.opts.Base {
			return fmt.Errorf("%w: alternating users of base %q", ErrOtherRotation, rot.Notes[noteBase])
		}
		p, err := planFrom(rot)
		if err != nil {
			return err
		}
		if rot.Step == string(StepGenerated) {
			// The new password may or may not have reached the
			// database; nobody uses it yet, so undo rather than guess.
			return r.rollback(ctx, p)
		}
		return r.advance(ctx, p, Step(rot.Step))
	case modeSingle:
		return r.resumeSingle(ctx, rot)
	case modeBootstrap:
		if rot.Notes[noteBase] != r.opts.Base {
			return fmt.Errorf("%w: bootstrap of base %q", ErrOtherRotation, rot.Notes[noteBase])
		}
		return r.finishBootstrap(ctx, rot.Login, rot.TargetVersion)
	}
	return fmt.Errorf("%w: unknown mode %q", ErrOtherRotation, rot.Notes[noteMode])
}

// Keys and values of credstore.Rotation.Notes. Notes are printed by the
// store's String: nothing secret goes here.
const (
	noteMode       = "mode"
	noteBase       = "base"
	noteOldLogin   = "old_login"
	noteOldVersion = "old_version"

	modeAlternating = "alternating"
	modeSingle      = "single"
	modeBootstrap   = "bootstrap"
)

// plan is one alternating rotation, as recorded in the store.
type plan struct {
	newLogin   string
	newVersion int
	oldLogin   string
	oldVersion int
}

func planFrom(rot *credstore.Rotation) (plan, error) {
	old, err := strconv.Atoi(rot.Notes[noteOldVersion])
	if err != nil || rot.Login == "" || rot.Notes[noteOldLogin] == "" {
		return plan{}, fmt.Errorf("credrotate: the store's rotation record is incomplete (step %q)", rot.Step)
	}
	return plan{newLogin: rot.Login, newVersion: rot.TargetVersion, oldLogin: rot.Notes[noteOldLogin], oldVersion: old}, nil
}
