package dbinit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Initializer converges a database to a plan.
type Initializer interface {
	// Apply converges plan.Database to plan in one transaction and reports
	// the statements it issued (or, with Options.DryRun, would issue).
	Apply(ctx context.Context, plan *Plan) (*Report, error)
}

// Options configures New. Exactly one of Config and DSN is required.
type Options struct {
	// Config is a superuser connection. It is copied; its Database is
	// replaced by the plan's.
	Config *pgconn.Config
	// DSN is a superuser connection string, used when Config is nil. The CLI
	// reads it from the environment or a file, never from a flag.
	DSN string
	// AuthenticatorPassword, when not empty, is set on the authenticator
	// (only when the stored verifier does not already match). Empty leaves
	// the password alone. It must be printable ASCII, at least 16 bytes.
	AuthenticatorPassword string
	// DryRun rolls the transaction back instead of committing it.
	DryRun bool
	// Logger receives one record per action, SQL redacted. Nil discards.
	Logger *slog.Logger
}

// Action is one statement a run issued.
type Action struct {
	// Summary says what the statement does, for people.
	Summary string
	// SQL is the statement with any password replaced by '***'.
	SQL string
}

// Report is what a run did.
type Report struct {
	// ServerVersion is server_version_num, for example 150018.
	ServerVersion int
	// DryRun is true when nothing was committed.
	DryRun bool
	// Actions are the statements issued, in order. Empty means the database
	// already matched the plan.
	Actions []Action
}

// Changed reports whether the run issued any statement.
func (r *Report) Changed() bool { return len(r.Actions) > 0 }

// WriteSQL prints the actions as an SQL script, each preceded by its summary.
func (r *Report) WriteSQL(w io.Writer) error {
	for _, a := range r.Actions {
		if _, err := fmt.Fprintf(w, "-- %s\n%s;\n", a.Summary, a.SQL); err != nil {
			return fmt.Errorf("dbinit: write report: %w", err)
		}
	}
	return nil
}

type initializer struct {
	cfg      *pgconn.Config
	password string
	dryRun   bool
	log      *slog.Logger
}

// New validates opts and returns an Initializer. It does not connect.
func New(opts Options) (Initializer, error) {
	var cfg *pgconn.Config
	switch {
	case opts.Config != nil && opts.DSN != "":
		return nil, errors.New("dbinit: set one of Config and DSN, not both")
	case opts.Config != nil:
		cfg = opts.Config.Copy()
	case opts.DSN != "":
		var err error
		// pgconn redacts the password in its parse errors.
		if cfg, err = pgconn.ParseConfig(opts.DSN); err != nil {
			return nil, fmt.Errorf("dbinit: superuser DSN: %w", err)
		}
	default:
		return nil, errors.New("dbinit: no superuser connection (Config or DSN)")
	}
	if opts.AuthenticatorPassword != "" {
		if err := checkPassword(opts.AuthenticatorPassword); err != nil {
			return nil, fmt.Errorf("dbinit: %w", err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &initializer{cfg: cfg, password: opts.AuthenticatorPassword, dryRun: opts.DryRun, log: log}, nil
}

func (in *initializer) Apply(ctx context.Context, plan *Plan) (*Report, error) {
	if plan == nil {
		return nil, errors.New("dbinit: nil plan")
	}
	if err := plan.Validate(); err != nil {
		return nil, fmt.Errorf("dbinit: plan: %w", err)
	}
	cfg := in.cfg.Copy()
	cfg.Database = plan.Database
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("dbinit: connect to %s: %w", plan.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	r := &run{conn: conn, plan: plan, password: in.password, log: in.log,
		report: &Report{DryRun: in.dryRun}}
	if _, err := conn.Exec(ctx, "BEGIN").ReadAll(); err != nil {
		return nil, fmt.Errorf("dbinit: begin: %w", err)
	}
	if err := r.converge(ctx); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK").ReadAll()
		return nil, err
	}
	end := "COMMIT"
	if in.dryRun {
		end = "ROLLBACK"
	}
	if _, err := conn.Exec(ctx, end).ReadAll(); err != nil {
		return nil, fmt.Errorf("dbinit: %s: %w", strings.ToLower(end), err)
	}
	return r.report, nil
}

// run is one Apply: a connection inside an open transaction.
type run struct {
	conn     *pgconn.PgConn
	plan     *Plan
	password string
	log      *slog.Logger
	report   *Report
}

func (r *run) converge(ctx context.Context) error {
	// Serialise concurrent init-db runs; the lock ends with the transaction.
	// standard_conforming_strings makes quoteLiteral's escaping the only one.
	for _, s := range []string{
		"SELECT pg_advisory_xact_lock(hashtext('pgshield init-db'))",
		"SET LOCAL standard_conforming_strings = on",
	} {
		if _, err := r.query(ctx, s); err != nil {
			return err
		}
	}
	rows, err := r.query(ctx, `SELECT current_setting('server_version_num'), current_database(),
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`)
	if err != nil {
		return err
	}
	if _, err := fmt.Sscan(rows[0][0], &r.report.ServerVersion); err != nil {
		return fmt.Errorf("dbinit: server_version_num %q: %w", rows[0][0], err)
	}
	if rows[0][1] != r.plan.Database {
		return fmt.Errorf("dbinit: connected to %q, plan is for %q", rows[0][1], r.plan.Database)
	}
	if rows[0][2] != "t" {
		return errors.New("dbinit: init-db needs a superuser connection")
	}
	steps := []func(context.Context) error{
		r.roles, r.memberships, r.checkOwnership,
		r.databaseACL, r.schemas, r.tables, r.schemaACLs, r.tableACLs, r.sequenceACLs,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// exec issues one statement and records it.
func (r *run) exec(ctx context.Context, summary, sql string) error {
	r.log.InfoContext(ctx, "dbinit", "action", summary, "sql", sql, "dry_run", r.report.DryRun)
	r.report.Actions = append(r.report.Actions, Action{Summary: summary, SQL: sql})
	if _, err := r.conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("dbinit: %s: %w", summary, err)
	}
	return nil
}

// execSecret issues a statement carrying a secret. Only redacted is
// recorded, and the server's error is reduced to its SQLSTATE, since error
// text can quote the statement.
func (r *run) execSecret(ctx context.Context, summary, sql, redacted string) error {
	r.log.InfoContext(ctx, "dbinit", "action", summary, "sql", redacted, "dry_run", r.report.DryRun)
	r.report.Actions = append(r.report.Actions, Action{Summary: summary, SQL: redacted})
	if _, err := r.conn.Exec(ctx, sql).ReadAll(); err != nil {
		code := "unknown"
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			code = pgErr.Code
		}
		return fmt.Errorf("dbinit: %s: %w", summary, &redactedError{code: code})
	}
	return nil
}

// redactedError stands in for a server error whose text may hold a secret.
type redactedError struct{ code string }

func (e *redactedError) Error() string { return "statement failed, SQLSTATE " + e.code }

// query runs a catalog query with text parameters and returns text columns;
// SQL NULL reads as "".
func (r *run) query(ctx context.Context, sql string, args ...string) ([][]string, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := r.conn.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, fmt.Errorf("dbinit: catalog query: %w", res.Err)
	}
	out := make([][]string, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = string(v)
		}
	}
	return out, nil
}

// ident quotes one identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// qident quotes schema.name.
func qident(schema, name string) string {
	return pgx.Identifier{schemaOrPublic(schema), name}.Sanitize()
}

// quoteLiteral quotes a string literal; valid with standard_conforming_strings on.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// textArray encodes names as a PostgreSQL text[] literal for a parameter.
func textArray(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n) + `"`
	}
	return "{" + strings.Join(q, ",") + "}"
}
