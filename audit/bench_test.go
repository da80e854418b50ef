package audit

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures records/sec per durability mode and number of
// concurrent appenders. Run with a short -benchtime; it writes real files.
func BenchmarkAppend(b *testing.B) {
	k := newTestKey(b, "bench")
	for _, d := range []Durability{DurabilitySync, DurabilityBatch, DurabilityAsync} {
		for _, workers := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/appenders=%d", d, workers), func(b *testing.B) {
				o := testOptions(b.TempDir(), k, newFakeClock())
				o.Now = time.Now
				o.Durability = d
				s := mustOpen(b, o)
				defer s.Close()
				rec := stmt(1)
				b.ResetTimer()
				var wg sync.WaitGroup
				per := (b.N + workers - 1) / workers
				for range workers {
					wg.Go(func() {
						for range per {
							if _, err := s.Append(context.Background(), rec); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				b.ReportMetric(float64(per*workers)/b.Elapsed().Seconds(), "records/s")
				st := s.Stats()
				b.ReportMetric(float64(per*workers)/float64(max(st.Syncs, 1)), "records/sync")
			})
		}
	}
}

// BenchmarkVerify measures verification records/sec on a 20k-record log.
func BenchmarkVerify(b *testing.B) {
	k := newTestKey(b, "bench")
	dir := b.TempDir()
	o := testOptions(dir, k, newFakeClock())
	o.Durability = DurabilityAsync
	s := mustOpen(b, o)
	appendConcurrently(b, s, 16, 20000/16)
	s.Close()
	b.ResetTimer()
	var n uint64
	for b.Loop() {
		rep, err := Verify(dir, k.vkey, VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n += rep.Records
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
