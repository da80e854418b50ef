package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// These helpers stand in for prometheus/testutil, whose diff dependency is
// not in go.sum.

// metricValue reads a single counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if pb.Counter != nil {
		return pb.Counter.GetValue()
	}
	return pb.Gauge.GetValue()
}

// lookup finds the sample of metric whose labels include every name/value
// pair in labels. A histogram's value is its observation count.
func lookup(t *testing.T, g prometheus.Gatherer, metric string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// sample is lookup with -1 for a missing series.
func sample(t *testing.T, g prometheus.Gatherer, metric string, labels ...string) float64 {
	t.Helper()
	if v, ok := lookup(t, g, metric, labels...); ok {
		return v
	}
	return -1
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name && lp.GetValue() == value {
			return true
		}
	}
	return false
}

// seriesCount counts the series of metric, or of every metric when metric
// is empty.
func seriesCount(t *testing.T, g prometheus.Gatherer, metric string) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if metric == "" || mf.GetName() == metric {
			n += len(mf.GetMetric())
		}
	}
	return n
}
