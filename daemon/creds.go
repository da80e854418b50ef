package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/audit"
	"github.com/pgshield/pgshield/config"
	"github.com/pgshield/pgshield/credrotate"
	"github.com/pgshield/pgshield/credstore"
	"github.com/pgshield/pgshield/metrics"
)

// creds is the encrypted credential store and, with an admin DSN, its
// rotator. The daemon owns it: close releases the store's lock.
type creds struct {
	store credstore.Store
	rot   credrotate.Rotator // nil without an admin DSN: no rotation
	base  string
	// loginMode: every mapped role is a login of its own (role_mode login),
	// rotated in place; roles lists them.
	loginMode bool
	roles     []string
	// locks serialize a role's password change against its new logins.
	locksMu sync.Mutex
	locks   map[string]*sync.RWMutex
}

// OpenCredentials opens the store named by cfg and, when an admin DSN is
// configured, a rotator over it (resuming an interrupted rotation when
// resume is set). sink, when not nil, receives a record of every rotation
// step.
func OpenCredentials(ctx context.Context, cfg *config.Config, log *slog.Logger, sink audit.Sink, resume bool) (*creds, error) {
	return openCredentials(ctx, cfg, log, sink, resume, nil, nil)
}

// openCredentials is OpenCredentials with a hook called once a new login
// is active (the daemon retires the old login's pooled connections).
func openCredentials(ctx context.Context, cfg *config.Config, log *slog.Logger, sink audit.Sink, resume bool, onActivated func(), m *metrics.Metrics) (*creds, error) {
	cr := cfg.Credentials
	key, created, err := credstore.LoadOrCreateIdentityKey(cr.IdentityKeyFile, nil)
	if err != nil {
		return nil, fmt.Errorf("credentials.identity_key_file: %w", err)
	}
	if created {
		log.Warn("created a new node identity key; split it among shareholders with pgshield keys split", "path", cr.IdentityKeyFile)
	}
	store, err := credstore.Open(credstore.Options{Path: cr.StoreFile, Method: credstore.Method(cr.Method), Key: key})
	if err != nil {
		return nil, fmt.Errorf("credentials.store_file: %w", err)
	}
	c := &creds{store: store, base: cfg.Backend.LoginRole, loginMode: cfg.RoleMode == "login", locks: map[string]*sync.RWMutex{}}
	dsn, err := cfg.AdminDSN()
	if err != nil {
		if cr.Rotate {
			store.Close()
			return nil, err
		}
		return c, nil // no rotation: the store's active credential is used as it is
	}
	admin, err := pgconn.ParseConfig(dsn)
	if err != nil {
		store.Close()
		return nil, errors.New("credentials: the admin DSN does not parse") // never echo it
	}
	var mapped []string
	for _, id := range cfg.Identities {
		if id.Role != "" && !contains(mapped, id.Role) {
			mapped = append(mapped, id.Role)
		}
	}
	c.roles = mapped
	base := cfg.Backend.LoginRole
	if c.loginMode {
		mapped, base = nil, "" // no alternating pair: each role rotates in place
	}
	c.rot, err = credrotate.New(credrotate.Options{
		Store: store, Base: base, Admin: admin, MappedRoles: mapped, Serialize: c.serializer(),
		PasswordHexChars: cr.PasswordHexChars, Grace: cr.GracePeriod, TerminateAfterGrace: cr.TerminateAfterGrace,
		Logger: log,
		Events: func(e credrotate.Event) {
			if e.Err == nil && e.Step == credrotate.StepActivated && onActivated != nil {
				onActivated()
			}
			if e.Step == credrotate.StepDone || e.Err != nil {
				m.CredentialRotation(e.Err)
			}
			if sink == nil {
				return
			}
			detail := map[string]string{"step": string(e.Step), "login": e.Login, "version": strconv.Itoa(e.Version)}
			if e.Err != nil {
				detail["error"] = e.Err.Error()
			}
			sink.Append(context.Background(), &audit.Record{Kind: audit.KindCredentialRotation, Detail: detail})
		},
	})
	if err != nil {
		store.Close()
		return nil, err
	}
	if resume {
		if err := c.rot.Resume(ctx); err != nil {
			store.Close()
			return nil, fmt.Errorf("credentials: resuming an interrupted rotation: %w", err)
		}
	}
	return c, nil
}

// Rotator is the rotator, nil when no admin DSN is configured.
func (c *creds) Rotator() credrotate.Rotator { return c.rot }

// Store is the credential store.
func (c *creds) Store() credstore.Store { return c.store }

// Close releases the store.
func (c *creds) Close() error { return c.store.Close() }

// lock returns role's login lock.
func (c *creds) lock(role string) *sync.RWMutex {
	c.locksMu.Lock()
	defer c.locksMu.Unlock()
	l, ok := c.locks[role]
	if !ok {
		l = &sync.RWMutex{}
		c.locks[role] = l
	}
	return l
}

// serializer runs a password change while no login of that role is under
// way (credrotate.Options.Serialize); the rotating role is the one whose
// lock is free. Logins take the lock shared (around).
func (c *creds) serializer() func(fn func() error) error {
	return func(fn func() error) error {
		// credrotate serializes one login at a time and calls this for it;
		// taking every role's lock keeps this simple and the window is one
		// ALTER ROLE plus one verification login.
		c.locksMu.Lock()
		roles := append([]string(nil), c.roles...)
		c.locksMu.Unlock()
		for _, r := range roles {
			c.lock(r).Lock()
		}
		defer func() {
			for _, r := range roles {
				c.lock(r).Unlock()
			}
		}()
		return fn()
	}
}

// around wraps a backend login in its role's shared lock.
func (c *creds) around(role string, login func() error) error {
	if !c.loginMode || role == "" {
		return login()
	}
	l := c.lock(role)
	l.RLock()
	defer l.RUnlock()
	return login()
}

// activeFor returns the credential for role ("" = the authenticator).
func (c *creds) activeFor(role string) (string, string, error) {
	if role == "" {
		return c.active()
	}
	if cred, ok := c.store.Snapshot().Active(role); ok {
		return cred.Login, cred.Password(), nil
	}
	return "", "", fmt.Errorf("credentials: no active credential for role %s (run pgshield creds init)", role)
}

// bootstrap gives every login its first stored password.
func (c *creds) bootstrap(ctx context.Context, superuser *pgconn.Config) error {
	if !c.loginMode {
		return c.rot.Bootstrap(ctx, superuser)
	}
	for _, r := range c.roles {
		if err := c.rot.BootstrapSingle(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// rotate rotates now: the alternating pair, or every role in login mode.
func (c *creds) rotate(ctx context.Context) error {
	if !c.loginMode {
		return c.rot.Rotate(ctx)
	}
	for _, r := range c.roles {
		if err := c.rot.RotateSingle(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Bootstrap creates the logins' first stored passwords (pgshield creds init).
func (c *creds) Bootstrap(ctx context.Context, superuser *pgconn.Config) error {
	if c.rot == nil {
		return errors.New("credentials: no admin connection")
	}
	return c.bootstrap(ctx, superuser)
}

// Rotate rotates now (pgshield creds rotate).
func (c *creds) Rotate(ctx context.Context) error { return c.rotate(ctx) }

// active returns the login and password new backend connections use.
func (c *creds) active() (string, string, error) {
	if c.rot != nil {
		return credrotate.Credentials(c.rot)()
	}
	st := c.store.Snapshot()
	for _, login := range []string{c.base + "_a", c.base + "_b"} {
		if cred, ok := st.Active(login); ok {
			return cred.Login, cred.Password(), nil
		}
	}
	return "", "", errors.New("credentials: the store has no active credential (run pgshield creds init)")
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// RotateCredentials rotates the backend login now (the admin interface and
// tests); the schedule follows the new activation.
func (d *Daemon) RotateCredentials(ctx context.Context) error {
	if d.creds == nil || d.creds.rot == nil {
		return errors.New("credential rotation is not configured (credentials.store_file and admin_dsn)")
	}
	return d.creds.rotate(ctx)
}
