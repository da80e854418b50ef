package edge

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for ThrottleOptions.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestThrottle(t *testing.T, opts ThrottleOptions) (*Throttle, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	opts.Now = clk.Now
	th, err := NewThrottle(opts)
	if err != nil {
		t.Fatal(err)
	}
	return th, clk
}

func fail(th *Throttle, addr string, n int) {
	a := netip.MustParseAddr(addr)
	for range n {
		th.Failure(a)
	}
}

func blocked(th *Throttle, addr string) bool {
	b, _ := th.Blocked(netip.MustParseAddr(addr))
	return b
}

func TestThrottleBlocksAfterMaxFailures(t *testing.T) {
	th, clk := newTestThrottle(t, ThrottleOptions{MaxFailures: 3, Window: time.Minute, Block: 5 * time.Minute})
	fail(th, "192.0.2.1", 2)
	if blocked(th, "192.0.2.1") {
		t.Fatal("blocked after 2 of 3 failures")
	}
	fail(th, "192.0.2.1", 1)
	b, left := th.Blocked(netip.MustParseAddr("192.0.2.1"))
	if !b || left != 5*time.Minute {
		t.Fatalf("Blocked = %v, %v; want true, 5m", b, left)
	}
	if blocked(th, "192.0.2.2") {
		t.Error("IPv4 neighbour blocked too")
	}
	// Failures while blocked do not extend the block.
	clk.Advance(4 * time.Minute)
	fail(th, "192.0.2.1", 10)
	if _, left := th.Blocked(netip.MustParseAddr("192.0.2.1")); left != time.Minute {
		t.Errorf("left = %v, want 1m", left)
	}
	// Block expiry.
	clk.Advance(time.Minute)
	if blocked(th, "192.0.2.1") {
		t.Error("still blocked after Block elapsed")
	}
	// The source starts clean.
	fail(th, "192.0.2.1", 2)
	if blocked(th, "192.0.2.1") {
		t.Error("blocked again before MaxFailures")
	}
	s := th.Stats()
	if s.BlocksTotal != 1 || s.RefusedTotal != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestThrottleWindow(t *testing.T) {
	tests := []struct {
		name        string
		first       int
		gap         time.Duration
		second      int
		wantBlocked bool
	}{
		{"within window", 2, 30 * time.Second, 1, true},
		{"window fully expired", 2, 2 * time.Minute, 2, false},
		// 1.5 windows later half of the previous bucket still counts:
		// 4*0.5 + 2 = 4 < 5, one more makes 5.
		{"sliding, half decayed, under", 4, 90 * time.Second, 2, false},
		{"sliding, half decayed, over", 4, 90 * time.Second, 3, true},
		// A fixed window would forget everything at the boundary.
		{"boundary burst", 4, 61 * time.Second, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := 3
			if tt.first >= 3 {
				max = 5
			}
			th, clk := newTestThrottle(t, ThrottleOptions{MaxFailures: max, Window: time.Minute})
			fail(th, "198.51.100.5", tt.first)
			clk.Advance(tt.gap)
			fail(th, "198.51.100.5", tt.second)
			if got := blocked(th, "198.51.100.5"); got != tt.wantBlocked {
				t.Errorf("blocked = %v, want %v", got, tt.wantBlocked)
			}
		})
	}
}

func TestThrottleIPv6Grouping(t *testing.T) {
	tests := []struct {
		name     string
		prefix   int
		other    string
		wantSame bool
	}{
		{"same /64 by default", 0, "2001:db8:1:2:ffff::9", true},
		{"other /64", 0, "2001:db8:1:3::1", false},
		{"configured /48", 48, "2001:db8:1:ffff::1", true},
		{"configured /128", 128, "2001:db8:1:2::2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th, _ := newTestThrottle(t, ThrottleOptions{MaxFailures: 2, IPv6Prefix: tt.prefix})
			fail(th, "2001:db8:1:2::1", 2)
			if got := blocked(th, tt.other); got != tt.wantSame {
				t.Errorf("%s blocked = %v, want %v", tt.other, got, tt.wantSame)
			}
		})
	}
	// A dual-stack socket's view of an IPv4 client is the IPv4 source.
	th, _ := newTestThrottle(t, ThrottleOptions{MaxFailures: 2})
	fail(th, "::ffff:192.0.2.9", 1)
	fail(th, "192.0.2.9", 1)
	if !blocked(th, "192.0.2.9") {
		t.Error("IPv4-mapped and plain IPv4 counted apart")
	}
}

func TestThrottleEvictionBound(t *testing.T) {
	th, _ := newTestThrottle(t, ThrottleOptions{MaxFailures: 2, MaxTracked: 10})
	fail(th, "203.0.113.1", 2) // blocked, must survive the flood
	for i := range 100 {
		fail(th, fmt.Sprintf("10.0.%d.%d", i/256, i%256), 1)
	}
	s := th.Stats()
	if s.Tracked != 10 || s.EvictedTotal != 91 {
		t.Errorf("stats %+v, want 10 tracked, 91 evicted", s)
	}
	if !blocked(th, "203.0.113.1") {
		t.Error("a flood of new sources evicted an active block")
	}
	// Once only blocked sources remain, the oldest block goes.
	for i := range 20 {
		fail(th, fmt.Sprintf("10.1.0.%d", i), 2)
	}
	if s := th.Stats(); s.Tracked != 10 || s.BlockedNow != 10 {
		t.Errorf("stats %+v", s)
	}
	if blocked(th, "203.0.113.1") {
		t.Error("oldest block not evicted")
	}
}

func TestThrottleExpiredEntriesForgotten(t *testing.T) {
	th, clk := newTestThrottle(t, ThrottleOptions{MaxFailures: 2, Window: time.Minute, Block: time.Minute})
	fail(th, "192.0.2.1", 2) // blocked
	fail(th, "192.0.2.2", 1) // counting
	clk.Advance(3 * time.Minute)
	fail(th, "192.0.2.3", 1)
	if s := th.Stats(); s.Tracked != 1 {
		t.Errorf("tracked %d, want only the new source", s.Tracked)
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th, err := NewThrottle(ThrottleOptions{MaxFailures: 50, MaxTracked: 64})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(g), byte(i % 100)})
				th.Failure(a)
				th.Blocked(a)
				if i%50 == 0 {
					th.Stats()
				}
			}
		})
	}
	wg.Wait()
	if s := th.Stats(); s.Tracked > 64 {
		t.Errorf("tracked %d > MaxTracked", s.Tracked)
	}
}

func TestThrottleOptionsValidation(t *testing.T) {
	tests := []ThrottleOptions{
		{MaxFailures: -1},
		{Window: -time.Second},
		{Block: -time.Second},
		{MaxTracked: -5},
		{IPv4Prefix: 33},
		{IPv6Prefix: 129},
	}
	for _, o := range tests {
		if _, err := NewThrottle(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	th, err := NewThrottle(ThrottleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := th.opts; o.MaxFailures != 10 || o.Window != time.Minute || o.Block != 5*time.Minute ||
		o.MaxTracked != 100_000 || o.IPv4Prefix != 32 || o.IPv6Prefix != 64 {
		t.Errorf("defaults %+v", o)
	}
	if th.Failure(netip.Addr{}); th.Stats().Tracked != 0 {
		t.Error("invalid address tracked")
	}
}
