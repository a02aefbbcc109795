//go:build !linux

package main

import "time"

// preciseSleep is time.Sleep where nanosleep and timer slack are not at hand.
func preciseSleep(d time.Duration) { time.Sleep(d) }

func pinPacer() {}
