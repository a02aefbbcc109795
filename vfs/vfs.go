// Package vfs is the file access of LogBroker's storage: the FS and File
// interfaces that segment, partition and group open, rename and sync files
// through, and OS, the real implementation. Tests swap in errorfs.FaultFS,
// an in-memory FS that injects faults and power loss.
//
// Concurrency: OS is safe for concurrent use; an OS File may be read with
// ReadAt from several goroutines at once, like an *os.File. Implementations
// of FS must be safe for concurrent use. The package starts no goroutines.
package vfs

import (
	"io"
	"os"
)

// FS is the file access storage needs. OS is the real one; errorfs.FaultFS
// is an in-memory one that injects faults and power loss.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	// RemoveAll removes name and everything under it; a missing name is no error.
	RemoveAll(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir lists a directory sorted by name, as os.ReadDir does.
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (creations, removals, renames) durable.
	SyncDir(name string) error
}

// File is an open file. ReadAt may be called concurrently with other ReadAt calls.
type File interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	// Sync makes the file's data durable (fdatasync for OS).
	Sync() error
	Size() (int64, error)
	Close() error
}

// Writebacker is a File that can start writing a byte range back to disk
// without waiting for it. It is a hint: it makes nothing durable, and a File
// without it (FaultFS's) simply leaves the work to the next Sync.
type Writebacker interface {
	StartWriteback(off, n int64) error
}

// OS is the FS of real files.
var OS FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                  { return os.RemoveAll(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }

func (osFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f osFile) Sync() error { return Datasync(f.File) }

// StartWriteback implements Writebacker.
func (f osFile) StartWriteback(off, n int64) error { return startWriteback(f.File, off, n) }
