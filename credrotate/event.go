package credrotate

import (
	"errors"
	"fmt"
	"time"
)

// Step names a rotation step. The names are recorded in
// credstore.Rotation.Step and appear in events and the audit log.
type Step string

// The steps, in order. See the package documentation.
const (
	StepGenerated Step = "generated"
	StepApplied   Step = "applied"
	StepVerified  Step = "verified"
	StepActivated Step = "activated"
	StepGrace     Step = "grace"
	StepDrained   Step = "drained"
	StepDisabled  Step = "disabled"
	StepExpired   Step = "expired"
	// StepDone reports a finished rotation; it is never recorded, as the
	// record is dropped together with StepExpired.
	StepDone Step = "done"

	// StepRolledBack reports a rotation undone before its switch.
	StepRolledBack Step = "rolled_back"
	// StepBootstrapped reports Bootstrap's first credential.
	StepBootstrapped Step = "bootstrapped"
)

// rank gives each recorded step its position, so Resume can ask "is the
// recorded step at or after X"; 0 for steps that are never recorded.
func (s Step) rank() int {
	switch s {
	case StepGenerated:
		return 1
	case StepApplied:
		return 2
	case StepVerified:
		return 3
	case StepActivated:
		return 4
	case StepGrace:
		return 5
	case StepDrained:
		return 6
	case StepDisabled:
		return 7
	case StepExpired:
		return 8
	}
	return 0
}

// Event reports one step. It never carries a password.
type Event struct {
	// Step is the step done, or being attempted when Err is set.
	Step Step
	// Login is the login the step concerns: the new one up to activated,
	// the old one from grace on.
	Login string
	// Version is that login's credential version.
	Version int
	// Time is when the step ended, from Options.Now.
	Time time.Time
	// Err is why the step failed; nil on success.
	Err error
}

// String formats the event for logs.
func (e Event) String() string {
	s := fmt.Sprintf("credrotate %s login=%s version=%d", e.Step, e.Login, e.Version)
	if e.Err != nil {
		s += " error: " + e.Err.Error()
	}
	return s
}

var (
	// ErrSessionsRemain means the old login still has sessions after
	// Grace+MaxWait; the rotation is done except for disabling the old
	// login, which Resume retries.
	ErrSessionsRemain = errors.New("credrotate: the old login still has sessions")
	// ErrNotInitialised means the store holds no active credential for the
	// alternating logins; run Bootstrap (pgshield creds init).
	ErrNotInitialised = errors.New("credrotate: no active credential; run `pgshield creds init`")
	// ErrOtherRotation means the store records an interrupted rotation this
	// call cannot finish (another mode's or another base's).
	ErrOtherRotation = errors.New("credrotate: another rotation is in progress")
)
