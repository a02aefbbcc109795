//go:build !unix

package main

import "time"

// selfCPU is 0 (unknown, as when getrusage fails) where there is no
// getrusage.
func selfCPU() time.Duration { return 0 }
