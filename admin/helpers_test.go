package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fakeController is a Controller with fixed data that records the calls
// that change something.
type fakeController struct {
	pools    []PoolInfo
	clients  []ClientInfo
	servers  []ServerInfo
	stats    []StatsInfo
	config   [][2]string
	security [][]string
	// err, when set, is returned by every method that can fail.
	err error
	// killed is what Kill returns.
	killed int
	// blockPause makes Pause wait for its context.
	blockPause bool

	mu    sync.Mutex // guards calls
	calls []string
}

func (f *fakeController) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeController) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeController) Pools() []PoolInfo     { return f.pools }
func (f *fakeController) Clients() []ClientInfo { return f.clients }
func (f *fakeController) Servers() []ServerInfo { return f.servers }
func (f *fakeController) Stats() []StatsInfo    { return f.stats }
func (f *fakeController) Config() [][2]string   { return f.config }
func (f *fakeController) Security() [][]string  { return f.security }

func (f *fakeController) Pause(ctx context.Context, db string) error {
	f.record(fmt.Sprintf("Pause(%q)", db))
	if f.blockPause {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func (f *fakeController) Resume(db string) error {
	f.record(fmt.Sprintf("Resume(%q)", db))
	return f.err
}

func (f *fakeController) Reload(context.Context) error {
	f.record("Reload()")
	return f.err
}

func (f *fakeController) Kill(identity string) (int, error) {
	f.record(fmt.Sprintf("Kill(%q)", identity))
	return f.killed, f.err
}

func (f *fakeController) Shutdown() error {
	f.record("Shutdown()")
	return f.err
}

func (f *fakeController) RotateCredentials(context.Context) error {
	f.record("RotateCredentials()")
	return f.err
}

// codedError is a Controller error that picks its SQLSTATE.
type codedError struct{ code, msg string }

func (e codedError) Error() string    { return e.msg }
func (e codedError) SQLState() string { return e.code }

var _ interface{ SQLState() string } = codedError{}

// harness runs Serve on one end of a net.Pipe and a pgproto3.Frontend on
// the other.
type harness struct {
	t      *testing.T
	fe     *pgproto3.Frontend
	conn   net.Conn
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, ctl Controller, opts Options) *harness {
	t.Helper()
	opts.Backend = ctl
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	h := &harness{t: t, fe: pgproto3.NewFrontend(client, client), conn: client, cancel: cancel,
		done: make(chan error, 1)}
	if err := client.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	c := New(opts)
	go func() {
		h.done <- c.Serve(ctx, pgproto3.NewBackend(server, server), server, "spiffe://corp/admin")
		server.Close()
	}()
	// Every test ends with Serve returned: no goroutine outlives its test.
	t.Cleanup(func() {
		cancel()
		client.Close()
		h.wait()
	})
	return h
}

// wait returns Serve's result, failing the test if Serve does not return.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // later waits see it too
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("Serve did not return")
		return nil
	}
}

func (h *harness) send(msgs ...pgproto3.FrontendMessage) {
	h.t.Helper()
	for _, m := range msgs {
		h.fe.Send(m)
	}
	if err := h.fe.Flush(); err != nil {
		h.t.Fatalf("send: %v", err)
	}
}

// query sends one Query and returns the transcript of the reply up to and
// including ReadyForQuery.
func (h *harness) query(sql string) []string {
	h.t.Helper()
	h.send(&pgproto3.Query{String: sql})
	return h.readUntilReady()
}

func (h *harness) readUntilReady() []string {
	h.t.Helper()
	var got []string
	for {
		m, err := h.fe.Receive()
		if err != nil {
			h.t.Fatalf("receive after %q: %v", got, err)
		}
		got = append(got, describe(m))
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			return got
		}
	}
}

// describe renders a backend message as one line, so tests compare whole
// replies at a glance. DataRow values are joined with | and NULL is shown
// as NULL.
func describe(m pgproto3.BackendMessage) string {
	switch m := m.(type) {
	case *pgproto3.RowDescription:
		cols := make([]string, len(m.Fields))
		for i, f := range m.Fields {
			cols[i] = fmt.Sprintf("%s:%d", f.Name, f.DataTypeOID)
		}
		return "T " + strings.Join(cols, " ")
	case *pgproto3.DataRow:
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			if v == nil {
				vals[i] = "NULL"
			} else {
				vals[i] = string(v)
			}
		}
		return "D " + strings.Join(vals, "|")
	case *pgproto3.CommandComplete:
		return "C " + string(m.CommandTag)
	case *pgproto3.ErrorResponse:
		return fmt.Sprintf("E %s %s %s", m.Severity, m.Code, m.Message)
	case *pgproto3.EmptyQueryResponse:
		return "EmptyQuery"
	case *pgproto3.ReadyForQuery:
		return "Z " + string(m.TxStatus)
	}
	return fmt.Sprintf("%T", m)
}

var errBoom = errors.New("pool registry is locked")
