package main

import (
	"os"
	"runtime"
)

// oneProcMaxRate is the highest --rate at which the latency workload runs
// on one P. At these rates the whole bench (senders, gRPC's reader and
// writer, consumers) needs well under one CPU, and a second P buys nothing
// but cost: every goroutine made ready while the other P is idle wakes a
// thread to look for work (Go's spinning Ms), and on a VM each wake-up
// costs about 30 µs of CPU. On the 2-CPU VM at 10,000/s, one P took a
// sixth off the bench's CPU and a third off its p50 (see the commit that
// brought it in). Above this rate one CPU may not be enough.
const oneProcMaxRate = 20_000

// latencyProcs sets GOMAXPROCS to 1 for a latency run at rate, unless the
// GOMAXPROCS environment variable chose a value, and returns the func that
// restores the default.
func latencyProcs(rate float64) (restore func()) {
	if rate > oneProcMaxRate || os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) == 1 {
		return func() {}
	}
	runtime.GOMAXPROCS(1)
	return runtime.SetDefaultGOMAXPROCS
}
