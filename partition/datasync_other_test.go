//go:build !linux

package partition

import "os"

// datasync is fsync where there is no fdatasync, as in segment.
func datasync(f *os.File) error { return f.Sync() }
