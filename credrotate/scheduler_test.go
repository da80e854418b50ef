package credrotate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
)

// fakeStore satisfies credstore.Store for tests that never touch it.
type fakeStore struct{}

func (fakeStore) Snapshot() credstore.State                  { return credstore.State{} }
func (fakeStore) Active(string) (credstore.Credential, bool) { return credstore.Credential{}, false }
func (fakeStore) Update(context.Context, func(*credstore.State) error) error {
	return errors.New("fake")
}
func (fakeStore) Close() error { return nil }

// fakeRotator counts calls; each Rotate activates a new credential "now".
type fakeRotator struct {
	now func() time.Time

	mu          sync.Mutex
	activatedAt time.Time
	rotations   int
	resumes     int
	failRotate  error
}

func (f *fakeRotator) Bootstrap(context.Context, *pgconn.Config) error { return nil }
func (f *fakeRotator) RotateSingle(context.Context, string) error      { return nil }
func (f *fakeRotator) BootstrapSingle(context.Context, string) error   { return nil }

func (f *fakeRotator) Rotate(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRotate != nil {
		return f.failRotate
	}
	f.rotations++
	f.activatedAt = f.now()
	return nil
}

func (f *fakeRotator) Resume(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumes++
	return nil
}

func (f *fakeRotator) Active() (credstore.Credential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := credstore.NewCredential("x_a", 1, "unused-test-password", f.activatedAt)
	c.State, c.ActivatedAt = credstore.StateActive, f.activatedAt
	return c, nil
}

func (f *fakeRotator) counts() (rotations, resumes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rotations, f.resumes
}

func TestSchedulerUntilDue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		activatedAt time.Time
		want        time.Duration
	}{
		{"just activated", now, 168 * time.Hour},
		{"activated a day ago", now.Add(-24 * time.Hour), 144 * time.Hour},
		{"overdue", now.Add(-200 * time.Hour), 0},
		{"unknown activation", time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRotator{now: func() time.Time { return now }, activatedAt: tt.activatedAt}
			s, err := NewScheduler(SchedulerOptions{Rotator: f, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.(*scheduler).untilDue(); got != tt.want {
				t.Errorf("untilDue = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSchedulerRunAndClose(t *testing.T) {
	f := &fakeRotator{now: time.Now, activatedAt: time.Now()}
	s, err := NewScheduler(SchedulerOptions{Rotator: f, Interval: 50 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, _ := f.counts(); n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not rotate twice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.RotateNow(context.Background()); err != nil {
		t.Fatalf("RotateNow: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after Close", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Run")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.RotateNow(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("RotateNow after Close = %v, want ErrClosed", err)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if _, resumes := f.counts(); resumes < 1 {
		t.Errorf("Run did not Resume first")
	}
}

func TestSchedulerRetriesAfterFailure(t *testing.T) {
	f := &fakeRotator{now: time.Now, failRotate: errors.New("backend down")}
	s, err := NewScheduler(SchedulerOptions{Rotator: f, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		// Each retry resumes before rotating again.
		if _, r := f.counts(); r >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduler did not retry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v after cancel", err)
	}
	s.Close()
}
