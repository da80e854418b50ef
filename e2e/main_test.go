package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgshield/pgshield/internal/testenv"
)

// env is the cluster and PKI every test in this package shares.
var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.MustStart(nil)
	code := m.Run()
	env.Stop()
	os.Exit(code)
}

// psql runs psql with dsn and the extra arguments, returning stdout and stderr.
func psql(t *testing.T, dsn string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", append([]string{"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn}, args...)...)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()), err
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// connectMany opens n pgx connections to dsn, at most handshakes of them
// connecting at once (TLS handshakes on two shared cores under the race
// detector are the bottleneck, not sessions). It fails the test when any
// cannot connect; the connections close at cleanup.
func connectMany(t *testing.T, c context.Context, dsn string, n, handshakes int) []*pgx.Conn {
	t.Helper()
	conns := make([]*pgx.Conn, n)
	t.Cleanup(func() {
		for _, conn := range conns {
			if conn != nil {
				conn.Close(context.Background())
			}
		}
	})
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, handshakes)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			conn, err := pgx.Connect(c, dsn)
			<-sem
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = conn
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d clients could not connect: %v", failed.Load(), n, firstErr.Load())
	}
	return conns
}
