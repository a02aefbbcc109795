//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package partition

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// lockDir fails where syscall has no flock: without the lock two brokers could
// share a data directory and corrupt it, so the broker refuses to start
// rather than run unguarded.
func lockDir(dir string) (*os.File, error) {
	return nil, fmt.Errorf("partition: lock %s: data directory locking is not supported on %s: %w", dir, runtime.GOOS, errors.ErrUnsupported)
}
