// Package loadgen is the benchmark's own PostgreSQL load generator, on
// pgconn: pgbench's select-only transaction from many clients, one
// connection per transaction (as pgbench -C), and idle clients held open.
// It exists for what pgbench (libpq 15) cannot do: PostgreSQL 17 direct TLS
// (sslnegotiation=direct, for HAProxy), thousands of clients, and latency
// percentiles.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Options describes one load run.
type Options struct {
	// Config is where and how to connect; it is shared by every client and
	// never modified.
	Config *pgconn.Config
	// Clients is the number of concurrent clients; 1 when zero.
	Clients int
	// Duration is how long clients send transactions.
	Duration time.Duration
	// Scale is the pgbench scale factor: aid is drawn from 1..100000*Scale.
	// 1 when zero.
	Scale int
	// Connect opens a new connection for every transaction, as pgbench -C.
	Connect bool
}

// Result is what one run measured. Latencies are per transaction, the
// connection time included when Options.Connect is set.
type Result struct {
	Transactions int64         `json:"transactions"`
	Errors       int64         `json:"errors"`
	FirstError   string        `json:"first_error,omitempty"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	TPS          float64       `json:"tps"`
	P50          time.Duration `json:"p50_ns"`
	P90          time.Duration `json:"p90_ns"`
	P99          time.Duration `json:"p99_ns"`
}

// maxSamples bounds the latencies one client keeps.
const maxSamples = 1 << 20

// Run connects Clients clients and runs select-only transactions for
// Duration. It fails when no transaction at all succeeded.
func Run(ctx context.Context, opts Options) (Result, error) {
	clients := max(opts.Clients, 1)
	accounts := 100000 * max(opts.Scale, 1)
	var (
		res      Result
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
		samples  = make([][]time.Duration, clients)
		conns    = make([]*pgconn.PgConn, clients)
		errs     atomic.Int64
	)
	recordErr := func(err error) {
		errs.Add(1)
		msg := err.Error()
		firstErr.CompareAndSwap(nil, &msg)
	}
	// Connect everyone first, as pgbench does, unless each transaction connects.
	if !opts.Connect {
		defer func() {
			for _, c := range conns {
				if c != nil {
					c.Close(context.Background())
				}
			}
		}()
		if err := forEach(ctx, clients, 32, func(i int) error {
			c, err := pgconn.ConnectConfig(ctx, opts.Config)
			conns[i] = c
			return err
		}); err != nil {
			return res, fmt.Errorf("loadgen: connect: %w", err)
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	// A transaction in flight when the time is up may finish, as in pgbench,
	// but a target that stops answering cannot hold the run past this.
	txCtx, cancelTx := context.WithTimeout(ctx, opts.Duration+30*time.Second)
	defer cancelTx()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for runCtx.Err() == nil {
				t0 := time.Now()
				sql := fmt.Sprintf("SELECT abalance FROM pgbench_accounts WHERE aid = %d", rng.IntN(accounts)+1)
				if err := transaction(txCtx, opts, conns[i], sql); err != nil {
					if runCtx.Err() != nil {
						return
					}
					recordErr(err)
					if !opts.Connect {
						return // the connection is unusable; pgbench aborts the client too
					}
					continue
				}
				if len(samples[i]) < maxSamples {
					samples[i] = append(samples[i], time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	all := slices.Concat(samples...)
	slices.Sort(all)
	res.Transactions = int64(len(all))
	res.Errors = errs.Load()
	if p := firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	if len(all) == 0 {
		if res.FirstError != "" {
			return res, fmt.Errorf("loadgen: no transaction succeeded: %s", res.FirstError)
		}
		return res, errors.New("loadgen: no transaction succeeded")
	}
	res.TPS = float64(len(all)) / res.Elapsed.Seconds()
	res.P50, res.P90, res.P99 = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99)
	return res, nil
}

// transaction runs sql on conn, or on a new connection when opts.Connect.
func transaction(ctx context.Context, opts Options, conn *pgconn.PgConn, sql string) error {
	if opts.Connect {
		c, err := pgconn.ConnectConfig(ctx, opts.Config)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		conn = c
	}
	_, err := conn.Exec(ctx, sql).ReadAll()
	return err
}

// percentile of sorted, by the nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// forEach runs fn(0..n-1) with at most parallel at once and returns the
// first error; it stops starting new calls after one.
func forEach(ctx context.Context, n, parallel int, fn func(int) error) error {
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
		sem   = make(chan struct{}, parallel)
	)
	for i := range n {
		if first.Load() != nil || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				err = fmt.Errorf("client %d: %w", i, err)
				first.CompareAndSwap(nil, &err)
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}
