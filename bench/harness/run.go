package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Options configures Run. The zero value is the quick mode, building
// pgshield from the current directory and writing to bench/results.
type Options struct {
	// Full selects the full plan (about 11 minutes) over the quick one
	// (under 3 minutes: workloads 1, 4 and 5).
	Full bool
	// RepoDir is the module root; the current directory when empty.
	RepoDir string
	// PgshieldBin is a built pgshield; empty builds one into the work directory.
	PgshieldBin string
	// OutDir receives <date>.md, .json and .png; RepoDir/bench/results when empty.
	OutDir string
	// PoolSize is PgBouncer's default_pool_size and pgshield's pool size; 20 when zero.
	PoolSize int
	// Rounds and Duration, when set, override the plan's (for short trial runs).
	Rounds   int
	Duration time.Duration
	// MemoryClients, when set, overrides the idle clients of workload 6
	// (pooled targets); negative skips it.
	MemoryClients int
	// Only, when set, runs just the workloads with these IDs.
	Only []string
	// GoBench are packages whose `go test -bench` results are included (workload 8).
	GoBench []string
	// Log receives progress lines; discarded when nil.
	Log io.Writer
	// Hold starts the plan's targets, writes one libpq environment file per
	// target (<work dir>/<target>.env, for psql, pgbench or a profiler by
	// hand) and waits until ctx ends, measuring nothing.
	Hold bool
}

// runner is one benchmark run: its world, processes, targets and results.
type runner struct {
	opts    Options
	plan    plan
	w       *world
	procs   procs
	targets map[string]*target
	logf    func(string, ...any)
}

// Run runs the benchmark and writes its report. Every process it started is
// stopped and every temporary file removed before it returns.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.RepoDir == "" {
		opts.RepoDir = "."
	}
	if opts.OutDir == "" {
		opts.OutDir = filepath.Join(opts.RepoDir, "bench", "results")
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 20
	}
	out := opts.Log
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	r := &runner{opts: opts, plan: makePlan(opts.Full), targets: map[string]*target{}}
	r.logf = func(f string, a ...any) {
		fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(f, a...))
	}
	r.applyOverrides()
	raiseFileLimit(r.logf)

	rep := &Report{Started: start.UTC(), Mode: mode(opts.Full), Rounds: r.plan.rounds, Scale: r.plan.scale,
		PoolSize: opts.PoolSize, CPUs: runtime.NumCPU(), LoadStart: loadAverage()}
	var err error
	if r.w, err = newWorld(ctx, r.plan.scale, r.logf); err != nil {
		return nil, err
	}
	defer r.w.close()
	defer r.procs.stopAll()
	bin := opts.PgshieldBin
	if bin == "" {
		r.logf("building pgshield")
		bin = filepath.Join(r.w.dir, "pgshield")
		if _, err := runCmd(ctx, 5*time.Minute, []string{"CGO_ENABLED=1"}, "go", "build", "-C", opts.RepoDir, "-o", bin, "./cmd/pgshield"); err != nil {
			return nil, fmt.Errorf("build pgshield: %w", err)
		}
	}
	rep.Versions = versions(ctx, bin)
	if err := r.startTargets(ctx, bin); err != nil {
		return nil, err
	}
	for _, name := range r.targetNames() {
		t := r.targets[name]
		rep.Targets = append(rep.Targets, TargetInfo{Name: name, Available: t.unavailable == "", Note: t.unavailable,
			Pooled: t.pooled, DirectTLS: t.directTLS, Variant: t.variant, Desc: t.desc})
	}
	if opts.Hold {
		return nil, r.hold(ctx)
	}
	r.logf("measuring for about %s (%d rounds), then memory", r.estimate().Round(time.Second), r.plan.rounds)
	for _, wl := range r.plan.workloads {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rep.Workloads = append(rep.Workloads, r.runWorkload(ctx, wl))
	}
	if r.plan.memory > 0 {
		rep.Memory = r.runMemory(ctx)
	}
	if len(opts.GoBench) > 0 {
		rep.GoBench = r.runGoBench(ctx)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.Elapsed = time.Since(start).Round(time.Second).String()
	rep.LoadEnd = loadAverage()
	if err := rep.write(opts.OutDir); err != nil {
		return rep, err
	}
	r.logf("wrote %s", rep.files)
	return rep, nil
}

func mode(full bool) string {
	if full {
		return "full"
	}
	return "quick"
}

func (r *runner) applyOverrides() {
	if r.opts.Rounds > 0 {
		r.plan.rounds = r.opts.Rounds
	}
	if r.opts.MemoryClients != 0 {
		r.plan.memory = max(r.opts.MemoryClients, 0)
	}
	var wls []workload
	for _, wl := range r.plan.workloads {
		if len(r.opts.Only) > 0 && !slices.Contains(r.opts.Only, wl.ID) {
			continue
		}
		if r.opts.Duration > 0 {
			wl.Dur = r.opts.Duration
		}
		wls = append(wls, wl)
	}
	r.plan.workloads = wls
}

// targetNames lists, in a fixed order, every target the plan uses.
func (r *runner) targetNames() []string {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, wl := range r.plan.workloads {
		for _, n := range wl.Targets {
			add(n)
		}
	}
	if r.plan.memory > 0 {
		for _, n := range memoryTargets {
			add(n)
		}
	}
	return names
}

// startTargets starts what the plan uses. Direct PostgreSQL and the base
// pgshield must work; any other target that fails is reported, not fatal.
func (r *runner) startTargets(ctx context.Context, bin string) error {
	maxClients := max(r.plan.memory, sessionMemoryCap) + 100
	for _, name := range r.targetNames() {
		var (
			t   *target
			err error
		)
		r.logf("starting %s", name)
		switch {
		case name == "direct":
			t = r.w.directTarget()
			err = r.w.waitReady(ctx, t, 10*time.Second)
		case name == "pgbouncer":
			t, err = r.w.startPgbouncer(ctx, &r.procs, r.opts.PoolSize, maxClients)
		case name == "haproxy":
			// HAProxy keeps a PostgreSQL backend per client: it never needs
			// more than max_connections, and asks for 2 descriptors per conn.
			t, err = r.w.startHAProxy(ctx, &r.procs, 1000)
		default:
			v, ok := findVariant(name)
			if !ok {
				return fmt.Errorf("unknown target %q", name)
			}
			t, err = r.w.startPgshield(ctx, &r.procs, bin, v, r.opts.PoolSize, maxClients)
		}
		if err != nil {
			if name == "direct" || name == "pgshield" || t == nil {
				return fmt.Errorf("target %s: %w", name, err)
			}
			t.unavailable = "failed to start: " + err.Error()
		}
		if t.unavailable != "" {
			r.logf("  %s: %s", name, t.unavailable)
		}
		r.targets[name] = t
	}
	return nil
}

// raiseFileLimit lifts the descriptor limit to its hard maximum for this
// process and its children (thousands of idle clients need it). Setting it
// explicitly stops Go from restoring the old limit in children.
func raiseFileLimit(logf func(string, ...any)) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("cannot raise the open file limit: %v", err)
	}
}

// versions records what was measured.
func versions(ctx context.Context, pgshield string) map[string]string {
	v := map[string]string{"go": runtime.Version()}
	try := func(key string, argv ...string) {
		if out, err := runCmd(ctx, 10*time.Second, nil, argv...); err == nil {
			v[key] = firstLine(out)
		}
	}
	try("pgbench", "pgbench", "--version")
	if b, err := lookBin("pgbouncer"); err == nil {
		try("pgbouncer", b, "--version")
	}
	if b, err := lookBin("haproxy"); err == nil {
		try("haproxy", b, "-v")
		v["haproxy"], _, _ = strings.Cut(v["haproxy"], " - ")
	}
	return v
}

// estimate is the measuring time of the workloads on the available targets.
func (r *runner) estimate() time.Duration {
	var d time.Duration
	for _, wl := range r.plan.workloads {
		for _, n := range wl.Targets {
			if t := r.targets[n]; t != nil && t.unavailable == "" {
				d += time.Duration(r.plan.rounds) * wl.Dur
			}
		}
	}
	return d
}

// hold writes every available target's libpq environment to a file and
// waits for ctx to end (Ctrl-C or -timeout); the deferred stops in Run then
// stop every process.
func (r *runner) hold(ctx context.Context) error {
	for _, name := range r.targetNames() {
		t := r.targets[name]
		if t.unavailable != "" {
			continue
		}
		file := filepath.Join(r.w.dir, name+".env")
		var b strings.Builder
		for _, kv := range r.w.libpqEnv(t) {
			k, v, _ := strings.Cut(kv, "=")
			fmt.Fprintf(&b, "export %s='%s'\n", k, v)
		}
		if t.proc != nil {
			fmt.Fprintf(&b, "# pid %d\n", t.proc.pid())
		}
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			return err
		}
		r.logf("%-10s . %s", name, file)
	}
	r.logf("holding every target until Ctrl-C or -timeout")
	<-ctx.Done()
	return nil
}
