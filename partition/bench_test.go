package partition

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkAckedAppend measures single-record appends acknowledged under each
// fsync mode, with 1 and 16 concurrent appenders. With "always", records/s at
// 16 appenders over records/s at 1 shows what group commit buys.
func BenchmarkAckedAppend(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncAlways, FsyncNever} {
		for _, appenders := range []int{1, 16} {
			b.Run(fmt.Sprintf("fsync=%s/appenders=%d", mode, appenders), func(b *testing.B) {
				cfg := testConfig()
				cfg.SegmentBytes = 64 << 20
				cfg.IndexIntervalBytes = 4096
				cfg.Fsync = mode
				r := openTest(b, b.TempDir(), cfg)
				defer r.Close()
				r.CreateTopic(context.Background(), "b", 1)
				p, _ := r.Partition("b", 0)
				recs := []Record{{Value: make([]byte, 100)}}
				b.SetBytes(100)
				b.ResetTimer()
				var wg sync.WaitGroup
				per := b.N / appenders
				for a := 0; a < appenders; a++ {
					n := per
					if a == 0 {
						n += b.N % appenders
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < n; i++ {
							if _, _, err := p.Append(context.Background(), recs); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// BenchmarkAppendBatch measures 1,000-record batches of 100 B per append.
func BenchmarkAppendBatch(b *testing.B) {
	for _, mode := range []FsyncMode{FsyncNever, FsyncInterval, FsyncAlways} {
		b.Run("fsync="+mode.String(), func(b *testing.B) {
			cfg := testConfig()
			cfg.SegmentBytes = 256 << 20
			cfg.IndexIntervalBytes = 4096
			cfg.Fsync = mode
			r := openTest(b, b.TempDir(), cfg)
			defer r.Close()
			r.CreateTopic(context.Background(), "b", 1)
			p, _ := r.Partition("b", 0)
			recs := make([]Record, 1000)
			for i := range recs {
				recs[i].Value = make([]byte, 100)
			}
			b.SetBytes(100 * 1000)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := p.Append(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
