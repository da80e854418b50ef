package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

func fixtureController() *fakeController {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	return &fakeController{
		pools: []PoolInfo{
			{Database: "app", User: "app_rw", Mode: "transaction", Size: 10, Active: 7, Idle: 3, Waiting: 2,
				MaxWait: 1500 * time.Millisecond},
		},
		clients: []ClientInfo{
			{SessionID: 42, Identity: "spiffe://corp/alice", Role: "app_rw", Database: "app",
				Addr: "10.0.0.5:51234", TLSVersion: tls.VersionTLS13, State: ClientIdleInTransaction,
				Pinned: true, ConnectedAt: t0},
			{SessionID: 43, Identity: "bob", Database: "app", Addr: "10.0.0.6:40000", State: ClientWaiting},
		},
		servers: []ServerInfo{
			{PID: 4242, Database: "app", User: "app_rw", State: ServerActive, SessionID: 42,
				ConnectedAt: t0, LastUsed: t0.Add(time.Minute)},
			{PID: 4243, Database: "app", User: "app_rw", State: ServerIdle, ConnectedAt: t0},
		},
		stats: []StatsInfo{
			{Database: "app", Transactions: 100, Statements: 250, BytesIn: 4096, BytesOut: 1 << 20,
				AvgWait: 2500 * time.Microsecond, Denied: 3},
		},
		config: [][2]string{{"listen", ":6432"}, {"pool_mode", "transaction"}},
		security: [][]string{
			{"tls_min_version", "ok", "TLS 1.3 only", ""},
			{"short_row", "warn"},
			{"long_row", "fail", "d", "r", "extra"},
		},
		killed: 3,
	}
}

func TestShowCommands(t *testing.T) {
	tests := []struct {
		query string
		want  []string
	}{
		{"SHOW POOLS", []string{
			"T database:25 user:25 pool_mode:25 size:20 active:20 idle:20 waiting:20 max_wait_ms:20",
			"D app|app_rw|transaction|10|7|3|2|1500",
			"C SHOW", "Z I"}},
		{"show clients;", []string{
			"T session_id:20 identity:25 role:25 database:25 addr:25 tls_version:25 state:25 pinned:16 connected_at:25",
			"D 42|spiffe://corp/alice|app_rw|app|10.0.0.5:51234|TLS 1.3|idle in transaction|t|2026-03-01T11:00:00Z",
			"D 43|bob||app|10.0.0.6:40000|NULL|waiting|f|NULL",
			"C SHOW", "Z I"}},
		{"  Show   Servers ;; ", []string{
			"T pid:20 database:25 user:25 state:25 session_id:20 connected_at:25 last_used:25",
			"D 4242|app|app_rw|active|42|2026-03-01T11:00:00Z|2026-03-01T11:01:00Z",
			"D 4243|app|app_rw|idle|NULL|2026-03-01T11:00:00Z|NULL",
			"C SHOW", "Z I"}},
		{"SHOW STATS", []string{
			"T database:25 transactions:20 statements:20 bytes_in:20 bytes_out:20 avg_wait_ms:20 denied:20",
			"D app|100|250|4096|1048576|2|3",
			"C SHOW", "Z I"}},
		{"SHOW CONFIG", []string{
			"T key:25 value:25",
			"D listen|:6432", "D pool_mode|transaction",
			"C SHOW", "Z I"}},
		{"-- posture\nSHOW /* all */ SECURITY", []string{
			"T check:25 status:25 detail:25 recommendation:25",
			"D tls_min_version|ok|TLS 1.3 only|",
			"D short_row|warn|NULL|NULL",
			"D long_row|fail|d|r",
			"C SHOW", "Z I"}},
	}
	h := start(t, fixtureController(), Options{})
	// One session runs them all: each reply must leave it ready for the next.
	for _, tt := range tests {
		if got := h.query(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%q:\n got %q\nwant %q", tt.query, got, tt.want)
		}
	}
}

func TestShowHelpListsEveryCommand(t *testing.T) {
	h := start(t, &fakeController{}, Options{})
	got := h.query("SHOW HELP")
	if got[0] != "T command:25 description:25" || got[len(got)-2] != "C SHOW" {
		t.Fatalf("shape: %q", got)
	}
	var usages []string
	for _, line := range got[1 : len(got)-2] {
		usages = append(usages, strings.SplitN(strings.TrimPrefix(line, "D "), "|", 2)[0])
	}
	want := []string{"SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS", "SHOW STATS", "SHOW CONFIG",
		"SHOW SECURITY", "SHOW HELP", "PAUSE [database]", "RESUME [database]", "RELOAD",
		"KILL <identity>", "ROTATE CREDENTIALS", "SHUTDOWN"}
	if !slices.Equal(usages, want) {
		t.Errorf("usages = %q, want %q", usages, want)
	}
}

func TestCommandsReachController(t *testing.T) {
	tests := []struct {
		query    string
		wantCall string
		wantTag  string
	}{
		{"PAUSE", `Pause("")`, "PAUSE"},
		{"pause app;", `Pause("app")`, "PAUSE"},
		{`PAUSE "My DB"`, `Pause("My DB")`, "PAUSE"},
		{"RESUME", `Resume("")`, "RESUME"},
		{"resume App", `Resume("App")`, "RESUME"},
		{"RELOAD;", "Reload()", "RELOAD"},
		{"KILL alice", `Kill("alice")`, "KILL 3"},
		{"kill spiffe://corp/team/svc-a ;", `Kill("spiffe://corp/team/svc-a")`, "KILL 3"},
		{"KILL 'CN=O''Brien, O=Corp'", `Kill("CN=O'Brien, O=Corp")`, "KILL 3"},
		{`KILL "spiffe://corp/a ""b"""`, `Kill("spiffe://corp/a \"b\"")`, "KILL 3"},
		{`KILL 'pause'`, `Kill("pause")`, "KILL 3"},
		{"SHUTDOWN", "Shutdown()", "SHUTDOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			ctl := fixtureController()
			h := start(t, ctl, Options{})
			got := h.query(tt.query)
			if want := []string{"C " + tt.wantTag, "Z I"}; !slices.Equal(got, want) {
				t.Errorf("reply = %q, want %q", got, want)
			}
			if calls := ctl.Calls(); !slices.Equal(calls, []string{tt.wantCall}) {
				t.Errorf("calls = %q, want [%s]", calls, tt.wantCall)
			}
		})
	}
}

func TestErrorsKeepSessionAlive(t *testing.T) {
	tests := []struct {
		name  string
		err   error // the Controller's error
		query string
		want  string
	}{
		{"unknown command", nil, "FROB the pool",
			`E ERROR 42601 unknown admin command "FROB"; run SHOW HELP for the list`},
		{"unknown SHOW", nil, "show databases",
			`E ERROR 42601 unknown admin command "show databases"; run SHOW HELP for the list`},
		{"quoted keyword", nil, `"SHOW" POOLS`,
			`E ERROR 42601 unknown admin command "SHOW"; run SHOW HELP for the list`},
		{"multi-statement", nil, "SHOW POOLS; SHOW CLIENTS",
			"E ERROR 42601 the admin console runs one command per query"},
		{"extra argument", nil, "SHOW POOLS now",
			"E ERROR 42601 too many arguments to SHOW POOLS; usage: SHOW POOLS"},
		{"two databases", nil, "PAUSE a b",
			"E ERROR 42601 too many arguments to PAUSE; usage: PAUSE [database]"},
		{"kill without identity", nil, "KILL;",
			"E ERROR 42601 KILL needs identity; usage: KILL <identity>"},
		{"kill empty identity", nil, "KILL ''",
			"E ERROR 42601 KILL: identity must not be empty"},
		{"pause empty name", nil, `PAUSE ""`,
			"E ERROR 42601 PAUSE: database must not be empty"},
		{"unterminated quote", nil, "KILL 'alice",
			"E ERROR 42601 unterminated quoted string"},
		{"unterminated comment", nil, "SHOW /* POOLS",
			"E ERROR 42601 unterminated /* comment"},
		{"controller error", errBoom, "RELOAD",
			"E ERROR 58000 reload: pool registry is locked"},
		{"controller picks SQLSTATE", codedError{"55000", "app is not paused"}, "RESUME app",
			"E ERROR 55000 resume: app is not paused"},
		{"controller bad SQLSTATE", codedError{"nope", "odd"}, "SHUTDOWN",
			"E ERROR 58000 shutdown: odd"},
		{"controller canceled", context.Canceled, "PAUSE",
			"E ERROR 57014 pause: context canceled"},
		{"kill error", errBoom, "KILL bob",
			"E ERROR 58000 kill: pool registry is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl := fixtureController()
			ctl.err = tt.err
			h := start(t, ctl, Options{})
			if got, want := h.query(tt.query), []string{tt.want, "Z I"}; !slices.Equal(got, want) {
				t.Errorf("reply = %q, want %q", got, want)
			}
			if got := h.query("SHOW CONFIG"); got[len(got)-2] != "C SHOW" {
				t.Errorf("session not usable after error: %q", got)
			}
		})
	}
}

func TestUnknownCommandHint(t *testing.T) {
	h := start(t, &fakeController{}, Options{})
	h.send(&pgproto3.Query{String: "LIST POOLS"})
	m, err := h.fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	e, ok := m.(*pgproto3.ErrorResponse)
	if !ok || e.Hint != "SHOW HELP lists the admin commands." {
		t.Fatalf("got %#v, want ErrorResponse with a SHOW HELP hint", m)
	}
	h.readUntilReady()
}

func TestEmptyQuery(t *testing.T) {
	for _, q := range []string{"", "   ", ";", " ; ;\n", "-- nothing to see", "/* nothing */"} {
		t.Run(q, func(t *testing.T) {
			h := start(t, &fakeController{}, Options{})
			if got, want := h.query(q), []string{"EmptyQuery", "Z I"}; !slices.Equal(got, want) {
				t.Errorf("reply = %q, want %q", got, want)
			}
		})
	}
}

func TestExtendedProtocolRefused(t *testing.T) {
	ctl := fixtureController()
	h := start(t, ctl, Options{})
	// Everything up to Sync is discarded after the first refusal, the
	// Query included, as PostgreSQL does after an error.
	h.send(
		&pgproto3.Parse{Query: "SHOW POOLS"},
		&pgproto3.Bind{},
		&pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{},
		&pgproto3.Query{String: "SHUTDOWN"},
		&pgproto3.Sync{},
	)
	want := []string{"E ERROR 0A000 the admin console speaks the simple query protocol", "Z I"}
	if got := h.readUntilReady(); !slices.Equal(got, want) {
		t.Errorf("reply = %q, want %q", got, want)
	}
	if calls := ctl.Calls(); len(calls) != 0 {
		t.Errorf("discarded query reached the controller: %q", calls)
	}
	h.send(&pgproto3.FunctionCall{Function: 1})
	if got := h.readUntilReady(); !slices.Equal(got, want) {
		t.Errorf("FunctionCall reply = %q, want %q", got, want)
	}
	// Copy messages outside COPY are ignored, as PostgreSQL does.
	h.send(&pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyDone{}, &pgproto3.CopyFail{Message: "no"})
	if got := h.query("RELOAD"); !slices.Equal(got, []string{"C RELOAD", "Z I"}) {
		t.Errorf("session not usable after Sync: %q", got)
	}
}

func TestTerminateEndsServe(t *testing.T) {
	h := start(t, &fakeController{}, Options{})
	h.send(&pgproto3.Terminate{})
	if err := h.wait(); err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
}

func TestProtocolViolation(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"unknown message type", []byte{'z', 0, 0, 0, 4}, "E FATAL 08P01 invalid frontend message"},
		{"bad length", []byte{'Q', 0, 0, 0, 2}, "E FATAL 08P01 invalid frontend message"},
		{"too long", []byte{'Q', 0, 1, 0, 5}, "E FATAL 08P01 message too long for the admin console"},
		{"password after startup", []byte{'p', 0, 0, 0, 8, 'p', 'w', 'd', 0},
			"E FATAL 08P01 unexpected message after authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, &fakeController{}, Options{})
			if _, err := h.conn.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			m, err := h.fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			if got := describe(m); got != tt.want {
				t.Errorf("reply = %q, want %q", got, tt.want)
			}
			if err := h.wait(); err == nil {
				t.Error("Serve = nil, want a protocol error")
			}
		})
	}
}

func TestContextEndsSession(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		h := start(t, &fakeController{}, Options{})
		h.cancel()
		m, err := h.fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := describe(m), "E FATAL 57P01 admin session ended by pgshield"; got != want {
			t.Errorf("reply = %q, want %q", got, want)
		}
		if err := h.wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	})
	t.Run("during PAUSE", func(t *testing.T) {
		ctl := &fakeController{blockPause: true}
		h := start(t, ctl, Options{})
		h.send(&pgproto3.Query{String: "PAUSE app"})
		for len(ctl.Calls()) == 0 {
			time.Sleep(time.Millisecond)
		}
		h.cancel()
		// The canceled PAUSE's ERROR may or may not get out before the
		// deadline hits; the FATAL always ends the session.
		var last string
		for {
			m, err := h.fe.Receive()
			if err != nil {
				break
			}
			last = describe(m)
		}
		if want := "E FATAL 57P01 admin session ended by pgshield"; last != want {
			t.Errorf("last message = %q, want %q", last, want)
		}
		if err := h.wait(); !errors.Is(err, context.Canceled) {
			t.Errorf("Serve = %v, want context.Canceled", err)
		}
	})
}

func TestClientGone(t *testing.T) {
	h := start(t, &fakeController{}, Options{})
	h.conn.Close()
	if err := h.wait(); err == nil {
		t.Error("Serve = nil, want an error for a vanished client")
	}
}

func TestCommandsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time {
		clock = clock.Add(250 * time.Millisecond)
		return clock
	}
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := start(t, fixtureController(), Options{Logger: logger, Now: now})
	h.query("SHOW POOLS") // Debug: not in this log
	h.query("KILL 'spiffe://corp/mallory'")
	h.send(&pgproto3.Terminate{})
	if err := h.wait(); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Msg       string `json:"msg"`
		Identity  string `json:"identity"`
		Command   string `json:"command"`
		Arg       string `json:"arg"`
		ElapsedMS int64  `json:"elapsed_ms"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want exactly one JSON record, got %q: %v", buf.String(), err)
	}
	want := rec
	want.Msg, want.Identity, want.Command, want.Arg, want.ElapsedMS =
		"admin command", "spiffe://corp/admin", "KILL", "spiffe://corp/mallory", 250
	if rec != want {
		t.Errorf("log record = %+v, want %+v", rec, want)
	}
}

func TestNewPanicsWithoutBackend(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New did not panic without a Backend")
		}
	}()
	New(Options{})
}
