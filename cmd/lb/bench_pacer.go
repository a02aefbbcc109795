package main

import (
	"context"
	"time"
)

// clock is the time source of a pacer: monotonic time since a fixed base,
// and a sleep until such a time. The real one is precise to tens of
// microseconds (see sleepUntil); tests use a fake.
type clock interface {
	now() time.Duration
	sleepUntil(t time.Duration)
}

// realClock measures from base with the monotonic clock. With spin, it
// waits the last stretch before a due time by spinning on its own thread
// instead of sleeping (see --pacer).
type realClock struct {
	base time.Time
	spin bool
}

func (c realClock) now() time.Duration { return time.Since(c.base) }

// spinWindow is how close to a due time the spinning pacer stops sleeping.
const spinWindow = 2 * time.Millisecond

func (c realClock) sleepUntil(t time.Duration) {
	for d := t - c.now(); d > 0; d = t - c.now() {
		if c.spin && d <= spinWindow {
			continue
		}
		if c.spin {
			d -= spinWindow
		}
		preciseSleep(d)
	}
}

// pace emits send number i at its due time start + i/rate, for i = 0, 1, ...
// until n sends (n > 0) or until the due time reaches end (end > 0),
// whichever comes first, or until ctx ends. It is open loop: due times come
// from the clock alone, never from when earlier sends completed. When pace
// wakes late, it emits every send that has fallen due at once, each with its
// own due time, so a stall shows up as latency instead of vanishing from
// the schedule (coordinated omission). It returns how many it emitted.
func pace(ctx context.Context, clk clock, start time.Duration, rate float64, n int64, end time.Duration, emit func(i int64, due time.Duration)) int64 {
	if rate <= 0 {
		return 0
	}
	interval := float64(time.Second) / rate
	var i int64
	for ; n <= 0 || i < n; i++ {
		due := start + time.Duration(float64(i)*interval)
		if end > 0 && due >= end {
			break
		}
		if i%64 == 0 && ctx.Err() != nil {
			break
		}
		if clk.now() < due {
			clk.sleepUntil(due)
		}
		emit(i, due)
	}
	return i
}
