package vfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStartWritebackOS: the real call succeeds on a written range of a
// real file (sync_file_range on Linux, nothing elsewhere).
func TestStartWritebackOS(t *testing.T) {
	f, err := OS.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{1}, 1<<16), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.(Writebacker).StartWriteback(0, 1<<16); err != nil {
		t.Fatal(err)
	}
}
