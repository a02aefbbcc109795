//go:build unix

package main

import "syscall"

// nofileLimit is the soft RLIMIT_NOFILE, or 0 if it cannot be read.
func nofileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
