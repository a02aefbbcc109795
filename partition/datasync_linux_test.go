package partition

import (
	"os"
	"syscall"
)

// datasync is fdatasync, the call the partition's own syncs make here.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
