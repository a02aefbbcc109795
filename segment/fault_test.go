package segment

import (
	"bytes"
	"errors"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/vfs/errorfs"
)

func faultSegment(t *testing.T) (*errorfs.FaultFS, *FileCache, string, *Segment, *testLog) {
	t.Helper()
	ffs, dir := errorfs.Dir(t)
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
	if errorfs.Exists(ffs, dir+"/"+LogName(5000)) {
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
	if got := int64(len(errorfs.ReadFile(t, ffs, dir+"/"+LogName(100)))); got != size {
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
				ffs.SetHook(func(op errorfs.Op, _ string) error {
					if op == errorfs.OpTruncate {
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
			if got := int64(len(errorfs.ReadFile(t, ffs, dir+"/"+LogName(100)))); got != s.Size() {
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
	ffs.SetHook(func(op errorfs.Op, _ string) error {
		if op == errorfs.OpTruncate {
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
	if got := int64(len(errorfs.ReadFile(t, ffs, dir+"/"+LogName(100)))); got != s.Size() {
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
	ffs, dir := errorfs.Dir(t)
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
