package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// shortSpin is the longest wait pollClock spends spinning rather than
// sleeping: on the VMs this bench runs on, a thread wake-up costs about
// 30 µs of CPU, so a shorter sleep would cost more than it saves.
const shortSpin = 20 * time.Microsecond

// longWait is how far ahead of a due time a claimed send stops waiting on
// a cancellable Go timer (which may wake a millisecond late) and starts
// waiting precisely.
const longWait = 20 * time.Millisecond

// pollClock is realClock's time with waits on a timer in Go's network
// poller (see pollTimer) instead of in nanosleep on a thread of its own.
// Without a timer (not Linux, or one that failed) it sleeps as realClock
// does. Not safe for concurrent use: each waiting goroutine has its own.
type pollClock struct {
	realClock
	timer *pollTimer
}

// newPollClock makes a pollClock on c's base and a func that releases it.
func newPollClock(c realClock) (*pollClock, func()) {
	t, err := newPollTimer(c.base)
	if err != nil {
		return &pollClock{realClock: c}, func() {}
	}
	return &pollClock{realClock: c, timer: t}, func() { _ = t.close() }
}

func (c *pollClock) sleepUntil(t time.Duration) {
	for d := t - c.now(); d > 0; d = t - c.now() {
		switch {
		case d <= shortSpin:
		case c.timer == nil:
			c.realClock.sleepUntil(t)
		case c.timer.waitUntil(t) != nil:
			c.timer = nil // sleep as realClock does from now on
		}
	}
}

// dueSource hands a schedule's due sends (number i, due time) to senders.
// ended is closed once the schedule has no more; scheduled then says how
// many it had.
type dueSource interface {
	// waiter returns a sender's next func, which blocks until the sender's
	// next send falls due and says false when there is none; and a func
	// that releases the waiter.
	waiter(clk realClock) (next func(ctx context.Context) (int64, time.Duration, bool), release func())
	ended() <-chan struct{}
	scheduled() int64
}

// claimSource lets each free sender claim the next due send and wait for it
// on its own timer, so the goroutine that wakes at the due time is the one
// that sends. Due times and bounds are those of pace: start + i/rate, until
// n sends (n > 0) or the due time reaches end (end > 0); claims are handed
// out in order. Safe for concurrent use.
type claimSource struct {
	start    time.Duration
	interval float64
	n        int64
	end      time.Duration
	next     atomic.Int64
	once     sync.Once
	done     chan struct{}
	total    atomic.Int64 // the first index refused, once done is closed
}

func newClaimSource(start time.Duration, rate float64, n int64, end time.Duration) *claimSource {
	return &claimSource{start: start, interval: float64(time.Second) / rate, n: n, end: end, done: make(chan struct{})}
}

// claim takes the next due send, or says false when the schedule is over.
func (s *claimSource) claim() (int64, time.Duration, bool) {
	i := s.next.Add(1) - 1
	if s.refuses(i) {
		// Several claims may be refused at once, in any order: the number
		// of sends the schedule had is the first index refused, found from
		// this one rather than taken from whichever gets here first.
		s.once.Do(func() {
			s.total.Store(s.firstRefused(i))
			close(s.done)
		})
		return 0, 0, false
	}
	return i, s.due(i), true
}

func (s *claimSource) due(i int64) time.Duration {
	return s.start + time.Duration(float64(i)*s.interval)
}

// refuses says whether send i is past the schedule: the schedule's sends
// are exactly those with a smaller index than the first refused.
func (s *claimSource) refuses(i int64) bool {
	return (s.n > 0 && i >= s.n) || (s.end > 0 && s.due(i) >= s.end)
}

// firstRefused is the first index refused, given that i is refused.
func (s *claimSource) firstRefused(i int64) int64 {
	return int64(sort.Search(int(i), func(k int) bool { return s.refuses(int64(k)) }))
}

func (s *claimSource) waiter(clk realClock) (func(context.Context) (int64, time.Duration, bool), func()) {
	pc, release := newPollClock(clk)
	return func(ctx context.Context) (int64, time.Duration, bool) {
		if ctx.Err() != nil {
			return 0, 0, false
		}
		i, due, ok := s.claim()
		if !ok {
			return 0, 0, false
		}
		// At low rates a claim may fall due seconds ahead: wait for most of
		// that where a cancelled run can cut it short.
		if d := due - pc.now() - longWait; d > 0 {
			select {
			case <-ctx.Done():
				return 0, 0, false
			case <-time.After(d):
			}
		}
		if pc.now() < due {
			pc.sleepUntil(due)
		}
		return i, due, true
	}, release
}

func (s *claimSource) ended() <-chan struct{} { return s.done }

// scheduled is how many sends the schedule had; before it ended (a
// cancelled run), how many were claimed.
func (s *claimSource) scheduled() int64 {
	select {
	case <-s.done:
		return s.total.Load()
	default:
		if s.n > 0 {
			return min(s.next.Load(), s.n)
		}
		return s.next.Load()
	}
}

// chanSource runs pace on one goroutine with a thread of its own (see
// pinPacer), spinning the last stretch before each due time (--pacer
// spin), and hands the due sends to the senders through a channel.
type chanSource struct {
	ch    chan latencyJob
	done  chan struct{}
	total int64 // set before done is closed
}

type latencyJob struct {
	seq int64
	due time.Duration
}

func newChanSource(ctx context.Context, clk realClock, rate float64, n int64, end time.Duration) *chanSource {
	s := &chanSource{ch: make(chan latencyJob, 1<<16), done: make(chan struct{})}
	go func() {
		pinPacer()
		s.total = pace(ctx, clk, clk.now(), rate, n, end, func(i int64, due time.Duration) {
			select {
			case s.ch <- latencyJob{seq: i, due: due}:
			case <-ctx.Done():
			}
		})
		close(s.ch)
		close(s.done)
	}()
	return s
}

func (s *chanSource) waiter(realClock) (func(context.Context) (int64, time.Duration, bool), func()) {
	return func(context.Context) (int64, time.Duration, bool) {
		j, ok := <-s.ch
		return j.seq, j.due, ok
	}, func() {}
}

func (s *chanSource) ended() <-chan struct{} { return s.done }

func (s *chanSource) scheduled() int64 {
	<-s.done
	return s.total
}
