//go:build !unix

package server

import "time"

// cpuTime is 0 (unknown) where there is no getrusage; the benchmark's CPU
// ratio then reports NaN rather than a made-up figure.
func cpuTime() time.Duration { return 0 }
