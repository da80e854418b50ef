package credrotate

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
)

// Bootstrap is the first-time set-up behind `pgshield creds init`. It is
// idempotent:
//
//   - it creates the NOLOGIN NOINHERIT group role <base> and the logins
//     <base>_a and <base>_b (INHERIT, IN ROLE <base>) if missing, and
//     refuses roles that exist with SUPERUSER, CREATEDB, CREATEROLE,
//     BYPASSRLS or REPLICATION rather than silently keep those rights;
//   - it grants each of Options.MappedRoles to <base>, so that both
//     logins may SET ROLE to them;
//   - for a store with no active credential it gives <base>_a a fresh
//     password, stores it as the active credential and leaves <base>_b
//     NOLOGIN;
//   - for a store that has one, it checks that it logs in and, if not (a
//     re-created database), sets it again.
//
// superuser (nil means Options.Admin) should come from an environment
// variable or a file, never a command-line flag.
func (r *rotator) Bootstrap(ctx context.Context, superuser *pgconn.Config) error {
	if err := r.acquire(ctx); err != nil {
		return err
	}
	defer r.release()
	a, b, err := r.logins()
	if err != nil {
		return err
	}
	su := r
	if superuser != nil {
		su = &rotator{opts: r.opts, sem: r.sem}
		su.opts.Admin = superuser
	}
	if err := su.ensureRoles(ctx); err != nil {
		return err
	}
	st := r.opts.Store.Snapshot()
	if st.Rotation != nil {
		return su.resume(ctx)
	}
	if c, err := activeOf(st, a, b); err == nil {
		return su.repair(ctx, c)
	}
	password, err := credstore.GeneratePassword(r.opts.Rand, r.opts.PasswordHexChars)
	if err != nil {
		return fmt.Errorf("credrotate: %w", err)
	}
	version, now := nextVersion(st, a, b), r.opts.Now()
	err = r.opts.Store.Update(ctx, func(st *credstore.State) error {
		if st.Rotation != nil {
			return ErrOtherRotation
		}
		st.Put(credstore.NewCredential(a, version, password, now))
		st.Rotation = &credstore.Rotation{Step: string(StepGenerated), Login: a, TargetVersion: version, StartedAt: now,
			Notes: map[string]string{noteMode: modeBootstrap, noteBase: r.opts.Base}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("credrotate: saving the first credential: %w", err)
	}
	return su.finishBootstrap(ctx, a, version)
}

// finishBootstrap sets the pending first credential in the database,
// verifies it and activates it. Every part is idempotent, so Resume simply
// runs it again.
func (r *rotator) finishBootstrap(ctx context.Context, login string, version int) error {
	a, b, _ := r.logins()
	other := b
	if login == b {
		other = a
	}
	st := r.opts.Store.Snapshot()
	c, ok := find(&st, login, version)
	if !ok || c.Password() == "" {
		return fmt.Errorf("credrotate: the store lacks credential %s v%d", login, version)
	}
	err := r.setPassword(ctx, login, c.Password())
	if err == nil {
		err = r.disableLogin(ctx, other)
	}
	if err == nil {
		err = r.verifyLogin(ctx, login, c.Password())
	}
	if err == nil {
		now := r.opts.Now()
		err = r.opts.Store.Update(ctx, func(st *credstore.State) error {
			c, ok := find(st, login, version)
			if !ok {
				return fmt.Errorf("credrotate: the store lacks credential %s v%d", login, version)
			}
			c.State, c.ActivatedAt = credstore.StateActive, now
			st.Put(c)
			st.Rotation = nil
			return nil
		})
	}
	r.emit(StepBootstrapped, login, version, err)
	return err
}

// repair makes the database agree with an initialised store: the active
// login logs in with its stored password, the other one cannot log in.
func (r *rotator) repair(ctx context.Context, active credstore.Credential) error {
	a, b, _ := r.logins()
	other := b
	if active.Login == b {
		other = a
	}
	if err := r.disableLogin(ctx, other); err != nil {
		return err
	}
	if r.verifyLogin(ctx, active.Login, active.Password()) == nil {
		return nil
	}
	r.opts.Logger.Warn("the active credential does not log in; setting it again", "login", active.Login, "version", active.Version)
	if err := r.setPassword(ctx, active.Login, active.Password()); err != nil {
		return err
	}
	return r.verifyLogin(ctx, active.Login, active.Password())
}

// roleAttrs are the pg_roles columns Bootstrap checks.
type roleAttrs struct {
	exists                                       bool
	super, createRole, createDB, bypassRLS, repl bool
	canLogin, inherit                            bool
}

// ensureRoles creates the group and login roles if missing, checks the
// attributes of those that exist, and grants Options.MappedRoles to the
// group. Every statement is a no-op the second time.
func (r *rotator) ensureRoles(ctx context.Context) error {
	a, b, _ := r.logins()
	base := r.opts.Base
	return r.admin(ctx, func(conn *pgconn.PgConn) error {
		const safe = " NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"
		for _, role := range []string{base, a, b} {
			attrs, err := readRole(ctx, conn, role)
			if err != nil {
				return err
			}
			if !attrs.exists {
				// The group is NOINHERIT so that it holds the mapped
				// roles for SET ROLE without their privileges
				// flowing into the logins; the logins are INHERIT so
				// that they do get the group's own.
				stmt := "CREATE ROLE " + quoteIdent(role) + " WITH NOLOGIN" + safe + " NOINHERIT"
				if role != base {
					stmt = "CREATE ROLE " + quoteIdent(role) + " WITH NOLOGIN" + safe + " INHERIT IN ROLE " + quoteIdent(base)
				}
				if _, err := conn.Exec(ctx, stmt).ReadAll(); err != nil {
					return stmtError("create role", role, err)
				}
				continue
			}
			if err := attrs.checkSafe(role); err != nil {
				return err
			}
			if role == base {
				if attrs.canLogin {
					return fmt.Errorf("credrotate: group role %s can log in; it must be NOLOGIN", role)
				}
				if attrs.inherit {
					return fmt.Errorf("credrotate: group role %s is INHERIT; it must be NOINHERIT so the logins do not hold every mapped role's privileges (ALTER ROLE %s NOINHERIT)", role, role)
				}
				continue
			}
			if !attrs.inherit {
				return fmt.Errorf("credrotate: login role %s is NOINHERIT; it would not get %s's privileges", role, base)
			}
			// GRANT of an existing membership is a no-op with a notice.
			if _, err := conn.Exec(ctx, "GRANT "+quoteIdent(base)+" TO "+quoteIdent(role)).ReadAll(); err != nil {
				return stmtError("grant group role to", role, err)
			}
		}
		for _, m := range r.opts.MappedRoles {
			attrs, err := readRole(ctx, conn, m)
			if err != nil {
				return err
			}
			if !attrs.exists {
				return fmt.Errorf("credrotate: mapped role %q does not exist", m)
			}
			if attrs.super || attrs.createRole {
				return fmt.Errorf("credrotate: mapped role %q is SUPERUSER or CREATEROLE; refusing to let pgshield SET ROLE to it", m)
			}
			if _, err := conn.Exec(ctx, "GRANT "+quoteIdent(m)+" TO "+quoteIdent(base)).ReadAll(); err != nil {
				return stmtError("grant mapped role to group", base, err)
			}
		}
		return nil
	})
}

// checkSafe refuses an existing role with rights pgshield's roles must not
// have, rather than silently keep or silently strip them.
func (a roleAttrs) checkSafe(role string) error {
	if a.super || a.createRole || a.createDB || a.bypassRLS || a.repl {
		return fmt.Errorf("credrotate: role %s exists with SUPERUSER, CREATEROLE, CREATEDB, BYPASSRLS or REPLICATION; refusing to use it", role)
	}
	return nil
}

func readRole(ctx context.Context, conn *pgconn.PgConn, role string) (roleAttrs, error) {
	res := conn.ExecParams(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication,
		rolcanlogin, rolinherit FROM pg_roles WHERE rolname = $1`, [][]byte{[]byte(role)}, nil, nil, nil).Read()
	if res.Err != nil {
		return roleAttrs{}, fmt.Errorf("credrotate: reading role %s: %w", role, res.Err)
	}
	if len(res.Rows) == 0 {
		return roleAttrs{}, nil
	}
	row := res.Rows[0]
	t := func(i int) bool { return string(row[i]) == "t" }
	return roleAttrs{exists: true, super: t(0), createRole: t(1), createDB: t(2), bypassRLS: t(3), repl: t(4),
		canLogin: t(5), inherit: t(6)}, nil
}
