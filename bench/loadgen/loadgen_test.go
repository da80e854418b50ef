package loadgen

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	s := make([]time.Duration, 100)
	for i := range s {
		s[i] = time.Duration(i+1) * time.Millisecond
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 0: time.Millisecond, 1: 100 * time.Millisecond} {
		if got := percentile(s, q); got != want {
			t.Errorf("p%v = %v, want %v", q, got, want)
		}
	}
}

// TestForEachStopsOnError: the first error is returned and no new call
// starts after it.
func TestForEachStopsOnError(t *testing.T) {
	var calls atomic.Int64
	err := forEach(context.Background(), 1000, 1, func(i int) error {
		calls.Add(1)
		if i == 3 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || err.Error() != "client 3: boom" {
		t.Fatalf("err = %v", err)
	}
	if n := calls.Load(); n > 5 {
		t.Fatalf("%d calls after the error", n)
	}
}
