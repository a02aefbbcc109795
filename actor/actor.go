// Package actor is the small, domain-free plumbing behind LogBroker's
// goroutine-per-owner design: a run loop's lifecycle (Loop), a context- and
// stop-aware request/reply (Ask), and a coalescing wake-up (Signal).
//
// Concurrency contract: every type here is safe for concurrent use. A Loop runs
// exactly one goroutine, started by Start and waited for by Stop. Ask never
// blocks past the caller's context or the loop's end. Signal.Notify never
// blocks, whatever the receiver does.
package actor

import (
	"context"
	"errors"
	"sync"
)

// ErrStopped is returned by Ask when the actor has stopped (or stops) before
// it answers.
var ErrStopped = errors.New("actor: stopped")

// Loop is the lifecycle of one actor goroutine.
//
// The goroutine receives a stop channel; it must return soon after that
// channel closes, answering (or failing) whatever it already accepted.
type Loop struct {
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// Start launches run on its own goroutine. It must be called once.
func Start(run func(stop <-chan struct{})) *Loop {
	l := &Loop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		run(l.stop)
	}()
	return l
}

// Stop asks the goroutine to end and waits until it has.
func (l *Loop) Stop() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// Stopping is closed once Stop has been called; requests sent after it may
// never be read.
func (l *Loop) Stopping() <-chan struct{} { return l.stop }

// Done is closed once the goroutine has returned.
func (l *Loop) Done() <-chan struct{} { return l.done }

// Send delivers req to the mailbox, giving up when ctx ends or the loop is
// stopping. It returns ctx.Err() or ErrStopped.
func Send[T any](ctx context.Context, l *Loop, mailbox chan<- T, req T) error {
	// Check first so a stopped actor, or a caller that already gave up,
	// is answered at once even when the mailbox has room (select would pick
	// at random among ready cases, and queue work nobody waits for).
	select {
	case <-l.stop:
		return ErrStopped
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case mailbox <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.stop:
		return ErrStopped
	}
}

// Ask sends req and waits for its answer on reply, which the caller made with
// capacity 1 so the actor never blocks on a caller that gave up.
//
// An actor answers everything it accepted before its goroutine returns, so a
// reply that races with Done is still taken.
func Ask[T, R any](ctx context.Context, l *Loop, mailbox chan<- T, req T, reply <-chan R) (R, error) {
	var zero R
	if err := Send(ctx, l, mailbox, req); err != nil {
		return zero, err
	}
	select {
	case r := <-reply:
		return r, nil
	case <-ctx.Done():
		// An answer that is already there is the outcome: the work was done,
		// and reporting ctx's error would invite a retry that repeats it.
		select {
		case r := <-reply:
			return r, nil
		default:
		}
		return zero, ctx.Err()
	case <-l.done:
		select {
		case r := <-reply:
			return r, nil
		default:
			return zero, ErrStopped
		}
	}
}

// Signal is a coalescing, never-blocking wake-up: any number of Notify calls
// between two receives on C collapse into one.
type Signal struct {
	c chan struct{}
}

// NewSignal returns a ready Signal.
func NewSignal() *Signal { return &Signal{c: make(chan struct{}, 1)} }

// Notify wakes the receiver if it is not already due to wake. It never blocks.
func (s *Signal) Notify() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// C is the channel to receive wake-ups from.
func (s *Signal) C() <-chan struct{} { return s.c }
