package loadgen

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// Held is a set of idle client connections, each past its TLS handshake and
// start-up (ReadyForQuery received). The caller must call Close.
type Held struct {
	mu    sync.Mutex
	conns []*pgconn.PgConn
}

// Hold opens n connections, at most parallel at a time, and keeps them idle.
// On failure it closes what it opened and names the client that failed.
func Hold(ctx context.Context, cfg *pgconn.Config, n, parallel int) (*Held, error) {
	h := &Held{conns: make([]*pgconn.PgConn, n)}
	err := forEach(ctx, n, max(parallel, 1), func(i int) error {
		c, err := pgconn.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.conns[i] = c
		h.mu.Unlock()
		return nil
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("loadgen: hold %d connections: %w", n, err)
	}
	return h, nil
}

// Close closes every held connection. It is safe to call more than once.
func (h *Held) Close() {
	h.mu.Lock()
	conns := h.conns
	h.conns = nil
	h.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.Close(context.Background())
		}()
	}
	wg.Wait()
}
