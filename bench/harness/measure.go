package harness

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pgshield/pgshield/bench/loadgen"
)

// memoryTargets are the processes whose RSS workload 6 reads.
var memoryTargets = []string{"pgshield", "pgbouncer", "haproxy"}

// runWorkload measures wl on each available target, round after round
// (A B C A B C …), and summarises each target against direct PostgreSQL.
func (r *runner) runWorkload(ctx context.Context, wl workload) WorkloadResult {
	res := WorkloadResult{Workload: wl, Command: wl.describe()}
	var names []string
	for _, n := range wl.Targets {
		t := r.targets[n]
		if t.unavailable != "" {
			res.Skipped = append(res.Skipped, Skip{Target: n, Reason: t.unavailable})
			continue
		}
		names = append(names, n)
	}
	samples := map[string][]sample{}
	for round := 1; round <= r.plan.rounds && ctx.Err() == nil; round++ {
		for _, n := range names {
			t := r.targets[n]
			s := r.measure(ctx, wl, t)
			if ctx.Err() != nil {
				break
			}
			if t.proc != nil && s.Error != "" {
				if done, perr := t.proc.exited(); done {
					s.Error += fmt.Sprintf(" (%s exited: %v; log: %s)", n, perr, logTail(t.logFile))
				}
			}
			samples[n] = append(samples[n], s)
			msg := fmt.Sprintf("%s round %d %-20s tps %9.1f", wl.ID, round, n, s.TPS)
			if wl.Latency {
				msg += fmt.Sprintf("  p50 %.3f ms  p99 %.3f ms", s.P50ms, s.P99ms)
			}
			if s.Error != "" {
				msg += "  ERROR " + s.Error
			}
			r.logf("%s", msg)
		}
	}
	for _, n := range names {
		res.Rows = append(res.Rows, summarize(n, samples[n]))
	}
	compare(res.Rows)
	return res
}

// compare sets each row's ratio and latency deltas against direct's by
// pairing rounds: a target's round r is divided by direct's round r,
// measured moments apart, so a shared machine getting busier or quieter
// between rounds cancels out. Ratio is the median of the paired ratios and
// Spread, for every target but direct, their relative median absolute
// deviation.
func compare(rows []Row) {
	i := slices.IndexFunc(rows, func(r Row) bool { return r.Target == "direct" })
	if i < 0 {
		return
	}
	base := rows[i].Samples
	for i := range rows {
		r := &rows[i]
		var ratios, d50, d99 []float64
		for k := range min(len(r.Samples), len(base)) {
			b, s := base[k], r.Samples[k]
			if b.TPS > 0 {
				ratios = append(ratios, s.TPS/b.TPS)
			}
			d50, d99 = append(d50, s.P50ms-b.P50ms), append(d99, s.P99ms-b.P99ms)
		}
		r.Ratio, r.DeltaP50ms, r.DeltaP99ms = median(ratios), median(d50), median(d99)
		if r.Target != "direct" {
			r.Spread = relMAD(ratios)
		}
	}
}

// summarize takes the medians of a target's rounds.
func summarize(name string, ss []sample) Row {
	row := Row{Target: name, Samples: ss}
	var tps, p50, p99 []float64
	for _, s := range ss {
		tps, p50, p99 = append(tps, s.TPS), append(p50, s.P50ms), append(p99, s.P99ms)
		row.Failed += s.Failed
		if s.Error != "" && row.Error == "" {
			row.Error = s.Error
		}
	}
	row.TPS, row.P50ms, row.P99ms = median(tps), median(p50), median(p99)
	row.Spread = relMAD(tps)
	return row
}

// relMAD is the median absolute deviation from the median, relative to the
// median: 0.1 means half the rounds lie within 10% of the median. Unlike
// max − min, one disturbed round does not dominate it.
func relMAD(v []float64) float64 {
	m := median(v)
	if m == 0 {
		return 0
	}
	dev := make([]float64, len(v))
	for i, x := range v {
		dev[i] = math.Abs(x - m)
	}
	return median(dev) / m
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// runMemory holds idle TLS clients on each proxy and reads its RSS before
// and after. Targets that keep a backend per client get at most
// sessionMemoryCap clients (PostgreSQL cannot hold 10,000 backends here).
func (r *runner) runMemory(ctx context.Context) []MemRow {
	var rows []MemRow
	for _, n := range memoryTargets {
		t, ok := r.targets[n]
		if !ok {
			continue
		}
		if t.unavailable != "" {
			rows = append(rows, MemRow{Target: n, Error: t.unavailable})
			continue
		}
		// Every target at the session cap, so the figures compare; pooled
		// ones again at the full count.
		counts := []int{min(r.plan.memory, sessionMemoryCap)}
		if t.pooled && r.plan.memory > sessionMemoryCap {
			counts = append(counts, r.plan.memory)
		}
		for _, clients := range counts {
			if ctx.Err() != nil {
				return rows
			}
			row := MemRow{Target: n, Clients: clients}
			if err := r.memoryOne(ctx, t, &row); err != nil {
				row.Error = err.Error()
			}
			r.logf("memory %-16s %6d clients  RSS %d → %d KiB  %.1f KiB/client %s", n, clients,
				row.RSSBeforeKiB, row.RSSAfterKiB, row.PerClientKiB, row.Error)
			rows = append(rows, row)
		}
	}
	return rows
}

func (r *runner) memoryOne(ctx context.Context, t *target, row *MemRow) error {
	cfg, err := r.w.pgxConfig(t)
	if err != nil {
		return err
	}
	if row.RSSBeforeKiB, err = rssKiB(t.proc.pid()); err != nil {
		return err
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	held, err := loadgen.Hold(hctx, cfg, row.Clients, 32)
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	row.ConnectSeconds = time.Since(start).Seconds()
	time.Sleep(time.Second)
	row.RSSAfterKiB, err = rssKiB(t.proc.pid())
	held.Close()
	if err != nil {
		return err
	}
	row.PerClientKiB = float64(row.RSSAfterKiB-row.RSSBeforeKiB) / float64(row.Clients)
	time.Sleep(2 * time.Second) // let the proxy close its backends before the next target
	return nil
}

var goBenchRe = regexp.MustCompile(`^(Benchmark\S+)\s+(\d+)\s+([0-9.]+) ns/op(.*)$`)

// runGoBench is workload 8: `go test -bench` of the given packages, each
// result line kept as it is measured (not a ratio: nothing to compare with).
func (r *runner) runGoBench(ctx context.Context) []GoBenchRow {
	args := append([]string{"go", "test", "-C", r.opts.RepoDir, "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "200ms"}, r.opts.GoBench...)
	r.logf("%s", strings.Join(args, " "))
	out, err := runCmd(ctx, 10*time.Minute, nil, args...)
	var rows []GoBenchRow
	pkg := ""
	for line := range strings.SplitSeq(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p
		}
		if m := goBenchRe.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			n, _ := strconv.ParseInt(m[2], 10, 64)
			ns, _ := strconv.ParseFloat(m[3], 64)
			rows = append(rows, GoBenchRow{Package: pkg, Name: m[1], N: n, NsPerOp: ns, Extra: strings.Join(strings.Fields(m[4]), " ")})
		}
	}
	if err != nil {
		rows = append(rows, GoBenchRow{Name: "error", Extra: err.Error()})
	}
	return rows
}
