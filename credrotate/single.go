package credrotate

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/pgshield/pgshield/credstore"
)

// RotateSingle changes login's password in place, for rolemap's "login"
// mode where every mapped role has its own login and no twin to alternate
// with. login must already have an active credential in the store.
//
// The window: PostgreSQL switches to the new password when ALTER ROLE
// commits, the proxy when the store is updated. In between, a new backend
// login with the old password would fail. So the ALTER ROLE, a verification
// login and the store update all run inside Options.Serialize, which must
// hold off new backend logins for login (not existing sessions: PostgreSQL
// checks passwords only at login, so open sessions are unaffected). The
// window is one ALTER ROLE plus one login, typically milliseconds; logins
// arriving then wait, they do not fail. Should the verification fail, the
// old password is set again, still inside Serialize.
//
// The new password is saved as pending before Serialize is called, so a
// crash inside the window is resumed by setting it again (Resume).
func (r *rotator) RotateSingle(ctx context.Context, login string) error {
	if r.opts.Serialize == nil {
		return errors.New("credrotate: RotateSingle needs Options.Serialize")
	}
	if err := checkRoleName(login); err != nil {
		return fmt.Errorf("credrotate: %w", err)
	}
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	if err := r.resume(ctx); err != nil {
		return err
	}
	st := r.opts.Store.Snapshot()
	old, ok := st.Active(login)
	if !ok {
		return fmt.Errorf("credrotate: login %s has no active credential to rotate", login)
	}
	version, err := r.savePending(ctx, st, login, old.Version)
	if err != nil {
		return err
	}
	if err := r.callHook(StepGenerated, true); err != nil {
		return err
	}
	return r.finishSingle(ctx, login, version, old.Version, true, r.opts.Serialize)
}

// savePending stores a fresh password for login as its next, pending
// version, with the rotation record a restart resumes from. Saved before
// the database changes, so a crash never loses a password PostgreSQL has.
func (r *rotator) savePending(ctx context.Context, st credstore.State, login string, oldVersion int) (int, error) {
	password, err := credstore.GeneratePassword(r.opts.Rand, r.opts.PasswordHexChars)
	if err != nil {
		return 0, fmt.Errorf("credrotate: %w", err)
	}
	version, now := nextVersion(st, login), r.opts.Now()
	err = r.opts.Store.Update(ctx, func(st *credstore.State) error {
		if st.Rotation != nil {
			return ErrOtherRotation
		}
		st.Put(credstore.NewCredential(login, version, password, now))
		st.Rotation = &credstore.Rotation{Step: string(StepGenerated), Login: login, TargetVersion: version, StartedAt: now,
			Notes: map[string]string{noteMode: modeSingle, noteOldVersion: strconv.Itoa(oldVersion)}}
		return nil
	})
	r.emit(StepGenerated, login, version, err)
	if err != nil {
		return 0, fmt.Errorf("credrotate: saving the pending credential: %w", err)
	}
	return version, nil
}

// resumeSingle finishes an interrupted RotateSingle. Which password the
// database has is unknown, and the pending one is in the store: setting it
// again (inside Serialize) is always right.
func (r *rotator) resumeSingle(ctx context.Context, rot *credstore.Rotation) error {
	if r.opts.Serialize == nil {
		return fmt.Errorf("%w: an interrupted single-login rotation needs Options.Serialize", ErrOtherRotation)
	}
	old, err := strconv.Atoi(rot.Notes[noteOldVersion])
	if err != nil {
		return fmt.Errorf("credrotate: the store's rotation record is incomplete (step %q)", rot.Step)
	}
	return r.finishSingle(ctx, rot.Login, rot.TargetVersion, old, false, r.opts.Serialize)
}

// finishSingle applies, verifies and activates the pending credential under
// Serialize. restore says whether a failed verification may set the old
// password back: only when this call itself changed the password.
func (r *rotator) finishSingle(ctx context.Context, login string, version, oldVersion int, restore bool, serialize func(func() error) error) error {
	st := r.opts.Store.Snapshot()
	nc, ok := find(&st, login, version)
	if !ok || nc.Password() == "" {
		return fmt.Errorf("credrotate: the store lacks credential %s v%d", login, version)
	}
	oc, hasOld := find(&st, login, oldVersion)
	// undo sets the old password back after a failure, when this call
	// changed it; the old password is still in the store.
	undo := func(err error) error {
		if !restore || !hasOld || oc.Password() == "" {
			return err
		}
		if rbErr := r.setPassword(ctx, login, oc.Password()); rbErr != nil {
			return errors.Join(err, fmt.Errorf("credrotate: restoring the old password: %w", rbErr))
		}
		if rbErr := r.dropSingle(ctx, login, version); rbErr != nil {
			return errors.Join(err, rbErr)
		}
		r.emit(StepRolledBack, login, version, nil)
		return err
	}
	return serialize(func() error {
		if err := r.setPassword(ctx, login, nc.Password()); err != nil {
			r.emit(StepApplied, login, version, err)
			return undo(err)
		}
		r.emit(StepApplied, login, version, nil)
		if err := r.callHook(StepApplied, false); err != nil {
			return err
		}
		if err := r.verifyLogin(ctx, login, nc.Password()); err != nil {
			r.emit(StepVerified, login, version, err)
			return undo(err)
		}
		r.emit(StepVerified, login, version, nil)
		now := r.opts.Now()
		err := r.opts.Store.Update(ctx, func(st *credstore.State) error {
			for i := range st.Credentials {
				c := &st.Credentials[i]
				switch {
				case c.Login != login:
				case c.Version == version:
					c.State, c.ActivatedAt = credstore.StateActive, now
				case c.State == credstore.StateActive || c.State == credstore.StateRetiring:
					// The database no longer accepts the old
					// password: it is expired at once.
					c.State, c.ExpiredAt = credstore.StateExpired, now
					c.ClearPassword()
				}
			}
			st.Rotation = nil
			return nil
		})
		r.emit(StepActivated, login, version, err)
		if err != nil {
			return fmt.Errorf("credrotate: activating %s v%d: %w", login, version, err)
		}
		r.emit(StepExpired, login, oldVersion, nil)
		r.emit(StepDone, login, version, nil)
		return nil
	})
}

// dropSingle forgets a pending credential whose rotation was undone.
func (r *rotator) dropSingle(ctx context.Context, login string, version int) error {
	return r.opts.Store.Update(ctx, func(st *credstore.State) error {
		remove(st, login, version)
		st.Rotation = nil
		return nil
	})
}

// BootstrapSingle gives login (a mapped role of role_mode login) its first
// stored password, unless the store already has an active one: a fresh
// password is saved as pending, set on the role (which also gets LOGIN),
// verified and activated, as RotateSingle does. Options.Serialize is used
// when set.
func (r *rotator) BootstrapSingle(ctx context.Context, login string) error {
	if err := checkRoleName(login); err != nil {
		return fmt.Errorf("credrotate: %w", err)
	}
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	st := r.opts.Store.Snapshot()
	if _, ok := st.Active(login); ok {
		return nil
	}
	version, err := r.savePending(ctx, st, login, 0)
	if err != nil {
		return err
	}
	serialize := r.opts.Serialize
	if serialize == nil {
		serialize = func(fn func() error) error { return fn() } // nothing logs in with it yet
	}
	return r.finishSingle(ctx, login, version, 0, false, serialize)
}
