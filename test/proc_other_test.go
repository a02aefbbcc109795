//go:build !unix

package test

// processGone cannot tell here, so it says no: a directory it guards is
// kept rather than pulled from under a running test binary.
func processGone(int) bool { return false }
