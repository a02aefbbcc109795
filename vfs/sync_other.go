//go:build !linux

package vfs

import "os"

// Datasync is fsync here, where there is no fdatasync.
func Datasync(f *os.File) error { return f.Sync() }

// startWriteback is a hint that this platform has no call for.
func startWriteback(*os.File, int64, int64) error { return nil }
