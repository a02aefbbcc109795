//go:build !linux

package main

import (
	"errors"
	"time"
)

// preciseSleep is time.Sleep where nanosleep and timer slack are not at hand.
func preciseSleep(d time.Duration) { time.Sleep(d) }

func pinPacer() {}

var errNoPollTimer = errors.New("bench: no timerfd on this system")

// pollTimer exists on Linux only; elsewhere the pacer sleeps with
// preciseSleep.
type pollTimer struct{}

func newPollTimer(time.Time) (*pollTimer, error) { return nil, errNoPollTimer }

func (*pollTimer) waitUntil(time.Duration) error { return errNoPollTimer }

func (*pollTimer) close() error { return nil }
