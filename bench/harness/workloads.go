package harness

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pgshield/pgshield/bench/loadgen"
)

// workload is one measurement repeated over every target in interleaved
// rounds. The first target is the baseline, direct PostgreSQL.
type workload struct {
	// ID names it in the JSON ("select-16"); Title in the table.
	ID    string `json:"id"`
	Title string `json:"title"`
	// Number is the brief's workload number (1 … 8).
	Number int `json:"number"`
	// Tool is "pgbench" or "loadgen".
	Tool string `json:"tool"`
	// Args are pgbench's workload flags (-S, -M prepared, -C).
	Args    []string      `json:"args,omitempty"`
	Clients int           `json:"clients"`
	Connect bool          `json:"connect,omitempty"`
	Dur     time.Duration `json:"duration_ns"`
	// Latency marks a workload reported as p50/p99 rather than throughput.
	Latency bool     `json:"latency,omitempty"`
	Targets []string `json:"targets"`
}

// sample is one run of one workload on one target.
type sample struct {
	TPS    float64 `json:"tps"`
	P50ms  float64 `json:"p50_ms,omitempty"`
	P99ms  float64 `json:"p99_ms,omitempty"`
	Failed int64   `json:"failed,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// plan is what one mode runs.
type plan struct {
	rounds    int
	scale     int
	memory    int // idle clients for pooled targets; 0 skips workload 6
	workloads []workload
}

// sessionMemoryCap bounds the idle clients held on targets that keep a
// backend connection per client (PostgreSQL's max_connections is 600).
const sessionMemoryCap = 200

func makePlan(full bool) plan {
	pgb := []string{"direct", "pgshield", "pgbouncer"}
	all := []string{"direct", "pgshield", "pgbouncer", "haproxy"}
	if !full {
		d := 2 * time.Second
		return plan{rounds: 3, scale: 2, workloads: []workload{
			{ID: "select-16", Title: "pgbench -S, 16 clients (tps)", Number: 1, Tool: "pgbench", Args: []string{"-S"}, Clients: 16, Dur: d, Targets: pgb},
			{ID: "select-64", Title: "pgbench -S, 64 clients (tps)", Number: 1, Tool: "pgbench", Args: []string{"-S"}, Clients: 64, Dur: d, Targets: pgb},
			{ID: "latency-1", Title: "latency, 1 client (p50 / p99 over direct)", Number: 4, Tool: "loadgen", Clients: 1, Dur: d, Latency: true, Targets: all},
			{ID: "connect-8", Title: "pgbench -S -C, 8 clients (connections/s)", Number: 5, Tool: "pgbench", Args: []string{"-S", "-C"}, Clients: 8, Dur: d, Targets: pgb},
			{ID: "connect-8-loadgen", Title: "loadgen -C, 8 clients (connections/s)", Number: 5, Tool: "loadgen", Connect: true, Clients: 8, Dur: d, Targets: []string{"direct", "haproxy"}},
		}}
	}
	d, short := 4*time.Second, 3*time.Second
	return plan{rounds: 5, scale: 10, memory: 10000, workloads: []workload{
		{ID: "select-16", Title: "pgbench -S, 16 clients (tps)", Number: 1, Tool: "pgbench", Args: []string{"-S"}, Clients: 16, Dur: d, Targets: pgb},
		{ID: "select-64", Title: "pgbench -S, 64 clients (tps)", Number: 1, Tool: "pgbench", Args: []string{"-S"}, Clients: 64, Dur: d, Targets: pgb},
		{ID: "select-64-loadgen", Title: "loadgen select, 64 clients (tps)", Number: 1, Tool: "loadgen", Clients: 64, Dur: d, Targets: all},
		{ID: "tpcb-16", Title: "pgbench TPC-B, 16 clients (tps)", Number: 2, Tool: "pgbench", Clients: 16, Dur: d, Targets: pgb},
		{ID: "prepared-16", Title: "pgbench -S -M prepared, 16 clients (tps)", Number: 3, Tool: "pgbench", Args: []string{"-S", "-M", "prepared"}, Clients: 16, Dur: d, Targets: pgb},
		{ID: "latency-1", Title: "latency, 1 client (p50 / p99 over direct)", Number: 4, Tool: "loadgen", Clients: 1, Dur: short, Latency: true, Targets: all},
		{ID: "connect-8", Title: "pgbench -S -C, 8 clients (connections/s)", Number: 5, Tool: "pgbench", Args: []string{"-S", "-C"}, Clients: 8, Dur: short, Targets: pgb},
		{ID: "connect-8-loadgen", Title: "loadgen -C, 8 clients (connections/s)", Number: 5, Tool: "loadgen", Connect: true, Clients: 8, Dur: short, Targets: []string{"direct", "haproxy"}},
		{ID: "features-16", Title: "feature cost: pgbench -S, 16 clients (tps)", Number: 7, Tool: "pgbench", Args: []string{"-S"}, Clients: 16, Dur: d,
			Targets: []string{"direct", "pgshield", "pgshield-audit-off", "pgshield-audit-async", "pgshield-audit-sync", "pgshield-nofw", "pgshield-session"}},
	}}
}

var (
	tpsRe    = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	failedRe = regexp.MustCompile(`number of failed transactions: (\d+)`)
	errorRe  = regexp.MustCompile(`(?m)^pgbench: error: (.*)$`)
)

// measure runs wl once on t.
func (r *runner) measure(ctx context.Context, wl workload, t *target) sample {
	if wl.Tool == "loadgen" {
		cfg, err := r.w.pgxConfig(t)
		if err != nil {
			return sample{Error: err.Error()}
		}
		res, err := loadgen.Run(ctx, loadgen.Options{Config: cfg, Clients: wl.Clients, Duration: wl.Dur, Scale: r.plan.scale, Connect: wl.Connect})
		s := sample{TPS: res.TPS, Failed: res.Errors, P50ms: ms(res.P50), P99ms: ms(res.P99), Error: res.FirstError}
		if err != nil {
			s.Error = err.Error()
		}
		return s
	}
	args := []string{"pgbench", "-n", "-T", strconv.Itoa(int(wl.Dur.Seconds())), "-c", strconv.Itoa(wl.Clients),
		"-j", strconv.Itoa(min(wl.Clients, 2))}
	args = append(args, wl.Args...)
	out, err := runCmd(ctx, wl.Dur+60*time.Second, r.w.libpqEnv(t), args...)
	return parsePgbench(out, err)
}

// parsePgbench reads tps, failed transactions and the first error from
// pgbench's output. A client aborted on an error counts as one failure.
func parsePgbench(out string, err error) sample {
	var s sample
	if m := tpsRe.FindStringSubmatch(out); m != nil {
		s.TPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := failedRe.FindStringSubmatch(out); m != nil {
		s.Failed, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := errorRe.FindStringSubmatch(out); m != nil {
		s.Error = strings.TrimSpace(m[1])
	} else if err != nil {
		s.Error = err.Error()
	}
	if s.Error != "" && s.Failed == 0 {
		s.Failed = 1 // pgbench aborts a client on its first error
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// describe is the command line a person would type for wl (for the report).
func (wl workload) describe() string {
	if wl.Tool == "loadgen" {
		s := fmt.Sprintf("loadgen -c %d -T %s", wl.Clients, wl.Dur)
		if wl.Connect {
			s += " -C"
		}
		return s
	}
	return fmt.Sprintf("pgbench -n -T %d -c %d -j %d %s", int(wl.Dur.Seconds()), wl.Clients, min(wl.Clients, 2), strings.Join(wl.Args, " "))
}
