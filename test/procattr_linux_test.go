package test

import "syscall"

// dieWithTest makes a child process get SIGKILL when the test binary dies,
// so that no broker or CLI outlives a crashed test run.
func dieWithTest() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
