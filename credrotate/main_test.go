package credrotate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/credstore"
	"github.com/pgshield/pgshield/internal/pgcluster"
	"github.com/pgshield/pgshield/internal/syncbuf"
)

// cluster is the one PostgreSQL server of this test binary; each test uses
// its own role names, so tests do not interfere.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	// log_statement=all lets the leak check prove that no password ever
	// reaches the server's statement log.
	c, err := pgcluster.Start(ctx, pgcluster.Options{Settings: map[string]string{"log_statement": "all"}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "credrotate tests need PostgreSQL:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func adminConfig(t *testing.T) *pgconn.Config {
	t.Helper()
	cfg, err := cluster.Config("postgres")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// harness is one test's store, roles and captured output. At cleanup it
// checks that no password it ever saw in the store appears in the log or
// in an event.
type harness struct {
	t     *testing.T
	base  string
	store credstore.Store
	logs  *syncbuf.Buffer

	mu      sync.Mutex
	events  []Event
	secrets map[string]bool
	errs    []string
	// onEvent, if set, runs after each event is recorded, on the
	// rotating goroutine.
	onEvent func(Event)
}

func newHarness(t *testing.T, base string) *harness {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	store, err := credstore.Open(credstore.Options{Path: filepath.Join(t.TempDir(), "db.enc"), Key: key, Method: credstore.MethodHKDF})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, base: base, store: store, logs: &syncbuf.Buffer{}, secrets: map[string]bool{}}
	t.Cleanup(func() {
		h.checkNoLeaks()
		store.Close()
	})
	return h
}

// options are fast test defaults.
func (h *harness) options() Options {
	return Options{
		Store:        h.store,
		Base:         h.base,
		Admin:        adminConfig(h.t),
		Grace:        300 * time.Millisecond,
		MaxWait:      3 * time.Second,
		PollInterval: 50 * time.Millisecond,
		Events:       h.event,
		Logger:       slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (h *harness) rotator(mod func(*Options)) Rotator {
	h.t.Helper()
	opts := h.options()
	if mod != nil {
		mod(&opts)
	}
	r, err := New(opts)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func (h *harness) event(e Event) {
	h.collectSecrets()
	h.mu.Lock()
	h.events = append(h.events, e)
	on := h.onEvent
	h.mu.Unlock()
	if on != nil {
		on(e)
	}
}

// collectSecrets remembers every password the store holds.
func (h *harness) collectSecrets() {
	st := h.store.Snapshot()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range st.Credentials {
		if pw := c.Password(); pw != "" {
			h.secrets[pw] = true
		}
	}
}

// noteErr keeps an error's text for the leak check.
func (h *harness) noteErr(err error) error {
	if err != nil {
		h.mu.Lock()
		h.errs = append(h.errs, err.Error(), fmt.Sprintf("%+v", err))
		h.mu.Unlock()
	}
	return err
}

func (h *harness) checkNoLeaks() {
	h.collectSecrets()
	h.mu.Lock()
	defer h.mu.Unlock()
	var out strings.Builder
	out.WriteString(h.logs.String())
	for _, e := range h.events {
		fmt.Fprintf(&out, "%v %+v %#v\n", e, e, e)
	}
	for _, s := range h.errs {
		out.WriteString(s + "\n")
	}
	text := out.String()
	serverLog, err := os.ReadFile(cluster.LogFile)
	if err != nil {
		h.t.Errorf("reading the server log: %v", err)
	}
	for pw := range h.secrets {
		if strings.Contains(text, pw) {
			h.t.Errorf("a password appears in the log, an event or an error")
		}
		if bytes.Contains(serverLog, []byte(pw)) {
			h.t.Errorf("a password appears in the PostgreSQL server log")
		}
	}
	if len(h.secrets) == 0 {
		h.t.Errorf("the leak check saw no password at all; it checked nothing")
	}
	if strings.Contains(text, "SCRAM-SHA-256$") {
		h.t.Errorf("a SCRAM verifier appears in the log, an event or an error")
	}
}

func (h *harness) steps() []Step {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []Step
	for _, e := range h.events {
		s = append(s, e.Step)
	}
	return s
}

// tryLogin logs in as login with password and runs SELECT 1.
func tryLogin(ctx context.Context, t *testing.T, login, password string) error {
	cfg := adminConfig(t)
	cfg.User, cfg.Password = login, password
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
	return err
}

// role reads login's attributes.
func role(ctx context.Context, t *testing.T, name string) roleAttrs {
	t.Helper()
	conn, err := pgconn.ConnectConfig(ctx, adminConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	a, err := readRole(ctx, conn, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkConsistent checks store and database after a rotation has finished
// or rolled back: no rotation recorded, login at version active and
// logging in, the other login unable to log in, no pending or retiring
// credential, and no old password working.
func (h *harness) checkConsistent(ctx context.Context, r Rotator, login string, version int) {
	t := h.t
	t.Helper()
	h.collectSecrets()
	st := h.store.Snapshot()
	if st.Rotation != nil {
		t.Fatalf("rotation still recorded: %v", st.Rotation)
	}
	c, err := r.Active()
	if err != nil {
		t.Fatal(err)
	}
	if c.Login != login || c.Version != version {
		t.Fatalf("active = %s v%d, want %s v%d", c.Login, c.Version, login, version)
	}
	if err := tryLogin(ctx, t, c.Login, c.Password()); err != nil {
		t.Fatalf("active credential does not log in: %v", err)
	}
	for _, x := range st.Credentials {
		if x.State == credstore.StatePending || x.State == credstore.StateRetiring {
			t.Errorf("credential %s v%d is %s after the rotation", x.Login, x.Version, x.State)
		}
	}
	for _, l := range []string{h.base + "_a", h.base + "_b"} {
		if l != login && role(ctx, t, l).canLogin {
			t.Errorf("%s can log in; want NOLOGIN", l)
		}
	}
	h.mu.Lock()
	secrets := make([]string, 0, len(h.secrets))
	for pw := range h.secrets {
		if pw != c.Password() {
			secrets = append(secrets, pw)
		}
	}
	h.mu.Unlock()
	for _, pw := range secrets {
		for _, l := range []string{h.base + "_a", h.base + "_b"} {
			if tryLogin(ctx, t, l, pw) == nil {
				t.Errorf("an old password still logs in as %s", l)
			}
		}
	}
}
