package credrotate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pgshield/pgshield/credstore"
)

func (r *rotator) Rotate(ctx context.Context) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	if _, _, err := r.logins(); err != nil {
		return err
	}
	if err := r.resume(ctx); err != nil {
		return err
	}
	p, err := r.begin(ctx)
	if err != nil {
		return err
	}
	return r.advance(ctx, p, StepGenerated)
}

// begin is step 1: a password for the idle login, saved as pending with the
// rotation record in one write, before the database is touched.
func (r *rotator) begin(ctx context.Context) (plan, error) {
	a, b, _ := r.logins()
	st := r.opts.Store.Snapshot()
	old, err := activeOf(st, a, b)
	if err != nil {
		return plan{}, err
	}
	p := plan{newLogin: a, newVersion: nextVersion(st, a, b), oldLogin: old.Login, oldVersion: old.Version}
	if old.Login == a {
		p.newLogin = b
	}
	password, err := credstore.GeneratePassword(r.opts.Rand, r.opts.PasswordHexChars)
	if err != nil {
		return plan{}, fmt.Errorf("credrotate: %w", err)
	}
	if err := r.callHook(StepGenerated, false); err != nil {
		return plan{}, err
	}
	now := r.opts.Now()
	err = r.opts.Store.Update(ctx, func(st *credstore.State) error {
		if st.Rotation != nil {
			return ErrOtherRotation
		}
		st.Put(credstore.NewCredential(p.newLogin, p.newVersion, password, now))
		st.Rotation = &credstore.Rotation{
			Step: string(StepGenerated), Login: p.newLogin, TargetVersion: p.newVersion, StartedAt: now,
			Notes: map[string]string{
				noteMode: modeAlternating, noteBase: r.opts.Base,
				noteOldLogin: p.oldLogin, noteOldVersion: strconv.Itoa(p.oldVersion),
			},
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("credrotate: saving the pending credential: %w", err)
		r.emit(StepGenerated, p.newLogin, p.newVersion, err)
		return plan{}, err
	}
	r.emit(StepGenerated, p.newLogin, p.newVersion, nil)
	if err := r.callHook(StepGenerated, true); err != nil {
		return plan{}, err
	}
	return p, nil
}

// stepFunc runs one step. If it records itself (a store-only step), it
// says so, and advance does not record it again.
type stepFunc func(context.Context, plan) (recorded bool, err error)

// advance runs every step after done, recording each as it completes.
func (r *rotator) advance(ctx context.Context, p plan, done Step) error {
	steps := []struct {
		step Step
		run  stepFunc
	}{
		{StepApplied, r.apply},
		{StepVerified, r.verify},
		{StepActivated, r.activate},
		{StepGrace, r.waitGrace},
		{StepDrained, r.drain},
		{StepDisabled, r.disable},
		{StepExpired, r.expire},
	}
	for _, s := range steps {
		if s.step.rank() <= done.rank() {
			continue
		}
		login, version := p.newLogin, p.newVersion
		if s.step.rank() > StepActivated.rank() {
			login, version = p.oldLogin, p.oldVersion
		}
		recorded, err := s.run(ctx, p)
		if err == nil && !recorded {
			// A crash here leaves the work done but unrecorded; every
			// step is idempotent, so Resume simply does it again.
			if err = r.callHook(s.step, false); err != nil {
				return err
			}
			err = r.record(ctx, p, s.step)
		}
		if err != nil {
			r.emit(s.step, login, version, err)
			if s.step.rank() < StepActivated.rank() {
				// Nobody uses the new login yet: undo now. If that
				// fails too, the record stays for Resume.
				if rbErr := r.rollback(ctx, p); rbErr != nil {
					return errors.Join(err, rbErr)
				}
			}
			return err
		}
		r.emit(s.step, login, version, nil)
		if err := r.callHook(s.step, true); err != nil {
			return err
		}
	}
	r.emit(StepDone, p.newLogin, p.newVersion, nil)
	return nil
}

// update runs fn on the state after checking that the store still records
// rotation p, so a step never acts on a rotation that is not its own.
func (r *rotator) update(ctx context.Context, p plan, fn func(*credstore.State) error) error {
	return r.opts.Store.Update(ctx, func(st *credstore.State) error {
		rot := st.Rotation
		if rot == nil || rot.Login != p.newLogin || rot.TargetVersion != p.newVersion {
			return fmt.Errorf("%w: the store no longer records the rotation to %s v%d", ErrOtherRotation, p.newLogin, p.newVersion)
		}
		return fn(st)
	})
}

func (r *rotator) record(ctx context.Context, p plan, step Step) error {
	err := r.update(ctx, p, func(st *credstore.State) error {
		st.Rotation.Step = string(step)
		return nil
	})
	if err != nil {
		return fmt.Errorf("credrotate: recording step %s: %w", step, err)
	}
	return nil
}

// pending returns the credential the rotation creates.
func (r *rotator) pending(p plan) (credstore.Credential, error) {
	st := r.opts.Store.Snapshot()
	c, ok := find(&st, p.newLogin, p.newVersion)
	if !ok || c.Password() == "" {
		return c, fmt.Errorf("credrotate: the store lacks credential %s v%d", p.newLogin, p.newVersion)
	}
	return c, nil
}

func (r *rotator) apply(ctx context.Context, p plan) (bool, error) {
	c, err := r.pending(p)
	if err != nil {
		return false, err
	}
	return false, r.setPassword(ctx, p.newLogin, c.Password())
}

func (r *rotator) verify(ctx context.Context, p plan) (bool, error) {
	c, err := r.pending(p)
	if err != nil {
		return false, err
	}
	return false, r.verifyLogin(ctx, p.newLogin, c.Password())
}

// activate switches the proxy: new active, old retiring, in one write.
func (r *rotator) activate(ctx context.Context, p plan) (bool, error) {
	now := r.opts.Now()
	return true, r.update(ctx, p, func(st *credstore.State) error {
		nc, ok := find(st, p.newLogin, p.newVersion)
		if !ok {
			return fmt.Errorf("credrotate: the store lacks credential %s v%d", p.newLogin, p.newVersion)
		}
		if oc, ok := find(st, p.oldLogin, p.oldVersion); ok && oc.State == credstore.StateActive {
			oc.State, oc.RetiringAt = credstore.StateRetiring, now
			st.Put(oc)
		}
		nc.State, nc.ActivatedAt = credstore.StateActive, now
		st.Put(nc)
		st.Rotation.Step = string(StepActivated)
		return nil
	})
}

// graceEnd is when the old credential's grace period ends, counted from
// its retirement so a restart does not start the grace period over.
func (r *rotator) graceEnd(p plan) time.Time {
	st := r.opts.Store.Snapshot()
	oc, ok := find(&st, p.oldLogin, p.oldVersion)
	if !ok || oc.RetiringAt.IsZero() {
		return r.opts.Now().Add(r.opts.Grace)
	}
	return oc.RetiringAt.Add(r.opts.Grace)
}

func (r *rotator) waitGrace(ctx context.Context, p plan) (bool, error) {
	return false, r.sleepUntil(ctx, r.graceEnd(p))
}

// sleepUntil waits until Options.Now reaches t.
func (r *rotator) sleepUntil(ctx context.Context, t time.Time) error {
	for {
		d := t.Sub(r.opts.Now())
		if d <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.opts.After(d):
		}
	}
}

// drain waits for the old login's sessions to end: it polls
// pg_stat_activity until Grace+MaxWait after the switch, then either
// terminates the leftovers (TerminateAfterGrace) or reports
// ErrSessionsRemain, leaving the step recorded as pending for Resume.
func (r *rotator) drain(ctx context.Context, p plan) (bool, error) {
	limit := r.graceEnd(p).Add(r.opts.MaxWait)
	terminated := false
	for {
		n, err := r.sessions(ctx, p.oldLogin, false)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		if !r.opts.Now().Before(limit) {
			if !r.opts.TerminateAfterGrace {
				return false, fmt.Errorf("%w: %d session(s) of %s after the grace period and max wait; Resume will retry",
					ErrSessionsRemain, n, p.oldLogin)
			}
			if terminated {
				// pg_terminate_backend only signals; give the
				// backends a few polls to exit, then report.
				return false, fmt.Errorf("%w: %d session(s) of %s survived pg_terminate_backend; Resume will retry",
					ErrSessionsRemain, n, p.oldLogin)
			}
			r.opts.Logger.Warn("terminating the old login's sessions", "login", p.oldLogin, "sessions", n)
			if _, err := r.sessions(ctx, p.oldLogin, true); err != nil {
				return false, err
			}
			terminated = true
			limit = r.opts.Now().Add(terminateWait)
		}
		if err := r.sleepUntil(ctx, r.opts.Now().Add(r.opts.PollInterval)); err != nil {
			return false, err
		}
	}
}

// terminateWait is how long drain waits for terminated backends to exit.
const terminateWait = 5 * time.Second

func (r *rotator) disable(ctx context.Context, p plan) (bool, error) {
	return false, r.disableLogin(ctx, p.oldLogin)
}

// expire marks the old credential expired, forgets its password and ends
// the rotation, in one write.
func (r *rotator) expire(ctx context.Context, p plan) (bool, error) {
	now := r.opts.Now()
	return true, r.update(ctx, p, func(st *credstore.State) error {
		if oc, ok := find(st, p.oldLogin, p.oldVersion); ok {
			oc.State, oc.ExpiredAt = credstore.StateExpired, now
			oc.ClearPassword()
			st.Put(oc)
		}
		st.Rotation = nil
		return nil
	})
}

// rollback undoes a rotation that has not switched: the new login is
// disabled again and its pending credential dropped. It refuses to touch a
// login the store says is active.
func (r *rotator) rollback(ctx context.Context, p plan) error {
	st := r.opts.Store.Snapshot()
	if c, ok := find(&st, p.newLogin, p.newVersion); ok && c.State != credstore.StatePending {
		return fmt.Errorf("credrotate: not rolling back %s v%d, which is %s", p.newLogin, p.newVersion, c.State)
	}
	err := r.disableLogin(ctx, p.newLogin)
	if err == nil {
		err = r.update(ctx, p, func(st *credstore.State) error {
			remove(st, p.newLogin, p.newVersion)
			st.Rotation = nil
			return nil
		})
	}
	if err != nil {
		err = fmt.Errorf("credrotate: rolling back: %w", err)
	}
	r.emit(StepRolledBack, p.newLogin, p.newVersion, err)
	return err
}
