package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pgshield/pgshield/internal/rawio"
)

// DefaultSyncInterval is batch mode's fdatasync interval and async mode's
// write interval when Options.SyncInterval is zero. Every fdatasync of the
// growing segment commits the filesystem's journal: at 5ms that cost about
// 15% of pgshield's throughput (pgbench -S, 16 clients, batch mode).
// PostgreSQL's own wal_writer_delay is 200ms.
const DefaultSyncInterval = 100 * time.Millisecond

// Durability says when Append returns.
type Durability string

const (
	// DurabilityBatch (the zero value) returns once the record is written
	// to the file with write(2), so it survives kill -9 of the proxy; an
	// fdatasync follows within Options.SyncInterval.
	DurabilityBatch Durability = "batch"
	// DurabilitySync returns once the record is written and fdatasync'ed.
	// Concurrent appenders share one fdatasync (group commit).
	DurabilitySync Durability = "sync"
	// DurabilityAsync returns once the record is queued in memory; the
	// background goroutine writes it within Options.SyncInterval. A crash
	// loses queued records.
	DurabilityAsync Durability = "async"
)

// ParamPolicy says how bind parameters are stored.
type ParamPolicy string

const (
	// ParamsHash (the zero value) stores the SHA-256 hex of each value.
	ParamsHash ParamPolicy = "hash"
	// ParamsNone drops parameters.
	ParamsNone ParamPolicy = "none"
	// ParamsFull stores values verbatim.
	ParamsFull ParamPolicy = "full"
)

// Options configures Open. Zero values are documented per field; Open
// validates the whole struct once.
type Options struct {
	// Dir is the log directory; required. Created (0700) if missing.
	Dir string
	// SigningKey signs checkpoints; required. Load it with LoadSigningKey.
	SigningKey SigningKey
	// InstanceID names this proxy instance in every record; required.
	InstanceID string
	// Origin is the first line of every checkpoint; zero means the signing
	// key's name. It must stay the same for the life of the log.
	Origin string
	// Durability: zero means DurabilityBatch.
	Durability Durability
	// SyncInterval is how often batch mode fdatasyncs and async mode
	// writes; zero means DefaultSyncInterval.
	SyncInterval time.Duration
	// MaxSegmentBytes rotates a segment once it reaches this size; zero
	// means 64 MiB.
	MaxSegmentBytes int64
	// MaxSegmentAge rotates a segment once it is this old; zero means no
	// time-based rotation.
	MaxSegmentAge time.Duration
	// CheckpointEvery writes a checkpoint after this many records; zero
	// means 10000.
	CheckpointEvery uint64
	// CheckpointInterval writes a checkpoint this long after the last one
	// if records were added; zero means one minute.
	CheckpointInterval time.Duration
	// MaxStatementBytes caps stored statement text (cut on a rune
	// boundary); zero means 4096, negative means no cap.
	MaxStatementBytes int
	// Params: zero means ParamsHash.
	Params ParamPolicy
	// FailOpen swallows write and sync failures (counted in
	// Stats.Dropped) instead of returning ErrUnavailable. Records are
	// lost; the security report marks this configuration down.
	FailOpen bool
	// QueueSize bounds appends waiting for the writer; zero means 4096.
	QueueSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational messages (never record contents or
	// keys); nil discards them.
	Logger *slog.Logger
	// OnSync, when set, is told how long each fdatasync took (for a
	// latency histogram). It runs on the writer goroutine: keep it cheap.
	OnSync func(time.Duration)
	// OpenFile opens segment and checkpoint files; nil means os.OpenFile
	// with raw writes (osOpenFile).
	// Tests inject failing files through it.
	OpenFile func(name string, flag int, perm os.FileMode) (File, error)
}

// File is the part of *os.File the log writes through.
type File interface {
	io.Writer
	io.Closer
	Sync() error
	Truncate(size int64) error
}

// osOpenFile opens name with raw writes (see rawio.File): a record is
// written in the statement's goroutine, and a plain system call per record
// keeps the Go runtime's monitor from ever sleeping.
func osOpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	rf, err := rawio.NewFile(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return rf, nil
}

// withDefaults validates o and fills in zero values.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("Dir is required"))
	}
	if o.SigningKey == "" {
		errs = append(errs, errors.New("SigningKey is required"))
	}
	if o.InstanceID == "" {
		errs = append(errs, errors.New("InstanceID is required"))
	}
	switch o.Durability {
	case "":
		o.Durability = DurabilityBatch
	case DurabilityBatch, DurabilitySync, DurabilityAsync:
	default:
		errs = append(errs, fmt.Errorf("unknown Durability %q", o.Durability))
	}
	switch o.Params {
	case "":
		o.Params = ParamsHash
	case ParamsHash, ParamsNone, ParamsFull:
	default:
		errs = append(errs, fmt.Errorf("unknown Params policy %q", o.Params))
	}
	if o.SyncInterval < 0 || o.MaxSegmentBytes < 0 || o.MaxSegmentAge < 0 || o.CheckpointInterval < 0 || o.QueueSize < 0 {
		errs = append(errs, errors.New("durations, sizes and counts must not be negative"))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("audit: invalid options: %w", errors.Join(errs...))
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxSegmentBytes == 0 {
		o.MaxSegmentBytes = 64 << 20
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 10000
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = time.Minute
	}
	if o.MaxStatementBytes == 0 {
		o.MaxStatementBytes = 4096
	}
	if o.QueueSize == 0 {
		o.QueueSize = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OpenFile == nil {
		o.OpenFile = osOpenFile
	}
	return o, nil
}
