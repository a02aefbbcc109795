package segment

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync is fdatasync: file data and the metadata needed to read it (size),
// without the mtime update fsync would also flush.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// and returns without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE).
// It makes nothing durable; a write error it meets is reported by the next
// fdatasync, which is what callers rely on.
func startWriteback(f *os.File, off, n int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "sync_file_range", Path: f.Name(), Err: serr}
	}
	return nil
}
