// Package credrotate rotates pgshield's own backend login passwords without
// downtime.
//
// # Alternating users
//
// pgshield logs into PostgreSQL as one of two login roles, <base>_a and
// <base>_b. Both are INHERIT, NOSUPERUSER, NOCREATEDB, NOCREATEROLE,
// NOBYPASSRLS, NOREPLICATION members of the NOLOGIN group role <base>,
// which holds every privilege; so whichever login is active, pgshield has
// the same rights. One login is active, the other is retiring or idle
// (NOLOGIN, no password). Rotator.Rotate moves from the active login to
// the idle one:
//
//  1. generated: a new password for the idle login is saved in the store as
//     version N+1, pending, before the database is touched, so a crash never
//     loses a password the database already has;
//  2. applied:   ALTER ROLE idle WITH LOGIN PASSWORD … VALID UNTIL 'infinity';
//  3. verified:  a real login with the new password;
//  4. activated: the store marks N+1 active and N retiring; from here on the
//     proxy's backend.Options.Credentials (credrotate.Credentials) hands out
//     the new login;
//  5. grace:     Options.Grace passes, measured from the switch, so that
//     connections opened with the old login drain;
//  6. drained:   pg_stat_activity shows no session of the old login; it is
//     polled for up to Options.MaxWait, after which leftovers are
//     terminated (Options.TerminateAfterGrace) or the rotation reports
//     ErrSessionsRemain, leaving the step for a later Resume or Rotate;
//  7. disabled:  ALTER ROLE old WITH NOLOGIN PASSWORD NULL;
//  8. expired:   the store marks N expired and forgets its password;
//  9. done:      an event only; the rotation record is gone.
//
// Each step is recorded in credstore.State.Rotation once done, and each is
// idempotent. Resume, called at start-up, continues from the recorded step;
// a rotation whose new password was never recorded as applied is rolled
// back instead (the idle login is disabled again and the pending credential
// dropped). A failure before the switch rolls back at once; a failure after
// it is left for Resume, because the proxy already uses the new login.
//
// Every step emits an Event (Options.Events) carrying the step, login and
// version, never a password.
//
// # Role switching
//
// pgshield SET ROLEs to the mapped roles after logging in. Both logins
// must be able to reach exactly the same roles, so the grants live on the
// group, never on a login: Bootstrap runs GRANT <mapped> TO <base> for
// each of Options.MappedRoles. A login may SET ROLE to any role it is a
// member of, directly or through <base>. <base> is NOINHERIT, so the
// mapped roles' privileges do not flow into <base> nor into the logins:
// until pgshield runs SET ROLE, a session has <base>'s own privileges only,
// and a RESET ROLE does not widen them to the union of every mapped role.
// (On PostgreSQL 16+ the grant to a NOINHERIT role gets INHERIT FALSE and
// SET TRUE, which is the same thing.)
//
// # Who runs ALTER ROLE
//
// Options.Admin is a separate connection, a superuser or a CREATEROLE role
// holding ADMIN OPTION on both logins (PostgreSQL 16+ grants that to the
// role that created them). The login roles cannot change each other's
// passwords: that takes CREATEROLE, which pgshield's logins never get. The
// admin configuration comes from an environment variable or a file, never a
// command-line flag, which any local user can read in the process list.
//
// Passwords never reach PostgreSQL in clear: ALTER ROLE carries a
// SCRAM-SHA-256 verifier computed here, as psql's \password does, so even a
// server logging every statement does not log the password. The statements
// are still never logged nor put in errors; errors name the statement's
// kind ("alter role password") and the login only.
//
// # Single logins
//
// In rolemap's "login" mode every mapped role has its own login, and there
// is no second login to alternate with. RotateSingle changes such a password
// in place; see its documentation for the window this leaves and how the
// Options.Serialize hook closes it.
//
// Scheduler runs Rotate every Options.Interval after the active
// credential's activation, so restarts do not reset the clock.
package credrotate
