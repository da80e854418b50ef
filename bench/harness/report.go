package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is everything one run measured; it is written as JSON as it is.
type Report struct {
	Started  time.Time `json:"started"`
	Elapsed  string    `json:"elapsed"`
	Mode     string    `json:"mode"`
	Rounds   int       `json:"rounds"`
	Scale    int       `json:"pgbench_scale"`
	PoolSize int       `json:"pool_size"`
	CPUs     int       `json:"cpus"`
	// LoadStart and LoadEnd are /proc/loadavg's 1-minute figure: how busy
	// the shared machine was.
	LoadStart string            `json:"load_average_start"`
	LoadEnd   string            `json:"load_average_end"`
	Versions  map[string]string `json:"versions"`
	Targets   []TargetInfo      `json:"targets"`
	Workloads []WorkloadResult  `json:"workloads"`
	Memory    []MemRow          `json:"memory,omitempty"`
	GoBench   []GoBenchRow      `json:"go_bench,omitempty"`
	// Notes are remarks a person added to the JSON, shown in the report.
	Notes []string `json:"notes,omitempty"`

	// files are the paths written, for the log.
	files []string
}

// TargetInfo says what a target is and whether this run could measure it.
type TargetInfo struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
	Pooled    bool   `json:"pooled,omitempty"`
	DirectTLS bool   `json:"direct_tls,omitempty"`
	Variant   string `json:"variant_yaml,omitempty"`
	Desc      string `json:"description"`
}

// WorkloadResult is one workload's rows, one per measured target.
type WorkloadResult struct {
	Workload workload `json:"workload"`
	Command  string   `json:"command"`
	Rows     []Row    `json:"rows"`
	Skipped  []Skip   `json:"skipped,omitempty"`
}

// Skip is a target a workload could not measure, and why.
type Skip struct {
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// Row is a target's medians over the rounds, and its ratio to direct
// PostgreSQL in the same workload.
type Row struct {
	Target     string  `json:"target"`
	TPS        float64 `json:"median_tps"`
	Ratio      float64 `json:"ratio_to_direct"`
	P50ms      float64 `json:"median_p50_ms,omitempty"`
	P99ms      float64 `json:"median_p99_ms,omitempty"`
	DeltaP50ms float64 `json:"p50_over_direct_ms,omitempty"`
	DeltaP99ms float64 `json:"p99_over_direct_ms,omitempty"`
	// Spread is the noise: the relative median absolute deviation of the
	// paired per-round ratios to direct; for direct itself, of its rates.
	Spread  float64  `json:"spread"`
	Failed  int64    `json:"failed,omitempty"`
	Error   string   `json:"first_error,omitempty"`
	Samples []sample `json:"rounds"`
}

// MemRow is workload 6 on one proxy process.
type MemRow struct {
	Target         string  `json:"target"`
	Clients        int     `json:"clients"`
	RSSBeforeKiB   int64   `json:"rss_before_kib"`
	RSSAfterKiB    int64   `json:"rss_after_kib"`
	PerClientKiB   float64 `json:"rss_per_client_kib"`
	ConnectSeconds float64 `json:"connect_seconds,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// GoBenchRow is one `go test -bench` result line.
type GoBenchRow struct {
	Package string  `json:"package,omitempty"`
	Name    string  `json:"name"`
	N       int64   `json:"n,omitempty"`
	NsPerOp float64 `json:"ns_per_op,omitempty"`
	Extra   string  `json:"extra,omitempty"`
}

// write puts <date>.md, .json and .png into dir.
func (rep *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(dir, rep.Started.Format("2006-01-02-150405")+"-"+rep.Mode)
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	png, err := rep.chart()
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	for ext, data := range map[string][]byte{".json": append(js, '\n'), ".md": []byte(rep.markdown(filepath.Base(base) + ".png")), ".png": png} {
		if err := os.WriteFile(base+ext, data, 0o644); err != nil {
			return err
		}
		rep.files = append(rep.files, base+ext)
	}
	slices.Sort(rep.files)
	return nil
}

// measuredTargets are the targets with at least one row, in report order.
func (rep *Report) measuredTargets() []string {
	var names []string
	for _, t := range rep.Targets {
		for _, wl := range rep.Workloads {
			if slices.ContainsFunc(wl.Rows, func(r Row) bool { return r.Target == t.Name }) && !slices.Contains(names, t.Name) {
				names = append(names, t.Name)
			}
		}
	}
	return names
}

func (rep *Report) markdown(pngName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pgshield benchmark, %s mode, %s\n\n", rep.Mode, rep.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "Every cell is the median of %d interleaved rounds (A B C A B C …), as a ratio to direct PostgreSQL (TLS 1.3 + client "+
		"certificate) measured in the same run: **1.00× = as fast as direct, higher is better**. Latency cells are "+
		"milliseconds added to direct's p50 / p99. Each round's figure is paired with direct's in the same round, so "+
		"a machine that gets busier between rounds cancels out; `~` marks a ratio whose rounds stray from it by "+
		"more than 10%% (median absolute deviation: read it with care), `!` failed transactions (see below). The direct column gives the absolute "+
		"figure for scale only.\n\n", rep.Rounds)
	names := rep.measuredTargets()
	b.WriteString("| workload | " + strings.Join(names, " | ") + " |\n|---|" + strings.Repeat("---:|", len(names)) + "\n")
	var notes []string
	for _, wl := range rep.Workloads {
		cells := make([]string, len(names))
		for i, n := range names {
			cells[i] = "–"
			if slices.ContainsFunc(wl.Skipped, func(s Skip) bool { return s.Target == n }) {
				cells[i] = "n/a"
			}
			for _, r := range wl.Rows {
				if r.Target != n {
					continue
				}
				cells[i] = cell(wl.Workload, r)
				if r.Spread > 0.10 && !wl.Workload.Latency && n != "direct" && !strings.HasPrefix(cells[i], "aborted") {
					cells[i] += " ~"
				}
				if r.Failed > 0 || r.Error != "" {
					cells[i] += " !"
					notes = append(notes, fmt.Sprintf("%s on %s: %d failed; %s", wl.Workload.ID, n, r.Failed, r.Error))
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %s |\n", wl.Workload.Title, strings.Join(cells, " | "))
	}
	if len(rep.Memory) > 0 {
		b.WriteString("\n| idle TLS clients (workload 6) | clients | RSS before → after | per client |\n|---|---:|---:|---:|\n")
		for _, m := range rep.Memory {
			if m.Error != "" && m.Clients == 0 {
				fmt.Fprintf(&b, "| %s | – | – | n/a |\n", m.Target)
				continue
			}
			if m.Error != "" {
				notes = append(notes, fmt.Sprintf("memory on %s: %s", m.Target, m.Error))
				fmt.Fprintf(&b, "| %s | %d | – | error ! |\n", m.Target, m.Clients)
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %.1f → %.1f MiB | %.1f KiB |\n", m.Target, m.Clients,
				float64(m.RSSBeforeKiB)/1024, float64(m.RSSAfterKiB)/1024, m.PerClientKiB)
		}
	}
	fmt.Fprintf(&b, "\n![throughput and latency](%s)\n", pngName)
	if len(notes) > 0 {
		b.WriteString("\n## Failures\n\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range rep.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	b.WriteString("\n## Targets\n\n")
	for _, t := range rep.Targets {
		state := "measured"
		if !t.Available {
			state = t.Note
		}
		fmt.Fprintf(&b, "- **%s**: %s — %s\n", t.Name, t.Desc, state)
	}
	b.WriteString("\n## Commands\n\n")
	for _, wl := range rep.Workloads {
		fmt.Fprintf(&b, "- %s: `%s`\n", wl.Workload.ID, wl.Command)
	}
	if len(rep.GoBench) > 0 {
		b.WriteString("\n## go test -bench\n\n| package | benchmark | ns/op | |\n|---|---|---:|---|\n")
		for _, g := range rep.GoBench {
			fmt.Fprintf(&b, "| %s | %s | %.0f | %s |\n", g.Package, g.Name, g.NsPerOp, g.Extra)
		}
	}
	fmt.Fprintf(&b, "\nMachine: %d CPUs (shared; load average %s at the start, %s at the end), pgbench scale %d, "+
		"pool size %d, took %s. Versions: %s.\n",
		rep.CPUs, orUnknown(rep.LoadStart), orUnknown(rep.LoadEnd), rep.Scale, rep.PoolSize, rep.Elapsed, versionLine(rep.Versions))
	return b.String()
}

func cell(wl workload, r Row) string {
	switch {
	case wl.Latency && r.Target == "direct":
		return fmt.Sprintf("%.3f / %.3f ms", r.P50ms, r.P99ms)
	case wl.Latency:
		return fmt.Sprintf("%+.3f / %+.3f", r.DeltaP50ms, r.DeltaP99ms)
	case r.Error != "" && wl.Tool == "pgbench":
		return "aborted" // pgbench aborted clients: the rate is not comparable
	case r.Target == "direct":
		return fmt.Sprintf("%.0f", r.TPS)
	default:
		return fmt.Sprintf("%.2f×", r.Ratio)
	}
}

func versionLine(v map[string]string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + v[k]
	}
	return strings.Join(parts, "; ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// Summary is the Markdown report's table part and the files written, for
// the terminal.
func (rep *Report) Summary() string {
	md := rep.markdown("chart.png")
	if i := strings.Index(md, "\n![throughput"); i >= 0 {
		md = md[:i]
	}
	return md + "\n\nwritten: " + strings.Join(rep.files, " ") + "\n"
}

// Rerender reads a report's JSON, summarises every workload again from the
// rounds it holds and rewrites its .md, .json and .png: for a change to how
// figures are compared or drawn, without measuring again.
func Rerender(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range rep.Workloads {
		rows := rep.Workloads[i].Rows
		for j := range rows {
			rows[j] = summarize(rows[j].Target, rows[j].Samples)
		}
		compare(rows)
	}
	return &rep, rep.write(filepath.Dir(path))
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
