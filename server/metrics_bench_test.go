package server

import (
	"context"
	"sync"
	"syscall"
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

// BenchmarkProduceMetricsAB runs brokers with metrics off and on side by
// side in one process and alternates rounds of 8 parallel producers between
// them, so that load from elsewhere on a shared machine falls on both alike.
// It reports each side's time per request and the overhead in percent.
func BenchmarkProduceMetricsAB(b *testing.B) {
	const producers, perRound = 8, 128
	sides := [2]func(){newProduceBench(b, false), newProduceBench(b, true)}
	var took, cpu [2]time.Duration
	round := func(produce func()) (wall, cpu time.Duration) {
		start, cpu0 := time.Now(), cpuTime()
		var wg sync.WaitGroup
		for range producers {
			wg.Go(func() {
				for range perRound / producers {
					produce()
				}
			})
		}
		wg.Wait()
		return time.Since(start), cpuTime() - cpu0
	}
	for _, p := range sides { // warm both up
		round(p)
	}
	b.ResetTimer()
	rounds := 0
	for i := 0; i < b.N; i += 2 * perRound {
		first := rounds % 2 // alternate which side goes first
		for j := range 2 {
			side := first ^ j
			w, c := round(sides[side])
			took[side] += w
			cpu[side] += c
		}
		rounds++
	}
	n := float64(rounds * perRound)
	off, on := float64(took[0])/n, float64(took[1])/n
	b.ReportMetric(off, "off-ns/req")
	b.ReportMetric(on, "on-ns/req")
	b.ReportMetric(100*(on-off)/off, "overhead-%")
	cpuOff, cpuOn := float64(cpu[0])/n, float64(cpu[1])/n
	b.ReportMetric(cpuOff, "off-cpu-ns/req")
	b.ReportMetric(cpuOn, "on-cpu-ns/req")
	b.ReportMetric(100*(cpuOn-cpuOff)/cpuOff, "cpu-overhead-%")
}

// cpuTime is the CPU time the process has used, user and system: the
// client's and the broker's work alike, less sensitive than wall time to
// other load on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
