package server

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server/metrics"
)

// newProduceBench serves real storage (--fsync never, so that the disk does
// not hide CPU cost) with metrics on or off, and returns a produce call.
func newProduceBench(b *testing.B, on bool) func() {
	var m *metrics.Metrics
	cfg := partition.Config{Fsync: partition.FsyncNever, Logger: testLogger(b)}
	if on {
		m = metrics.New(metrics.Options{})
		cfg.Observer = m
	}
	reg, err := partition.Open(b.TempDir(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := reg.Close(); err != nil {
			b.Error(err)
		}
	})
	m.SetStorage(reg)
	h := serve(b, Options{Registry: FromRegistry(reg), Metrics: m})
	h.createTopic(b, "t", 1)
	req := &pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: make([]byte, 128), TimestampMs: 1}}}
	return func() {
		if _, err := h.client.Produce(context.Background(), req); err != nil {
			b.Error(err)
		}
	}
}

// BenchmarkProduceMetrics produces one 128-byte record per request over
// loopback gRPC, 8 producers, with metrics off and on. -count interleaves
// the two; compare with benchstat.
func BenchmarkProduceMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "metrics=off"
		if on {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			produce := newProduceBench(b, on)
			b.SetParallelism(4) // 4 producers per core: group commit at work
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					produce()
				}
			})
		})
	}
}

// BenchmarkProduceMetricsAB runs two brokers side by side in one process
// and alternates rounds of 8 parallel producers between them (which one goes
// first alternates too), so that load from elsewhere on a shared machine
// falls on both alike. It reports the median, over pairs of rounds, of the
// second broker's time per request over the first's, in wall time and in
// process CPU time. off-vs-off measures the noise floor; off-vs-on, the cost
// of metrics:
//
//	go test -run '^$' -bench ProduceMetricsAB -benchtime 40000x -count 5 ./server/
func BenchmarkProduceMetricsAB(b *testing.B) {
	for _, tt := range []struct {
		name   string
		second bool // metrics on the second broker
	}{{"off-vs-off", false}, {"off-vs-on", true}} {
		b.Run(tt.name, func(b *testing.B) {
			sides := [2]func(){newProduceBench(b, false), newProduceBench(b, tt.second)}
			for _, p := range sides { // warm both up
				abRound(p)
			}
			var wall, cpu []float64 // second/first, per pair of rounds
			b.ResetTimer()
			for i := 0; i < b.N; i += 2 * abPerRound {
				var w, c [2]time.Duration
				first := (i / (2 * abPerRound)) % 2
				for j := range 2 {
					side := first ^ j
					w[side], c[side] = abRound(sides[side])
				}
				wall = append(wall, float64(w[1])/float64(w[0]))
				cpu = append(cpu, float64(c[1])/float64(c[0]))
			}
			b.ReportMetric(100*(median(wall)-1), "wall-diff-%")
			b.ReportMetric(100*(median(cpu)-1), "cpu-diff-%")
		})
	}
}

const abProducers, abPerRound = 8, 128

// abRound sends abPerRound requests from abProducers goroutines and returns
// the wall and process CPU time they took.
func abRound(produce func()) (wall, cpu time.Duration) {
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range abProducers {
		wg.Go(func() {
			for range abPerRound / abProducers {
				produce()
			}
		})
	}
	wg.Wait()
	return time.Since(start), cpuTime() - cpu0
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
