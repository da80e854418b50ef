package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

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
	c := &creds{store: store, base: cfg.Backend.LoginRole}
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
	c.rot, err = credrotate.New(credrotate.Options{
		Store: store, Base: cfg.Backend.LoginRole, Admin: admin, MappedRoles: mapped,
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
	return d.creds.rot.Rotate(ctx)
}
