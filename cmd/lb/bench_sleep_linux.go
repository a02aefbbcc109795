package main

import (
	"runtime"
	"syscall"
	"time"
)

// preciseSleep sleeps for d with the kernel's high-resolution timer.
// time.Sleep below a millisecond wakes up to a millisecond late when the Go
// scheduler is idle (its poller waits in whole milliseconds), which at
// 10,000 sends a second would be charged to the broker as latency. So the
// pacer's goroutine keeps its own OS thread, with the timer slack cut from
// the default 50 µs to 1 µs, and sleeps in nanosleep(2).
func preciseSleep(d time.Duration) {
	if d >= 5*time.Millisecond {
		time.Sleep(d - 2*time.Millisecond) // long waits need no precision until the end
		return
	}
	ts := syscall.NsecToTimespec(int64(d))
	for {
		err := syscall.Nanosleep(&ts, &ts) // the remainder goes back into ts
		if err != syscall.EINTR {
			return
		}
	}
}

// pinPacer gives the calling goroutine its own OS thread with a fine timer
// slack. It never unlocks: Go ends a thread whose goroutine exits locked to
// it, so the changed slack dies with the pacer's goroutine.
func pinPacer() {
	runtime.LockOSThread()
	const prSetTimerslack = 29
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerslack, 1, 0)
}
