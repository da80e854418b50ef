package metrics

import (
	"testing"
	"time"
)

// BenchmarkStatement is the per-statement cost the proxy pays: one counter
// add and one histogram observation on a pre-resolved identity.
func BenchmarkStatement(b *testing.B) {
	m, _ := newTest(b)
	c := m.OpenConn()
	c.SetIdentity(m.Identity("scrape-eu1"))
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		c.Statement(1500 * time.Microsecond)
	}
}

// BenchmarkStatementParallel shows contention on the shared histogram when
// many connections of one identity run statements at once.
func BenchmarkStatementParallel(b *testing.B) {
	m, _ := newTest(b)
	id := m.Identity("app")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id.Statement(1500 * time.Microsecond)
		}
	})
}

func BenchmarkStatementNoop(b *testing.B) {
	c := NewNoop().OpenConn()
	b.ReportAllocs()
	for b.Loop() {
		c.Statement(1500 * time.Microsecond)
	}
}

// BenchmarkIdentityGlob is the once-per-connection resolution cost.
func BenchmarkIdentityGlob(b *testing.B) {
	m, _ := newTest(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Identity("batch-07")
	}
}
