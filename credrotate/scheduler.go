package credrotate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Scheduling defaults.
const (
	DefaultInterval      = 168 * time.Hour
	DefaultRetryInterval = time.Minute
	// maxSleep bounds one wait, so that a clock jump (a suspended VM, a
	// corrected clock) is noticed within the hour.
	maxSleep = time.Hour
)

// ErrClosed is returned by a Scheduler's methods after Close.
var ErrClosed = errors.New("credrotate: scheduler closed")

// Scheduler rotates on a schedule. Whoever calls Run must call Close (or
// cancel Run's context) to stop it.
type Scheduler interface {
	// Run resumes an interrupted rotation, then rotates every
	// SchedulerOptions.Interval after the active credential's activation
	// until ctx is done or Close is called; then it returns nil. Failures
	// are logged and retried after RetryInterval.
	Run(ctx context.Context) error
	// RotateNow rotates at once (pgshield creds rotate); it waits for a
	// rotation already running. Run's schedule follows the new activation.
	RotateNow(ctx context.Context) error
	// Close stops Run and any RotateNow and waits for them to return. It
	// is idempotent.
	Close() error
}

// SchedulerOptions configures NewScheduler.
type SchedulerOptions struct {
	// Rotator does the rotations. Required.
	Rotator Rotator
	// Interval is the time between rotations; 0 means DefaultInterval.
	Interval time.Duration
	// RetryInterval is the wait after a failed rotation or resume; 0
	// means DefaultRetryInterval.
	RetryInterval time.Duration
	// Now, After and Logger are as in Options; nil means time.Now,
	// time.After and a discarding logger.
	Now    func() time.Time
	After  func(time.Duration) <-chan time.Time
	Logger *slog.Logger
}

type scheduler struct {
	// opts is validated by NewScheduler and never changes.
	opts SchedulerOptions
	// stop is cancelled by Close; Run and RotateNow contexts follow it.
	stop   context.Context
	cancel context.CancelFunc

	// mu guards closed and running; calls counts Run and RotateNow calls
	// in flight, which Close waits for.
	mu      sync.Mutex
	closed  bool
	running bool
	calls   sync.WaitGroup
}

// NewScheduler validates opts. It starts nothing: call Run.
func NewScheduler(opts SchedulerOptions) (Scheduler, error) {
	if opts.Rotator == nil {
		return nil, errors.New("credrotate: SchedulerOptions.Rotator is required")
	}
	if opts.Interval < 0 || opts.RetryInterval < 0 {
		return nil, errors.New("credrotate: negative scheduler interval")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	stop, cancel := context.WithCancel(context.Background())
	return &scheduler{opts: opts, stop: stop, cancel: cancel}, nil
}

// enter registers a call and returns its context, which Close cancels.
func (s *scheduler) enter(ctx context.Context, run bool) (context.Context, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if run && s.running {
		return nil, nil, errors.New("credrotate: Scheduler.Run is already running")
	}
	s.running = s.running || run
	s.calls.Add(1)
	ctx, cancel := context.WithCancel(ctx)
	unlink := context.AfterFunc(s.stop, cancel)
	return ctx, func() {
		unlink()
		cancel()
		s.mu.Lock()
		if run {
			s.running = false
		}
		s.mu.Unlock()
		s.calls.Done()
	}, nil
}

func (s *scheduler) RotateNow(ctx context.Context) error {
	ctx, leave, err := s.enter(ctx, false)
	if err != nil {
		return err
	}
	defer leave()
	return s.opts.Rotator.Rotate(ctx)
}

func (s *scheduler) Run(ctx context.Context) error {
	ctx, leave, err := s.enter(ctx, true)
	if err != nil {
		return err
	}
	defer leave()
	err = s.opts.Rotator.Resume(ctx)
	s.logErr("resuming the interrupted rotation", err)
	for {
		wait := s.opts.RetryInterval
		if err == nil {
			wait = s.untilDue()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.After(min(wait, maxSleep)):
		}
		if err != nil {
			// A failed rotation may have left a step pending
			// (ErrSessionsRemain): finish it before anything else.
			if err = s.opts.Rotator.Resume(ctx); err != nil {
				s.logErr("resuming the interrupted rotation", err)
				continue
			}
		}
		if s.untilDue() > 0 {
			continue
		}
		err = s.opts.Rotator.Rotate(ctx)
		s.logErr("scheduled rotation", err)
	}
}

// untilDue is how long until the active credential is Interval old; 0 if
// overdue or if the active credential cannot be read (Rotate will report
// why).
func (s *scheduler) untilDue() time.Duration {
	c, err := s.opts.Rotator.Active()
	if err != nil || c.ActivatedAt.IsZero() {
		return 0
	}
	return max(c.ActivatedAt.Add(s.opts.Interval).Sub(s.opts.Now()), 0)
}

func (s *scheduler) logErr(what string, err error) {
	if err != nil && s.stop.Err() == nil {
		s.opts.Logger.Error(fmt.Sprintf("credrotate: %s failed", what), slog.Any("err", err))
	}
}

func (s *scheduler) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.calls.Wait()
	return nil
}
