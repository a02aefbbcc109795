package errorfs

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFaultFSDurability(t *testing.T) {
	ffs, dir := Dir(t)
	WriteFile(t, ffs, dir+"/a", []byte("synced"), true)
	WriteFile(t, ffs, dir+"/b", []byte("never synced"), false)
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, ffs, dir+"/c", []byte("dir not synced"), true)
	f, err := ffs.OpenFile(dir+"/a", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(" and more"), 6); err != nil {
		t.Fatal(err)
	}
	if err := ffs.MkdirAll(dir+"/sub/deeper", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ffs.Remove(dir + "/b"); err != nil {
		t.Fatal(err)
	}
	if got := string(ReadFile(t, ffs, dir+"/a")); got != "synced and more" {
		t.Fatalf("before crash: %q", got)
	}

	ffs.Crash()

	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("pre-crash handle: %v", err)
	}
	tests := []struct {
		name       string
		wantExists bool
		want       string
	}{
		{dir + "/a", true, "synced"},
		{dir + "/b", true, ""}, // removal undone; data never synced
		{dir + "/c", false, ""},
		{dir + "/sub", false, ""},
	}
	for _, tt := range tests {
		if got := Exists(ffs, tt.name); got != tt.wantExists {
			t.Fatalf("%s exists = %v", tt.name, got)
		}
		if tt.wantExists {
			if got := string(ReadFile(t, ffs, tt.name)); got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.name, got, tt.want)
			}
		}
	}
	if ffs.OpenFiles() != 0 {
		t.Fatalf("%d handles after crash", ffs.OpenFiles())
	}
}

func TestFaultFSRenameAndUnlink(t *testing.T) {
	ffs, dir := Dir(t)
	WriteFile(t, ffs, dir+"/x", []byte("x"), true)
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	h, err := ffs.OpenFile(dir+"/x", os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ffs.Rename(dir+"/x", dir+"/y"); err != nil {
		t.Fatal(err)
	}
	if err := ffs.Remove(dir + "/y"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := h.ReadAt(b, 0); err != nil || string(b) != "x" {
		t.Fatalf("read unlinked: %q %v", b, err)
	}
	h.Close()
	if ents, err := ffs.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("ReadDir = %v, %v", ents, err)
	}
	ffs.Crash() // neither rename nor remove was dir-synced
	if ents, err := ffs.ReadDir(dir); err != nil || len(ents) != 1 || ents[0].Name() != "x" {
		t.Fatalf("after crash ReadDir = %v, %v", ents, err)
	}
	if err := ffs.Rename(dir+"/x", dir+"/z"); err != nil {
		t.Fatal(err)
	}
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	ffs.Crash()
	if Exists(ffs, dir+"/x") || !Exists(ffs, dir+"/z") {
		t.Fatal("synced rename not kept")
	}
	if err := ffs.Remove(dir); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	if err := ffs.RemoveAll(dir); err != nil || Exists(ffs, dir) {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := ffs.OpenFile("/nope/f", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create in missing dir: %v", err)
	}
}

func TestFaultFSInjection(t *testing.T) {
	ffs, dir := Dir(t)
	f, err := ffs.OpenFile(dir+"/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ffs.FailWrite(2, syscall.EIO)
	if _, err := f.WriteAt([]byte("1234"), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAt([]byte("5678"), 4); !errors.Is(err, syscall.EIO) || n != 2 {
		t.Fatalf("2nd write: %d, %v", n, err)
	}
	if _, err := f.WriteAt([]byte("9"), 6); err != nil {
		t.Fatal(err)
	}
	ffs.SetFailWrites(syscall.EROFS)
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("SetFailWrites: %v", err)
	}
	ffs.SetFailWrites(nil)
	ffs.FailSync(1, syscall.EIO)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("FailSync: %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	ffs.SetCapacity(ffs.Used() + 3)
	if n, err := f.WriteAt([]byte("abcdef"), 5); !errors.Is(err, syscall.ENOSPC) || n != 5 {
		// 2 bytes overwrite, 3 bytes grow: 5 fit.
		t.Fatalf("ENOSPC write: %d, %v", n, err)
	}
	if got := string(ReadFile(t, ffs, dir+"/f")); got != "12345abcde" {
		t.Fatalf("content %q", got)
	}
	ffs.SetCapacity(0)
	ffs.SetHook(func(op Op, name string) error {
		if op == OpRename {
			return syscall.EXDEV
		}
		return nil
	})
	if err := ffs.Rename(dir+"/f", dir+"/g"); !errors.Is(err, syscall.EXDEV) {
		t.Fatalf("hook: %v", err)
	}
	ffs.SetHook(nil)
	at := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ffs.SetClock(func() time.Time { return at })
	if _, err := f.WriteAt([]byte("z"), 0); err != nil {
		t.Fatal(err)
	}
	if fi, err := ffs.Stat(dir + "/f"); err != nil || !fi.ModTime().Equal(at) || fi.Size() != 10 {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
}

func TestFaultFSCrashWith(t *testing.T) {
	ffs, dir := Dir(t)
	WriteFile(t, ffs, dir+"/f", []byte("durable"), true)
	ffs.SyncDir(dir)
	f, _ := ffs.OpenFile(dir+"/f", os.O_RDWR, 0)
	f.WriteAt([]byte("+torn tail"), 7)
	ffs.CrashWith(func(name string, durable, current []byte) []byte {
		// Size got out before the data: zeros past the durable part.
		return append(append([]byte(nil), durable...), make([]byte, len(current)-len(durable))...)
	})
	if got := ReadFile(t, ffs, dir+"/f"); !bytes.Equal(got, append([]byte("durable"), make([]byte, 10)...)) {
		t.Fatalf("got %q", got)
	}
}
