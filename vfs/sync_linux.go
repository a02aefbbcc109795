package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// Datasync is fdatasync: file data and the metadata needed to read it
// (size), without the mtime update fsync would also flush. OS Files sync
// with it; it is exported for benchmarks that measure a plain *os.File.
func Datasync(f *os.File) error {
	return fdCall(f, "fdatasync", func(fd int) error {
		for {
			if err := unix.Fdatasync(fd); err != unix.EINTR {
				return err
			}
		}
	})
}

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// and returns without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE).
// It makes nothing durable; a write error it meets is reported by the next
// fdatasync, which is what callers rely on.
func startWriteback(f *os.File, off, n int64) error {
	return fdCall(f, "sync_file_range", func(fd int) error {
		return unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// fdCall runs a system call on f's descriptor and names the file and the
// call in its error.
func fdCall(f *os.File, op string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = call(int(fd)) }); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}
