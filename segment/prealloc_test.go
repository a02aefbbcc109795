package segment

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// fileSize is the .log's size on the (fault) file system.
func fileSize(t *testing.T, fsys vfs.FS, s *Segment) int64 {
	t.Helper()
	fi, err := fsys.Stat(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPreallocate: zeros are written ahead of the data and never read as
// records; Seal and Close cut them, a clean reopen finds the data end, and
// after a power loss recovery counts them as zero tail, not as torn data.
func TestPreallocate(t *testing.T) {
	o := Options{IndexIntervalBytes: 200, PreallocateBytes: 4096, MaxBytes: 1 << 20}
	t.Run("seal and close cut the zeros", func(t *testing.T) {
		ffs, dir := errorfs.Dir(t)
		c := NewFileCache(ffs, 4)
		s, l := buildSegment(t, c, dir, 100, o, 10, 3, 40)
		if got := fileSize(t, ffs, s); got <= s.Size() || got > s.Size()+4096 {
			t.Fatalf("file is %d bytes with %d of data; want up to 4096 zeros ahead", got, s.Size())
		}
		got, err := readAll(t, s, 100, 1<<20)
		if err != nil || !bytes.Equal(got, l.want(100)) {
			t.Fatalf("read %d bytes, want %d: %v", len(got), len(l.want(100)), err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, ffs, s); got != s.Size() {
			t.Fatalf("closed file is %d bytes, want its data size %d", got, s.Size())
		}
		s2, st, err := Open(c, dir, 100, o, Clean, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s2.Next() != l.next() || st.TruncatedBytes != 0 {
			t.Fatalf("clean reopen: next %d, want %d; stats %+v", s2.Next(), l.next(), st)
		}
		if err := s2.Append(l.add(t, valueRecs(len(l.records), 2, 30)...)); err != nil {
			t.Fatal(err)
		}
		if err := s2.Seal(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, ffs, s2); got != s2.Size() {
			t.Fatalf("sealed file is %d bytes, want its data size %d", got, s2.Size())
		}
		s2.Close()
	})
	t.Run("power loss", func(t *testing.T) {
		ffs, dir := errorfs.Dir(t)
		c := NewFileCache(ffs, 4)
		s, l := buildSegment(t, c, dir, 100, o, 10, 3, 40)
		if err := ffs.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		synced, syncedNext := l.want(100), l.next()
		for i := 0; i < 5; i++ { // unsynced: lost
			if err := s.Append(l.add(t, valueRecs(len(l.records), 2, 30)...)); err != nil {
				t.Fatal(err)
			}
		}
		ffs.Crash()
		s2, st, err := Open(NewFileCache(ffs, 4), dir, 100, o, Recover, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if s2.Next() != syncedNext || st.ZeroTailBytes == 0 || st.TruncatedBytes != st.ZeroTailBytes {
			t.Fatalf("next %d, want %d; stats %+v: want only a zero tail cut", s2.Next(), syncedNext, st)
		}
		got, err := readAll(t, s2, 100, 1<<20)
		if err != nil || !bytes.Equal(got, synced) {
			t.Fatalf("read %d bytes, want %d: %v", len(got), len(synced), err)
		}
		if got := fileSize(t, ffs, s2); got != s2.Size() {
			t.Fatalf("recovered file is %d bytes, want %d", got, s2.Size())
		}
	})
}

// TestZeroTail counts only the trailing zeros of a torn tail.
func TestZeroTail(t *testing.T) {
	for _, tt := range []struct {
		name string
		tail []byte
		want int64
	}{
		{"all zeros", make([]byte, 3*scanChunk+7), 3*scanChunk + 7},
		{"garbage then zeros", append([]byte{1, 2, 3}, make([]byte, scanChunk+1)...), scanChunk + 1},
		{"ends in garbage", append(make([]byte, 100), 9), 0},
	} {
		ffs, dir := errorfs.Dir(t)
		f, err := ffs.OpenFile(dir+"/x", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(append([]byte("data"), tt.tail...), 0); err != nil {
			t.Fatal(err)
		}
		got, err := zeroTail(f, 4, int64(4+len(tt.tail)))
		f.Close()
		if err != nil || got != tt.want {
			t.Errorf("%s: zeroTail = %d, %v; want %d", tt.name, got, err, tt.want)
		}
	}
}

// TestPreallocateAhead: the zeros are topped up once less than half of
// them is left, not before; the data is untouched and the next appends
// need no preallocation of their own.
func TestPreallocateAhead(t *testing.T) {
	o := Options{IndexIntervalBytes: 200, PreallocateBytes: 4096, MaxBytes: 1 << 20}
	ffs, dir := errorfs.Dir(t)
	writes := 0
	ffs.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpWrite {
			writes++
		}
		return nil
	})
	s, l := buildSegment(t, NewFileCache(ffs, 4), dir, 0, o, 1, 1, 40)
	defer s.Close()
	writes = 0
	s.PreallocateAhead()
	if writes != 0 {
		t.Fatalf("topped up with %d bytes of zeros left: %d writes", fileSize(t, ffs, s)-s.Size(), writes)
	}
	for fileSize(t, ffs, s)-s.Size() >= 2048 {
		if err := s.Append(l.add(t, valueRecs(len(l.records), 1, 40)...)); err != nil {
			t.Fatal(err)
		}
	}
	s.PreallocateAhead()
	if got := fileSize(t, ffs, s); got != s.Size()+4096 {
		t.Fatalf("file is %d bytes with %d of data; want 4096 zeros ahead", got, s.Size())
	}
	writes = 0
	for i := 0; i < 10; i++ { // 10 x ~60 B fit in the zeros: no preallocation
		if err := s.Append(l.add(t, valueRecs(len(l.records), 1, 40)...)); err != nil {
			t.Fatal(err)
		}
	}
	if writes != 10 {
		t.Fatalf("10 appends into zeros ahead made %d writes, want 10", writes)
	}
	got, err := readAll(t, s, 0, 1<<20)
	if err != nil || !bytes.Equal(got, l.want(0)) {
		t.Fatalf("read %d bytes, want %d: %v", len(got), len(l.want(0)), err)
	}
}

// TestPreallocateSyncErrorReported: the kernel reports a write-back error
// to one sync only, so when the sync of preallocated zeros fails, the next
// Sync fails too rather than vouch for the file.
func TestPreallocateSyncErrorReported(t *testing.T) {
	o := Options{IndexIntervalBytes: 200, PreallocateBytes: 4096, MaxBytes: 1 << 20}
	ffs, dir := errorfs.Dir(t)
	s, l := buildSegment(t, NewFileCache(ffs, 4), dir, 0, o, 1, 1, 40)
	defer s.Close()
	for fileSize(t, ffs, s)-s.Size() >= 2048 {
		if err := s.Append(l.add(t, valueRecs(len(l.records), 1, 40)...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	ffs.FailSync(1, syscall.EIO) // the zeros' sync
	s.PreallocateAhead()
	if got := fileSize(t, ffs, s); got != s.Size()+4096 {
		t.Fatalf("file is %d bytes with %d of data; want 4096 zeros ahead", got, s.Size())
	}
	if err := s.Append(l.add(t, valueRecs(len(l.records), 1, 40)...)); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync after the zeros' sync failed = %v, want EIO", err)
	}
}
