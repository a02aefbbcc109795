//go:build !linux

package segment

import "os"

func datasync(f *os.File) error { return f.Sync() }

// startWriteback is a hint that this platform has no call for.
func startWriteback(*os.File, int64, int64) error { return nil }
