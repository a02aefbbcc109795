//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package partition

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive advisory lock on <dir>/.lock so two brokers never
// share a data directory. The lock dies with the process, so a crash never
// leaves a stale one.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("partition: open lock file: %w", Classify(err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s (%v)", ErrDataDirLocked, dir, err)
	}
	return f, nil
}
