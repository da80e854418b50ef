package admin

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
)

// argKind says whether a command takes an argument.
type argKind int

const (
	noArg argKind = iota
	optionalArg
	requiredArg
)

// commandSpec describes one admin command. The table of them drives
// parsing, dispatch and SHOW HELP, so the three cannot disagree.
type commandSpec struct {
	// name is the command's keywords, such as "SHOW POOLS".
	name string
	// arg says whether the command takes an argument, named argName.
	arg     argKind
	argName string
	help    string
	// changes marks commands that change the proxy; they are logged at
	// Info level as audit events, the others at Debug.
	changes bool
	run     func(ctx context.Context, ctl Controller, arg string) (*result, error)
}

func (s *commandSpec) usage() string {
	switch s.arg {
	case optionalArg:
		return s.name + " [" + s.argName + "]"
	case requiredArg:
		return s.name + " <" + s.argName + ">"
	}
	return s.name
}

// commandSpecs returns the command table. SHOW HELP's rows come from the
// table itself, so its handler is set once the table exists.
func commandSpecs() []commandSpec {
	specs := []commandSpec{
		{name: "SHOW POOLS", help: "backend pools per database and login", run: showPools},
		{name: "SHOW CLIENTS", help: "client sessions", run: showClients},
		{name: "SHOW SERVERS", help: "backend connections", run: showServers},
		{name: "SHOW STATS", help: "counters per database", run: showStats},
		{name: "SHOW CONFIG", help: "effective settings, secrets left out", run: showConfig},
		{name: "SHOW SECURITY", help: "security posture checks", run: showSecurity},
		{name: "SHOW HELP", help: "this list"},
		{name: "PAUSE", arg: optionalArg, argName: "database", changes: true,
			help: "stop handing out backend connections (all databases if none named) once transactions end",
			run:  pause},
		{name: "RESUME", arg: optionalArg, argName: "database", changes: true,
			help: "undo PAUSE (all databases if none named)", run: resume},
		{name: "RELOAD", changes: true, help: "re-read the configuration", run: reload},
		{name: "KILL", arg: requiredArg, argName: "identity", changes: true,
			help: "end every session of a certificate identity now; quote it with ' or \" if needed", run: kill},
		{name: "ROTATE CREDENTIALS", changes: true,
			help: "rotate the backend login credentials now (the old login drains)", run: rotate},
		{name: "SHUTDOWN", changes: true, help: "shut the proxy down gracefully", run: shutdown},
	}
	help := showResult(textCol("command"), textCol("description"))
	for _, s := range specs {
		help.add(text(s.usage()), text(s.help))
	}
	for i := range specs {
		if specs[i].name == "SHOW HELP" {
			specs[i].run = func(context.Context, Controller, string) (*result, error) { return help, nil }
		}
	}
	return specs
}

func showPools(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(textCol("database"), textCol("user"), textCol("pool_mode"), intCol("size"),
		intCol("active"), intCol("idle"), intCol("waiting"), intCol("max_wait_ms"))
	for _, p := range ctl.Pools() {
		r.add(text(p.Database), text(p.User), text(p.Mode), integer(int64(p.Size)), integer(int64(p.Active)),
			integer(int64(p.Idle)), integer(int64(p.Waiting)), millis(p.MaxWait))
	}
	return r, nil
}

func showClients(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(intCol("session_id"), textCol("identity"), textCol("role"), textCol("database"),
		textCol("addr"), textCol("tls_version"), textCol("state"), boolCol("pinned"), textCol("connected_at"))
	for _, c := range ctl.Clients() {
		r.add(sessionID(c.SessionID), text(c.Identity), text(c.Role), text(c.Database), text(c.Addr),
			tlsVersion(c.TLSVersion), text(string(c.State)), boolean(c.Pinned), timestamp(c.ConnectedAt))
	}
	return r, nil
}

func showServers(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(intCol("pid"), textCol("database"), textCol("user"), textCol("state"),
		intCol("session_id"), textCol("connected_at"), textCol("last_used"))
	for _, s := range ctl.Servers() {
		r.add(integer(int64(s.PID)), text(s.Database), text(s.User), text(string(s.State)),
			sessionID(s.SessionID), timestamp(s.ConnectedAt), timestamp(s.LastUsed))
	}
	return r, nil
}

func showStats(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(textCol("database"), intCol("transactions"), intCol("statements"), intCol("bytes_in"),
		intCol("bytes_out"), intCol("avg_wait_ms"), intCol("denied"))
	for _, s := range ctl.Stats() {
		r.add(text(s.Database), integer(s.Transactions), integer(s.Statements), integer(s.BytesIn),
			integer(s.BytesOut), millis(s.AvgWait), integer(s.Denied))
	}
	return r, nil
}

func showConfig(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(textCol("key"), textCol("value"))
	for _, kv := range ctl.Config() {
		r.add(text(kv[0]), text(kv[1]))
	}
	return r, nil
}

// showSecurity's columns are fixed here; Controller.Security returns its
// cells in this order.
func showSecurity(_ context.Context, ctl Controller, _ string) (*result, error) {
	r := showResult(textCol("check"), textCol("status"), textCol("detail"), textCol("recommendation"))
	cols := len(r.columns)
	for _, row := range ctl.Security() {
		// A short row gets NULLs and a long one is cut, so one odd row
		// cannot break the result set for the client.
		values := make([][]byte, cols)
		for i := range min(len(row), cols) {
			values[i] = text(row[i])
		}
		r.add(values...)
	}
	return r, nil
}

func pause(ctx context.Context, ctl Controller, db string) (*result, error) {
	if err := ctl.Pause(ctx, db); err != nil {
		return nil, fmt.Errorf("pause: %w", err)
	}
	return &result{tag: "PAUSE"}, nil
}

func resume(_ context.Context, ctl Controller, db string) (*result, error) {
	if err := ctl.Resume(db); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	return &result{tag: "RESUME"}, nil
}

func reload(ctx context.Context, ctl Controller, _ string) (*result, error) {
	if err := ctl.Reload(ctx); err != nil {
		return nil, fmt.Errorf("reload: %w", err)
	}
	return &result{tag: "RELOAD"}, nil
}

func kill(_ context.Context, ctl Controller, identity string) (*result, error) {
	n, err := ctl.Kill(identity)
	if err != nil {
		return nil, fmt.Errorf("kill: %w", err)
	}
	return &result{tag: "KILL " + strconv.Itoa(n)}, nil
}

func rotate(ctx context.Context, ctl Controller, _ string) (*result, error) {
	if err := ctl.RotateCredentials(ctx); err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	return &result{tag: "ROTATE"}, nil
}

func shutdown(_ context.Context, ctl Controller, _ string) (*result, error) {
	if err := ctl.Shutdown(); err != nil {
		return nil, fmt.Errorf("shutdown: %w", err)
	}
	return &result{tag: "SHUTDOWN"}, nil
}

// level is the log level of a command's record.
func (s *commandSpec) level() slog.Level {
	if s.changes {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
