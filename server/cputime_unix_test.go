//go:build unix

package server

import (
	"syscall"
	"time"
)

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
