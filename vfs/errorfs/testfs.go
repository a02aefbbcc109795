package errorfs

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/logbroker/logbroker/vfs"
)

// Helpers for tests that work on a FaultFS (or any vfs.FS): each fails t
// on an error, so the tests of segment, errorfs and others read as steps.

// Dir returns a new FaultFS with a durable, empty directory /d.
func Dir(t testing.TB) (*FaultFS, string) {
	t.Helper()
	ffs := NewFaultFS()
	if err := ffs.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ffs.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return ffs, "/d"
}

// ReadFile returns the whole content of name.
func ReadFile(t testing.TB, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return b
}

// WriteFile replaces the content of name with data, and syncs it if sync.
func WriteFile(t testing.TB, fsys vfs.FS, name string, data []byte, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

// Exists reports whether name is there.
func Exists(fsys vfs.FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}
