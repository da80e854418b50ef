package auditdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgshield/pgshield/audit"
)

// Options configures a Sink.
type Options struct {
	// Next is the file log every record goes to first. Required.
	Next audit.Sink
	// Config connects to the database holding the table. Required.
	Config *pgconn.Config
	// Table is the table name; "pgshield_audit_log" when empty.
	Table string
	// QueueSize bounds records waiting for the table; 10,000 when zero.
	QueueSize int
	// Logger receives write failures; discarded when nil.
	Logger *slog.Logger
}

// Sink is an audit.Sink that also copies records into a table.
type Sink struct {
	next   audit.Sink
	cfg    *pgconn.Config
	table  string
	log    *slog.Logger
	queue  chan row
	done   chan struct{}
	cancel context.CancelFunc
	once   sync.Once
	// Dropped counts records the table missed (queue full or write failed).
	dropped atomic.Uint64
	written atomic.Uint64
}

type row struct {
	seq uint64
	r   audit.Record
}

var _ audit.Sink = (*Sink)(nil)

// New creates the table and its append-only trigger if missing and starts
// the writer. Close stops it.
func New(ctx context.Context, opts Options) (*Sink, error) {
	if opts.Next == nil || opts.Config == nil {
		return nil, errors.New("auditdb: Next and Config are required")
	}
	if opts.Table == "" {
		opts.Table = "pgshield_audit_log"
	}
	if opts.QueueSize == 0 {
		opts.QueueSize = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sink{next: opts.Next, cfg: opts.Config, table: pgx.Identifier{opts.Table}.Sanitize(), log: opts.Logger,
		queue: make(chan row, opts.QueueSize), done: make(chan struct{})}
	conn, err := pgconn.ConnectConfig(ctx, s.cfg)
	if err != nil {
		return nil, fmt.Errorf("auditdb: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, s.schema(opts.Table)).ReadAll(); err != nil {
		return nil, fmt.Errorf("auditdb: create %s: %w", opts.Table, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.write(wctx)
	return s, nil
}

// schema creates the table and a trigger that refuses changes.
func (s *Sink) schema(name string) string {
	fn := pgx.Identifier{name + "_append_only"}.Sanitize()
	return fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
  seq bigint PRIMARY KEY, ts timestamptz NOT NULL, kind text NOT NULL, session text, client_addr text,
  identity text, fingerprint text, role text, database text, backend_pid bigint, action text,
  statement text, ref bigint, rows bigint, duration_us bigint, sqlstate text, reason text);
CREATE OR REPLACE FUNCTION %[2]s() RETURNS trigger LANGUAGE plpgsql AS
  $f$BEGIN RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = '42501'; END$f$;
DROP TRIGGER IF EXISTS append_only ON %[1]s;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON %[1]s FOR EACH ROW EXECUTE FUNCTION %[2]s();
DROP TRIGGER IF EXISTS append_only_truncate ON %[1]s;
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON %[1]s FOR EACH STATEMENT EXECUTE FUNCTION %[2]s();`,
		s.table, fn)
}

// Append writes r to the file log, then queues it for the table without
// waiting.
func (s *Sink) Append(ctx context.Context, r *audit.Record) (uint64, error) {
	seq, err := s.next.Append(ctx, r)
	if err != nil {
		return seq, err
	}
	select {
	case s.queue <- row{seq: seq, r: *r}:
	default:
		s.dropped.Add(1)
	}
	return seq, nil
}

// Submit is Append: the table's row needs the record's seq, which only a
// written record has.
func (s *Sink) Submit(ctx context.Context, r *audit.Record) error {
	_, err := s.Append(ctx, r)
	return err
}

// Stats are the file log's, which is what durability depends on.
func (s *Sink) Stats() audit.Stats { return s.next.Stats() }

// Dropped and Written count records that missed, or reached, the table.
func (s *Sink) Dropped() uint64 { return s.dropped.Load() }
func (s *Sink) Written() uint64 { return s.written.Load() }

// Close stops the writer (after it has written what is queued, within a
// few seconds) and closes the file log.
func (s *Sink) Close() error {
	s.once.Do(func() {
		close(s.queue)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			s.cancel()
			<-s.done
		}
		s.cancel()
	})
	return s.next.Close()
}

// write inserts queued records in batches, reconnecting after failures.
func (s *Sink) write(ctx context.Context) {
	defer close(s.done)
	var conn *pgconn.PgConn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	batch := make([]row, 0, 256)
	for r := range s.queue {
		batch = append(batch[:0], r)
	more:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-s.queue:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		if conn == nil {
			c, err := pgconn.ConnectConfig(ctx, s.cfg)
			if err != nil {
				s.log.Warn("audit table: cannot connect; records dropped from the table (the file log has them)", "err", err, "records", len(batch))
				s.dropped.Add(uint64(len(batch)))
				continue
			}
			conn = c
		}
		if err := s.insert(ctx, conn, batch); err != nil {
			s.log.Warn("audit table: insert failed; records dropped from the table (the file log has them)", "err", err, "records", len(batch))
			s.dropped.Add(uint64(len(batch)))
			conn.Close(context.Background())
			conn = nil
			continue
		}
		s.written.Add(uint64(len(batch)))
	}
}

func (s *Sink) insert(ctx context.Context, conn *pgconn.PgConn, batch []row) error {
	sql := "INSERT INTO " + s.table + " (seq, ts, kind, session, client_addr, identity, fingerprint, role, database," +
		" backend_pid, action, statement, ref, rows, duration_us, sqlstate, reason) VALUES "
	var params [][]byte
	for i, b := range batch {
		if i > 0 {
			sql += ","
		}
		sql += "("
		for j := range 17 {
			if j > 0 {
				sql += ","
			}
			sql += "$" + strconv.Itoa(i*17+j+1)
		}
		sql += ")"
		r := b.r
		ts := r.Time
		if ts.IsZero() {
			ts = time.Now()
		}
		rows := ""
		if r.Rows != nil {
			rows = strconv.FormatInt(*r.Rows, 10)
		}
		vals := []string{strconv.FormatUint(b.seq, 10), ts.UTC().Format(time.RFC3339Nano), string(r.Kind), r.Session,
			r.ClientAddr, r.Identity, r.Fingerprint, r.Role, r.Database, strconv.FormatUint(uint64(r.BackendPID), 10),
			r.Action, r.Statement, strconv.FormatUint(r.Ref, 10), rows, strconv.FormatInt(r.DurationUS, 10), r.SQLState, r.Reason}
		for _, v := range vals {
			if v == "" {
				params = append(params, nil)
			} else {
				params = append(params, []byte(v))
			}
		}
	}
	sql += " ON CONFLICT (seq) DO NOTHING"
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return conn.ExecParams(ictx, sql, params, nil, nil, nil).Read().Err
}
