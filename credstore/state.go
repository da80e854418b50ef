package credstore

import (
	"fmt"
	"io"
	"maps"
	"strings"
	"time"
)

// CredState is where a credential is in its rotation life cycle.
type CredState string

// Credential states. A rotation creates the next credential as pending and
// saves it before changing the database, so a crash never loses a password
// the database already has; it then activates it and retires the old one.
const (
	// StatePending is generated and saved but not yet known to be set in
	// the database; never used to log in.
	StatePending CredState = "pending"
	// StateActive is the credential new backend connections use; at most
	// one per login.
	StateActive CredState = "active"
	// StateRetiring still works for existing connections but is no longer
	// handed out.
	StateRetiring CredState = "retiring"
	// StateExpired no longer works; kept for the record, its password may
	// be empty.
	StateExpired CredState = "expired"
)

func (s CredState) valid() bool {
	return s == StatePending || s == StateActive || s == StateRetiring || s == StateExpired
}

// Credential is one login's password at one version. The zero time fields
// mean "has not happened". Copying a Credential is cheap and safe: the
// password is immutable.
type Credential struct {
	// Login is the PostgreSQL role the credential logs in as.
	Login string
	// Version increases with every rotation of the store's credentials.
	Version int
	// State is the credential's life-cycle state.
	State CredState
	// CreatedAt is when the password was generated.
	CreatedAt time.Time
	// ActivatedAt, RetiringAt and ExpiredAt are when it entered those
	// states.
	ActivatedAt, RetiringAt, ExpiredAt time.Time

	// password is a pointer to a string, not a string or a struct: when fmt
	// reaches it through an unexported field it cannot call our Format
	// methods, and it prints a *string (unlike a pointer to a struct) as a
	// bare address, whatever the verb.
	password *string
}

// NewCredential returns a pending credential for login at version with the
// given password, created at createdAt.
func NewCredential(login string, version int, password string, createdAt time.Time) Credential {
	return Credential{Login: login, Version: version, State: StatePending, CreatedAt: createdAt, password: &password}
}

// Password returns the password. It is the only way to read it; do not log
// the result.
func (c Credential) Password() string {
	if c.password == nil {
		return ""
	}
	return *c.password
}

// ClearPassword drops the password, as an expired credential no longer needs
// it.
func (c *Credential) ClearPassword() { c.password = nil }

// String describes the credential with the password redacted.
func (c Credential) String() string {
	pw := "<none>"
	if c.Password() != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("credstore.Credential{Login:%q Version:%d State:%s Password:%s}", c.Login, c.Version, c.State, pw)
}

// GoString is String, so %#v redacts too.
func (c Credential) GoString() string { return c.String() }

// Format makes every fmt verb, not just %v and %s, print String.
func (c Credential) Format(f fmt.State, _ rune) { io.WriteString(f, c.String()) }

// Rotation is the rotator's free-form bookkeeping, saved with the
// credentials so a rotation interrupted by a crash can resume where it
// stopped. This package stores it and does not interpret it.
type Rotation struct {
	// Step is the name of the last completed step.
	Step string `json:"step"`
	// Login is the login being rotated.
	Login string `json:"login,omitempty"`
	// TargetVersion is the credential version the rotation creates.
	TargetVersion int `json:"target_version"`
	// StartedAt is when the rotation began.
	StartedAt time.Time `json:"started_at,omitzero"`
	// Notes holds anything else the rotator needs. Never put secrets here:
	// Notes are printed by String.
	Notes map[string]string `json:"notes,omitempty"`
}

// State is the store's content. Values returned by Store.Snapshot are
// copies: changing them changes nothing until passed through Update.
type State struct {
	// Version counts successful Updates; a new store has version 0.
	Version int64
	// UpdatedAt is when the last Update was written; zero for a new store.
	UpdatedAt time.Time
	// Rotation is the in-progress rotation, nil when none is.
	Rotation *Rotation
	// Credentials holds every credential, in no guaranteed order.
	Credentials []Credential
}

// Active returns login's active credential.
func (s State) Active(login string) (Credential, bool) {
	for _, c := range s.Credentials {
		if c.Login == login && c.State == StateActive {
			return c, true
		}
	}
	return Credential{}, false
}

// Put stores c, replacing the credential with the same login and version
// if there is one.
func (s *State) Put(c Credential) {
	for i := range s.Credentials {
		if s.Credentials[i].Login == c.Login && s.Credentials[i].Version == c.Version {
			s.Credentials[i] = c
			return
		}
	}
	s.Credentials = append(s.Credentials, c)
}

// clone returns a copy sharing nothing mutable with s.
func (s State) clone() State {
	out := s
	out.Credentials = append([]Credential(nil), s.Credentials...)
	if s.Rotation != nil {
		r := *s.Rotation
		r.Notes = maps.Clone(r.Notes)
		out.Rotation = &r
	}
	return out
}

// validate checks the invariants Update and Open enforce. Its errors name
// logins and versions, never passwords.
func (s State) validate() error {
	type lv struct {
		login   string
		version int
	}
	seen := make(map[lv]bool, len(s.Credentials))
	active := make(map[string]int)
	for _, c := range s.Credentials {
		switch {
		case c.Login == "":
			return fmt.Errorf("credential version %d has an empty login", c.Version)
		case c.Version < 1:
			return fmt.Errorf("credential %s has version %d; versions start at 1", c.Login, c.Version)
		case !c.State.valid():
			return fmt.Errorf("credential %s v%d has unknown state %q", c.Login, c.Version, c.State)
		case c.State != StateExpired && c.Password() == "":
			return fmt.Errorf("credential %s v%d is %s but has no password", c.Login, c.Version, c.State)
		case seen[lv{c.Login, c.Version}]:
			return fmt.Errorf("credential %s v%d appears twice", c.Login, c.Version)
		}
		seen[lv{c.Login, c.Version}] = true
		if c.State == StateActive {
			if v, dup := active[c.Login]; dup {
				return fmt.Errorf("login %s has two active credentials (v%d and v%d)", c.Login, v, c.Version)
			}
			active[c.Login] = c.Version
		}
	}
	return nil
}

// String describes the state with every password redacted.
func (s State) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "credstore.State{Version:%d UpdatedAt:%s", s.Version, s.UpdatedAt.Format(time.RFC3339))
	if s.Rotation != nil {
		fmt.Fprintf(&b, " Rotation:%+v", *s.Rotation)
	}
	b.WriteString(" Credentials:[")
	for i, c := range s.Credentials {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(c.String())
	}
	b.WriteString("]}")
	return b.String()
}

// GoString is String, so %#v redacts too.
func (s State) GoString() string { return s.String() }

// Format makes every fmt verb print String.
func (s State) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }
