package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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

// pollTimer waits for absolute times on a timerfd that Go's network poller
// watches. A goroutine waiting on it parks like one waiting on a socket, so
// the thread that wakes for the timer also runs whatever the network has
// made ready, and the pacer needs no thread of its own: on a VM, where each
// thread wake-up costs tens of microseconds, that saves one per send.
// timerfd timers carry no slack, unlike the poller's own timeouts, which
// are whole milliseconds. Not safe for concurrent use.
type pollTimer struct {
	f        *os.File
	raw      syscall.RawConn
	monoBase int64 // CLOCK_MONOTONIC at the clock's base, in nanoseconds
	at       int64 // CLOCK_MONOTONIC time to arm the timer for; 0 once armed
	wait     func(fd uintptr) bool
	err      error
}

// newPollTimer makes a timer for times measured from base, which must have
// just been taken with time.Now (Go's monotonic clock is CLOCK_MONOTONIC).
func newPollTimer(base time.Time) (*pollTimer, error) {
	// Go's clock first, the kernel's after it: the offset then errs late,
	// so a timer never fires before its time.
	elapsed := time.Since(base)
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return nil, fmt.Errorf("clock_gettime: %w", err)
	}
	monoBase := ts.Nano() - int64(elapsed)
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pacer-timerfd")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	p := &pollTimer{f: f, raw: raw, monoBase: monoBase}
	p.wait = p.readExpiry
	return p, nil
}

// readExpiry is the poller's callback; false means "wait for the fd to be
// readable". Its first call of a wait arms the timer: only then, after the
// poller has reset the fd's readiness, does a timer that fires at once
// still wake the wait (armed before, its edge could be reset and lost).
// The next call means the poller saw the timer fire. The expiry count is
// never read: re-arming resets it, and Go's poller is edge-triggered, so
// each expiry wakes the wait anew; that saves a read per wait. A wake-up
// from anything else is harmless: pollClock checks the time and waits
// again.
func (p *pollTimer) readExpiry(fd uintptr) bool {
	if p.at == 0 {
		return true
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(p.at)}
	p.at = 0
	if err := unix.TimerfdSettime(int(fd), unix.TFD_TIMER_ABSTIME, &spec, nil); err != nil {
		p.err = fmt.Errorf("timerfd_settime: %w", err)
		return true
	}
	return false
}

// waitUntil blocks until the clock reads at least t (from base), parked in
// the poller.
func (p *pollTimer) waitUntil(t time.Duration) error {
	p.at, p.err = max(p.monoBase+int64(t), 1), nil
	if err := p.raw.Read(p.wait); err != nil {
		return err
	}
	return p.err
}

func (p *pollTimer) close() error { return p.f.Close() }
