//go:build !unix

package main

// nofileLimit is 0 (unknown) where there is no RLIMIT_NOFILE.
func nofileLimit() uint64 { return 0 }
