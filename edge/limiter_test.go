package edge

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLimiterHandshakes(t *testing.T) {
	l, err := NewLimiter(LimiterOptions{MaxHandshakes: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !l.TryAcquireHandshake() || !l.TryAcquireHandshake() {
		t.Fatal("could not take 2 of 2 slots")
	}
	if l.TryAcquireHandshake() {
		t.Fatal("third handshake admitted; a flood must be refused, not queued")
	}
	l.ReleaseHandshake()
	if !l.TryAcquireHandshake() {
		t.Fatal("slot not reusable after release")
	}
	s := l.Stats()
	if s.HandshakesInFlight != 2 || s.HandshakesRefusedTotal != 1 {
		t.Errorf("stats %+v", s)
	}
	l.ReleaseHandshake()
	l.ReleaseHandshake()
	defer func() {
		if recover() == nil {
			t.Error("over-release did not panic")
		}
	}()
	l.ReleaseHandshake()
}

func TestLimiterHandshakesConcurrent(t *testing.T) {
	const max = 5
	l, err := NewLimiter(LimiterOptions{MaxHandshakes: max})
	if err != nil {
		t.Fatal(err)
	}
	var inFlight, peak atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 200 {
				if !l.TryAcquireHandshake() {
					continue
				}
				n := inFlight.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				inFlight.Add(-1)
				l.ReleaseHandshake()
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > max {
		t.Errorf("peak %d > %d", p, max)
	}
	if s := l.Stats(); s.HandshakesInFlight != 0 {
		t.Errorf("in flight %d after all released", s.HandshakesInFlight)
	}
}

func TestLimiterPerIdentity(t *testing.T) {
	l, err := NewLimiter(LimiterOptions{
		DefaultPerIdentity: 2,
		PerIdentity:        map[string]int{"batch": 1, "pooler": Unlimited},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		identity string
		admitted int // how many concurrent Acquires succeed (of 5)
	}{
		{"batch", 1},
		{"web", 2}, // default
		{"pooler", 5},
	}
	for _, tt := range tests {
		t.Run(tt.identity, func(t *testing.T) {
			var releases []func()
			for range 5 {
				if rel, ok := l.Acquire(tt.identity); ok {
					releases = append(releases, rel)
				}
			}
			if len(releases) != tt.admitted {
				t.Fatalf("admitted %d, want %d", len(releases), tt.admitted)
			}
			releases[0]()
			releases[0]() // idempotent: must not free a second slot
			if _, ok := l.Acquire(tt.identity); !ok {
				t.Fatal("released slot not reusable")
			}
			if tt.admitted < 5 {
				if _, ok := l.Acquire(tt.identity); ok {
					t.Fatal("double release freed two slots")
				}
			}
		})
	}
	if s := l.Stats(); s.Identities != 3 || s.IdentityRefusedTotal == 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestLimiterReleasedIdentitiesForgotten(t *testing.T) {
	l, err := NewLimiter(LimiterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		rel, ok := l.Acquire(id)
		if !ok {
			t.Fatal(id)
		}
		rel()
	}
	if s := l.Stats(); s.Identities != 0 {
		t.Errorf("%d identities remembered after release", s.Identities)
	}
}

func TestLimiterOptions(t *testing.T) {
	tests := []struct {
		name string
		opts LimiterOptions
		want string
	}{
		{"zero per-identity entry", LimiterOptions{PerIdentity: map[string]int{"x": 0}}, `PerIdentity["x"]`},
		{"negative handshakes", LimiterOptions{MaxHandshakes: -2}, "MaxHandshakes"},
		{"negative default", LimiterOptions{DefaultPerIdentity: -3}, "DefaultPerIdentity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLimiter(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
	l, err := NewLimiter(LimiterOptions{MaxHandshakes: Unlimited})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if !l.TryAcquireHandshake() {
			t.Fatal("Unlimited refused")
		}
	}
	if l.defaultMax != DefaultMaxPerIdentity {
		t.Errorf("default per identity %d", l.defaultMax)
	}
}
