package credrotate

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
)

// Defaults for the zero values in Options.
const (
	DefaultGrace        = 5 * time.Minute
	DefaultMaxWait      = 5 * time.Minute
	DefaultPollInterval = time.Second
)

// Options configures New. Zero values are documented per field; New
// validates the struct once and never changes it afterwards.
type Options struct {
	// Store holds the credentials and the rotation bookkeeping. Required.
	// The Rotator does not close it.
	Store credstore.Store
	// Base is the NOLOGIN group role holding pgshield's privileges; the
	// logins are Base+"_a" and Base+"_b". Required for Bootstrap, Rotate and
	// Credentials; RotateSingle ignores it. Lower-case letters, digits and
	// underscores, starting with a letter or underscore, at most 61 bytes.
	Base string
	// Admin connects as the role that runs ALTER ROLE (a superuser or a
	// CREATEROLE role with ADMIN OPTION on the logins) and reads
	// pg_stat_activity. Required. It must come from pgconn.ParseConfig.
	Admin *pgconn.Config
	// MappedRoles are the roles pgshield switches to with SET ROLE after
	// logging in (rolemap's targets). Bootstrap grants each to Base, so
	// both logins reach them through Base; see "Role switching" in the
	// package documentation. Each must exist and must not be SUPERUSER or
	// CREATEROLE: SET ROLE would hand that power to the proxy. Nil grants
	// nothing; Rotate ignores the field.
	MappedRoles []string
	// Login is where verification logins go: the backend's host, port,
	// database and TLS settings. Its User and Password are replaced by the
	// login being verified. Nil means Admin's.
	Login *pgconn.Config
	// PasswordHexChars is the length of generated passwords in hex
	// characters; 0 means credstore.DefaultPasswordHexChars (64), fewer than
	// credstore.MinPasswordHexChars (32) is refused.
	PasswordHexChars int
	// Grace is how long connections opened with the old login may keep
	// running after the switch; 0 means DefaultGrace.
	Grace time.Duration
	// MaxWait is how long after Grace the rotation polls for the old
	// login's sessions to end before terminating them or reporting
	// ErrSessionsRemain; 0 means DefaultMaxWait.
	MaxWait time.Duration
	// PollInterval is how often pg_stat_activity is polled; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// TerminateAfterGrace calls pg_terminate_backend on the old login's
	// sessions still running after Grace+MaxWait. False (the default)
	// leaves them alone: the rotation reports ErrSessionsRemain and a
	// later Resume or Rotate retries the step.
	TerminateAfterGrace bool
	// Serialize runs fn while no new backend login may start, for
	// RotateSingle; nil makes RotateSingle fail. The proxy typically holds
	// a sync.RWMutex: read-locked around Credentials+connect, write-locked
	// here.
	Serialize func(fn func() error) error
	// Events receives one Event per step, synchronously, from the rotating
	// goroutine; nil discards them. It must not call back into the Rotator.
	Events func(Event)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// After waits like time.After; nil means time.After. Tests pass a fake
	// clock's.
	After func(time.Duration) <-chan time.Time
	// Rand supplies passwords and SCRAM salts; nil means crypto/rand.
	Rand io.Reader
	// Logger receives step progress and failures, never a password or a
	// statement carrying one; nil discards.
	Logger *slog.Logger

	// hook, for tests only, is called twice per step: with recorded false
	// after the step's work is done but before the store records it, and
	// with recorded true after. An error stops the rotation right there,
	// as a crash would: no rollback, no further event.
	hook func(step Step, recorded bool) error
}

// withDefaults validates o and fills in the zero values.
func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, errors.New("credrotate: Options.Store is required")
	}
	if o.Admin == nil {
		return o, errors.New("credrotate: Options.Admin is required")
	}
	if o.Base != "" {
		if err := checkRoleName(o.Base + "_a"); err != nil {
			return o, fmt.Errorf("credrotate: Options.Base: %w", err)
		}
	}
	for _, m := range o.MappedRoles {
		if m == "" || len(m) > 63 || strings.ContainsRune(m, 0) {
			return o, fmt.Errorf("credrotate: Options.MappedRoles: bad role name %q", m)
		}
		if o.Base != "" && (m == o.Base || m == o.Base+"_a" || m == o.Base+"_b") {
			return o, fmt.Errorf("credrotate: Options.MappedRoles must not name %s or its logins", o.Base)
		}
	}
	if o.Login == nil {
		o.Login = o.Admin
	}
	switch {
	case o.PasswordHexChars == 0:
		o.PasswordHexChars = credstore.DefaultPasswordHexChars
	case o.PasswordHexChars < credstore.MinPasswordHexChars || o.PasswordHexChars > credstore.MaxPasswordHexChars:
		return o, fmt.Errorf("credrotate: Options.PasswordHexChars %d is outside %d..%d",
			o.PasswordHexChars, credstore.MinPasswordHexChars, credstore.MaxPasswordHexChars)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"Grace", &o.Grace, DefaultGrace}, {"MaxWait", &o.MaxWait, DefaultMaxWait}, {"PollInterval", &o.PollInterval, DefaultPollInterval}} {
		if *d.v < 0 {
			return o, fmt.Errorf("credrotate: Options.%s is negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.Events == nil {
		o.Events = func(Event) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// String describes the options without the admin or login configurations,
// which carry passwords.
func (o Options) String() string {
	return fmt.Sprintf("credrotate.Options{Base:%q MappedRoles:%q Grace:%s MaxWait:%s PollInterval:%s TerminateAfterGrace:%t PasswordHexChars:%d}",
		o.Base, o.MappedRoles, o.Grace, o.MaxWait, o.PollInterval, o.TerminateAfterGrace, o.PasswordHexChars)
}

// GoString is String, so %#v redacts too.
func (o Options) GoString() string { return o.String() }

// Format makes every fmt verb print String: Admin and Login hold passwords
// and must not be printed by a stray %+v.
func (o Options) Format(f fmt.State, _ rune) { io.WriteString(f, o.String()) }
