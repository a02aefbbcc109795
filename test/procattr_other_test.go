//go:build !linux

package test

import "syscall"

// dieWithTest has no parent-death signal to ask for here: a child of a
// crashed test run is left for whoever runs the tests to end.
func dieWithTest() *syscall.SysProcAttr { return nil }
