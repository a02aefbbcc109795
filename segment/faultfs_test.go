package segment

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"
)

// faultDir makes a durable directory /d on a new FaultFS.
func faultDir(t *testing.T) (*FaultFS, string) {
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

func readFS(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, _ := f.Size()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return b
}

func writeFS(t *testing.T, fsys FS, name string, data []byte, sync bool) {
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

func exists(fsys FS, name string) bool {
	_, err := fsys.Stat(name)
	return err == nil
}

func TestFaultFSDurability(t *testing.T) {
	ffs, dir := faultDir(t)
	writeFS(t, ffs, dir+"/a", []byte("synced"), true)
	writeFS(t, ffs, dir+"/b", []byte("never synced"), false)
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	writeFS(t, ffs, dir+"/c", []byte("dir not synced"), true)
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
	if got := string(readFS(t, ffs, dir+"/a")); got != "synced and more" {
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
		if got := exists(ffs, tt.name); got != tt.wantExists {
			t.Fatalf("%s exists = %v", tt.name, got)
		}
		if tt.wantExists {
			if got := string(readFS(t, ffs, tt.name)); got != tt.want {
				t.Fatalf("%s = %q, want %q", tt.name, got, tt.want)
			}
		}
	}
	if ffs.OpenFiles() != 0 {
		t.Fatalf("%d handles after crash", ffs.OpenFiles())
	}
}

func TestFaultFSRenameAndUnlink(t *testing.T) {
	ffs, dir := faultDir(t)
	writeFS(t, ffs, dir+"/x", []byte("x"), true)
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
	if exists(ffs, dir+"/x") || !exists(ffs, dir+"/z") {
		t.Fatal("synced rename not kept")
	}
	if err := ffs.Remove(dir); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty dir: %v", err)
	}
	if err := ffs.RemoveAll(dir); err != nil || exists(ffs, dir) {
		t.Fatalf("RemoveAll: %v", err)
	}
	if _, err := ffs.OpenFile("/nope/f", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create in missing dir: %v", err)
	}
}

func TestFaultFSInjection(t *testing.T) {
	ffs, dir := faultDir(t)
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
	if got := string(readFS(t, ffs, dir+"/f")); got != "12345abcde" {
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
	ffs, dir := faultDir(t)
	writeFS(t, ffs, dir+"/f", []byte("durable"), true)
	ffs.SyncDir(dir)
	f, _ := ffs.OpenFile(dir+"/f", os.O_RDWR, 0)
	f.WriteAt([]byte("+torn tail"), 7)
	ffs.CrashWith(func(name string, durable, current []byte) []byte {
		// Size got out before the data: zeros past the durable part.
		return append(append([]byte(nil), durable...), make([]byte, len(current)-len(durable))...)
	})
	if got := readFS(t, ffs, dir+"/f"); !bytes.Equal(got, append([]byte("durable"), make([]byte, 10)...)) {
		t.Fatalf("got %q", got)
	}
}

// Segment behaviour under faults.

func faultSegment(t *testing.T) (*FaultFS, *FileCache, string, *Segment, *testLog) {
	t.Helper()
	ffs, dir := faultDir(t)
	c := NewFileCache(ffs, 4)
	s, l := buildSegment(t, c, dir, 100, Options{IndexIntervalBytes: 200}, 10, 3, 40)
	if err := ffs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	return ffs, c, dir, s, l
}

func TestPowerLoss(t *testing.T) {
	ffs, _, dir, s, l := faultSegment(t)
	synced := l.want(100)
	syncedNext := l.next()
	for i := 0; i < 5; i++ {
		if err := s.Append(l.add(t, valueRecs(len(l.records), 2, 30)...)); err != nil {
			t.Fatal(err)
		}
	}
	ffs.Crash()
	c := NewFileCache(ffs, 4)
	s2, st, err := Open(c, dir, 100, Options{IndexIntervalBytes: 200}, Recover, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Next() != syncedNext || st.TruncatedBytes != 0 {
		t.Fatalf("next %d, want %d; stats %+v", s2.Next(), syncedNext, st)
	}
	got, err := readAll(t, s2, 100, 1<<20)
	if err != nil || !bytes.Equal(got, synced) {
		t.Fatalf("read %d bytes, want %d, %v", len(got), len(synced), err)
	}
	// A segment created without a dir sync vanishes.
	s3, err := Create(c, dir, 5000, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s3.Close()
	ffs.Crash()
	if exists(ffs, dir+"/"+LogName(5000)) {
		t.Fatal("unsynced create survived")
	}
}

// TestPowerLossTorn: the crash keeps a random part of the unsynced tail, or
// its size with zeros; recovery cuts exactly the unsynced frames.
func TestPowerLossTorn(t *testing.T) {
	for _, zeros := range []bool{false, true} {
		for cut := 0; cut < 200; cut += 7 {
			ffs, _, dir, s, l := faultSegment(t)
			syncedNext := l.next()
			for i := 0; i < 3; i++ {
				if err := s.Append(l.add(t, valueRecs(len(l.records), 2, 30)...)); err != nil {
					t.Fatal(err)
				}
			}
			ffs.CrashWith(func(name string, durable, current []byte) []byte {
				if len(current) == len(durable) {
					return durable
				}
				n := min(len(durable)+cut, len(current)-1)
				if zeros {
					return append(append([]byte(nil), durable...), make([]byte, n-len(durable))...)
				}
				return current[:n]
			})
			s2, _, err := Open(NewFileCache(ffs, 4), dir, 100, Options{IndexIntervalBytes: 200}, Recover, 0)
			if err != nil {
				t.Fatal(err)
			}
			if s2.Next() < syncedNext || s2.Next() >= l.next() {
				t.Fatalf("cut %d zeros %v: next %d, synced %d, all %d", cut, zeros, s2.Next(), syncedNext, l.next())
			}
			got, err := readAll(t, s2, 100, 1<<20)
			if err != nil || !bytes.Equal(got, bytes.Join(l.records[:s2.Next()-100], nil)) {
				t.Fatalf("cut %d: read %d bytes, %v", cut, len(got), err)
			}
			s2.Close()
		}
	}
}

func TestAppendENOSPC(t *testing.T) {
	ffs, _, dir, s, l := faultSegment(t)
	defer s.Close()
	size, next := s.Size(), s.Next()
	frame := frameOf(t, next, valueRecs(len(l.records), 5, 100)...)
	ffs.SetCapacity(ffs.Used() + int64(len(frame))/2)
	err := s.Append(frame)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append: %v", err)
	}
	if s.Size() != size || s.Next() != next {
		t.Fatalf("state changed: %d %d", s.Size(), s.Next())
	}
	if got := int64(len(readFS(t, ffs, dir+"/"+LogName(100)))); got != size {
		t.Fatalf("file is %d bytes after failed append, want %d", got, size)
	}
	if got, err := readAll(t, s, 100, 1<<20); err != nil || !bytes.Equal(got, l.want(100)) {
		t.Fatalf("read after ENOSPC: %v", err)
	}
	ffs.SetCapacity(0)
	if err := s.Append(l.add(t, valueRecs(len(l.records), 5, 100)...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, s, 100, 1<<20); err != nil || !bytes.Equal(got, l.want(100)) {
		t.Fatalf("read after space returned: %v", err)
	}
}

func TestAppendEIO(t *testing.T) {
	tests := []struct {
		name         string
		failTruncate bool
	}{
		{"truncate works", false},
		{"truncate fails too", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ffs, _, dir, s, l := faultSegment(t)
			defer s.Close()
			size, next := s.Size(), s.Next()
			ffs.FailWrite(1, syscall.EIO) // half the bytes land
			if tt.failTruncate {
				ffs.SetHook(func(op Op, _ string) error {
					if op == OpTruncate {
						return syscall.EIO
					}
					return nil
				})
			}
			if err := s.Append(frameOf(t, next, valueRecs(len(l.records), 5, 100)...)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Append: %v", err)
			}
			if s.Size() != size || s.Next() != next {
				t.Fatalf("state changed")
			}
			if got, err := readAll(t, s, 100, 1<<20); err != nil || !bytes.Equal(got, l.want(100)) {
				t.Fatalf("read after EIO: %v", err)
			}
			ffs.SetHook(nil)
			small := l.add(t, rec{value: []byte("x")})
			if err := s.Append(small); err != nil {
				t.Fatal(err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := int64(len(readFS(t, ffs, dir+"/"+LogName(100)))); got != s.Size() {
				t.Fatalf("file %d bytes, segment %d", got, s.Size())
			}
			ffs.Crash()
			s2, st, err := Open(NewFileCache(ffs, 2), dir, 100, Options{}, Recover, 0)
			if err != nil || st.TruncatedBytes != 0 || s2.Next() != l.next() {
				t.Fatalf("recover: %v %+v next %d", err, st, s2.Next())
			}
			s2.Close()
		})
	}
}

// TestSealCutsFailedAppend: an append failed and its bytes could not be cut;
// Seal cuts them before the segment becomes read-only, so a sealed file is
// exactly its data (what a sealed open takes its size from).
func TestSealCutsFailedAppend(t *testing.T) {
	ffs, _, dir, s, l := faultSegment(t)
	defer s.Close()
	ffs.FailWrite(1, syscall.EIO) // half the bytes land
	ffs.SetHook(func(op Op, _ string) error {
		if op == OpTruncate {
			return syscall.EIO
		}
		return nil
	})
	if err := s.Append(frameOf(t, s.Next(), valueRecs(len(l.records), 5, 100)...)); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Append: %v", err)
	}
	ffs.SetHook(nil)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if got := int64(len(readFS(t, ffs, dir+"/"+LogName(100)))); got != s.Size() {
		t.Fatalf("sealed file is %d bytes, its data %d", got, s.Size())
	}
}

func TestSyncEIO(t *testing.T) {
	ffs, _, dir, s, l := faultSegment(t)
	defer s.Close()
	syncedNext := l.next()
	if err := s.Append(l.add(t, rec{value: []byte("unsynced")})); err != nil {
		t.Fatal(err)
	}
	ffs.FailSync(1, syscall.EIO)
	if err := s.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync: %v", err)
	}
	ffs.SetFailSyncs(syscall.EIO)
	if err := s.Seal(); !errors.Is(err, syscall.EIO) || s.Sealed() {
		t.Fatalf("Seal: %v, sealed %v", err, s.Sealed())
	}
	ffs.Crash()
	ffs.SetFailSyncs(nil)
	s2, _, err := Open(NewFileCache(ffs, 2), dir, 100, Options{}, Recover, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Next() != syncedNext {
		t.Fatalf("next %d after crash, want %d", s2.Next(), syncedNext)
	}
}

func TestFileCacheFaultFSUnlink(t *testing.T) {
	ffs, dir := faultDir(t)
	c := NewFileCache(ffs, 1)
	s, l := buildSegment(t, c, dir, 0, Options{}, 3, 3, 10)
	v, err := s.View(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if data, _, _, err := v.Read(nil, 0, 1<<20); err != nil || !bytes.Equal(records(t, data, 0), l.want(0)) {
		t.Fatalf("read removed: %v", err)
	}
	v.Release()
	if ffs.OpenFiles() != 0 || c.Open() != 0 {
		t.Fatalf("open: fs %d cache %d", ffs.OpenFiles(), c.Open())
	}
}
