package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pgshield/pgshield/backend"
)

// TestPoolHandoffLosesNoConnection: clients that give up waiting (their
// query_wait_timeout or context ends) while connections are being handed
// back never strand one: afterwards every open connection is idle and
// the pool serves Size clients at once.
func TestPoolHandoffLosesNoConnection(t *testing.T) {
	const size = 2
	var (
		mu    sync.Mutex
		peers []net.Conn
	)
	connect := func(context.Context) (*backend.Conn, error) {
		c, peer := net.Pipe()
		mu.Lock()
		peers = append(peers, c, peer)
		mu.Unlock()
		return &backend.Conn{Conn: c, Params: map[string]string{}}, nil
	}
	defer func() {
		for _, c := range peers {
			c.Close()
		}
	}()
	p := newPool(poolKey{database: "db"}, PoolSettings{Size: size, QueryWaitTimeout: 200 * time.Microsecond}, connect, time.Now)

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(300))*time.Microsecond)
				bc, err := p.acquire(ctx)
				cancel()
				if err != nil {
					continue // gave up waiting: the case under test
				}
				if rand.IntN(2) == 0 {
					time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
				}
				p.release(bc)
			}
		}()
	}
	wg.Wait()

	st := p.stats()
	p.mu.Lock()
	busy := len(p.busy)
	p.mu.Unlock()
	if busy != 0 || st.Idle != st.Open || st.Waiting != 0 {
		t.Fatalf("after every client left: open %d, idle %d, busy %d, waiting %d; a connection was stranded",
			st.Open, st.Idle, busy, st.Waiting)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.settings.QueryWaitTimeout = 5 * time.Second
	var held []*backendConn
	for i := 0; i < size; i++ {
		bc, err := p.acquire(ctx)
		if err != nil {
			t.Fatalf("acquire %d of %d: %v", i+1, size, err)
		}
		held = append(held, bc)
	}
	for _, bc := range held {
		p.release(bc)
	}
}

// TestPoolMaintainFailureWakesWaiter: when topping up to MinIdle fails, the
// slot it had reserved goes to a client already waiting for one, instead
// of that client waiting out its query_wait_timeout with a slot free.
func TestPoolMaintainFailureWakesWaiter(t *testing.T) {
	firstDial := make(chan struct{})
	failFirst := make(chan struct{})
	var calls sync.Mutex
	n := 0
	connect := func(context.Context) (*backend.Conn, error) {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first {
			close(firstDial)
			<-failFirst
			return nil, errors.New("database restarting")
		}
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		return &backend.Conn{Conn: c, Params: map[string]string{}}, nil
	}
	p := newPool(poolKey{database: "db"}, PoolSettings{Size: 1, MinIdle: 1, QueryWaitTimeout: 10 * time.Second}, connect, time.Now)

	maintained := make(chan struct{})
	go func() { defer close(maintained); p.maintain(context.Background()) }()
	<-firstDial // maintain holds the pool's only slot while it dials

	type result struct {
		bc  *backendConn
		err error
	}
	got := make(chan result, 1)
	go func() {
		bc, err := p.acquire(context.Background())
		got <- result{bc, err}
	}()
	for p.stats().Waiting == 0 {
		time.Sleep(time.Millisecond)
	}
	close(failFirst)
	<-maintained
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("acquire after maintain's failed dial: %v", r.err)
		}
		p.release(r.bc)
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting client was not told that maintain's slot came free")
	}
}

// TestPoolGrowServesWaiters: a reload that raises the pool size gives each
// new slot to a client already waiting, without waiting for a release.
func TestPoolGrowServesWaiters(t *testing.T) {
	connect := func(context.Context) (*backend.Conn, error) {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		return &backend.Conn{Conn: c, Params: map[string]string{}}, nil
	}
	p := newPool(poolKey{database: "db"}, PoolSettings{Size: 1, QueryWaitTimeout: 10 * time.Second}, connect, time.Now)
	held, err := p.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const waiting = 3
	type result struct {
		bc  *backendConn
		err error
	}
	got := make(chan result, waiting)
	for range waiting {
		go func() {
			bc, err := p.acquire(context.Background())
			got <- result{bc, err} // held until every waiter is served
		}()
	}
	for p.stats().Waiting < waiting {
		time.Sleep(time.Millisecond)
	}
	p.setSettings(PoolSettings{Size: 1 + waiting, QueryWaitTimeout: 10 * time.Second})
	var served []*backendConn
	for i := range waiting {
		select {
		case r := <-got:
			if r.err != nil {
				t.Fatalf("waiter %d: %v", i+1, r.err)
			}
			served = append(served, r.bc)
		case <-time.After(3 * time.Second):
			t.Fatalf("%d of %d waiting clients were served after the pool grew; the rest still wait", i, waiting)
		}
	}
	for _, bc := range served {
		p.release(bc)
	}
	p.release(held)
}
