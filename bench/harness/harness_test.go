package harness

import (
	"bytes"
	"errors"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParsePgbench(t *testing.T) {
	ok := "transaction type: <builtin: select only>\nnumber of failed transactions: 0 (0.000%)\ntps = 12345.678901 (without initial connection time)\n"
	if s := parsePgbench(ok, nil); s.TPS != 12345.678901 || s.Failed != 0 || s.Error != "" {
		t.Fatalf("ok run: %+v", s)
	}
	aborted := "pgbench: error: client 0 script 0 aborted in command 1 query 0: ERROR:  prepared statement \"P_0\" already exists\ntps = 10.5 (without initial connection time)\n"
	s := parsePgbench(aborted, errors.New("exit status 2"))
	if s.TPS != 10.5 || s.Failed != 1 || !strings.Contains(s.Error, "P_0") {
		t.Fatalf("aborted run: %+v", s)
	}
	if s := parsePgbench("", errors.New("pgbench: timed out")); s.Error == "" || s.TPS != 0 {
		t.Fatalf("no output: %+v", s)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRejected(t *testing.T) {
	out := "pgshield: config x.yaml: yaml: unmarshal errors:\n  line 20: field pool_mode not found in type config.Config\n  line 21: field pool_size not found in type config.Config\n"
	if got := rejected(out); got != "unknown keys pool_mode, pool_size" {
		t.Fatalf("rejected = %q", got)
	}
	if got := rejected("a\nthe last line\n"); got != "the last line" {
		t.Fatalf("rejected = %q", got)
	}
}

// TestReportRenders: the table shows ratios, skipped and aborted targets,
// and the chart is a PNG.
func TestReportRenders(t *testing.T) {
	sel := workload{ID: "select-16", Title: "pgbench -S, 16 clients (tps)", Tool: "pgbench", Clients: 16}
	lat := workload{ID: "latency-1", Title: "latency", Tool: "loadgen", Clients: 1, Latency: true}
	rep := &Report{Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Mode: "quick", Rounds: 3,
		Targets: []TargetInfo{{Name: "direct", Available: true}, {Name: "pgshield", Available: true},
			{Name: "pgbouncer", Available: true}, {Name: "pgshield-audit-sync", Note: "not available yet (config check: unknown keys audit)"}},
		Workloads: []WorkloadResult{
			{Workload: sel, Rows: []Row{{Target: "direct", TPS: 1000, Ratio: 1}, {Target: "pgshield", TPS: 500, Ratio: 0.5},
				{Target: "pgbouncer", TPS: 10, Ratio: 0.01, Failed: 1, Error: "prepared statement"}},
				Skipped: []Skip{{Target: "pgshield-audit-sync", Reason: "not available yet"}}},
			{Workload: lat, Rows: []Row{{Target: "direct", P50ms: 0.1, P99ms: 0.2, Ratio: 1}, {Target: "pgshield", P50ms: 0.3, P99ms: 0.5, DeltaP50ms: 0.2, DeltaP99ms: 0.3}}},
		},
		Memory: []MemRow{{Target: "pgshield", Clients: 200, RSSBeforeKiB: 1024, RSSAfterKiB: 2048, PerClientKiB: 5.12}},
	}
	md := rep.markdown("x.png")
	for _, want := range []string{"| pgbench -S, 16 clients (tps) | 1000 | 0.50× | aborted ! |", "+0.200 / +0.300",
		"5.1 KiB", "not available yet", "select-16 on pgbouncer: 1 failed; prepared statement"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	b, err := rep.chart()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

// TestComparePairsRounds: a machine twice as busy in round 2 does not move
// the ratio, which is taken round by round.
func TestComparePairsRounds(t *testing.T) {
	rows := []Row{
		summarize("direct", []sample{{TPS: 1000, P50ms: 0.1}, {TPS: 500, P50ms: 0.2}, {TPS: 1000, P50ms: 0.1}}),
		summarize("pgshield", []sample{{TPS: 800, P50ms: 0.15}, {TPS: 400, P50ms: 0.3}, {TPS: 800, P50ms: 0.15}}),
	}
	compare(rows)
	if r := rows[1]; r.Ratio != 0.8 || r.Spread > 1e-9 || math.Abs(r.DeltaP50ms-0.05) > 1e-9 {
		t.Fatalf("pgshield row: %+v", r)
	}
	if rows[0].Ratio != 1 {
		t.Fatalf("direct ratio %v", rows[0].Ratio)
	}
}
