package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// buildSegment appends nframes frames of perFrame records of size bytes.
func buildSegment(t testing.TB, c *FileCache, dir string, base uint64, o Options, nframes, perFrame, size int) (*Segment, *testLog) {
	t.Helper()
	s, err := Create(c, dir, base, o)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{base: base}
	for i := 0; i < nframes; i++ {
		if err := s.Append(l.add(t, valueRecs(len(l.records), perFrame, size)...)); err != nil {
			t.Fatal(err)
		}
	}
	return s, l
}

func TestAppendRead(t *testing.T) {
	tests := []struct {
		name              string
		nframes, perFrame int
		size, maxBytes    int
		interval          int
		appendOneAtATime  bool
	}{
		{"one record", 1, 1, 10, 1 << 20, 0, true},
		{"small frames", 200, 3, 50, 1000, 512, true},
		{"maxBytes below one record", 20, 2, 300, 1, 0, true},
		{"big frames", 5, 100, 1000, 64 << 10, 0, true},
		{"record bigger than chunk", 3, 1, 200 << 10, 10, 0, true},
		{"many frames per append", 50, 4, 100, 4096, 1024, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := NewFileCache(vfs.OS, 4)
			o := Options{IndexIntervalBytes: tt.interval}
			base := uint64(1000)
			var s *Segment
			var l *testLog
			if tt.appendOneAtATime {
				s, l = buildSegment(t, c, dir, base, o, tt.nframes, tt.perFrame, tt.size)
			} else {
				var err error
				if s, err = Create(c, dir, base, o); err != nil {
					t.Fatal(err)
				}
				l = &testLog{base: base}
				var all []byte
				for i := 0; i < tt.nframes; i++ {
					all = append(all, l.add(t, valueRecs(len(l.records), tt.perFrame, tt.size)...)...)
				}
				if err := s.Append(all); err != nil {
					t.Fatal(err)
				}
			}
			defer s.Close()
			if s.Next() != l.next() {
				t.Fatalf("Next = %d, want %d", s.Next(), l.next())
			}
			for _, from := range []uint64{base, base + 1, l.next() - 1, base + uint64(len(l.records))/2} {
				got, err := readAll(t, s, from, tt.maxBytes)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, l.want(from)) {
					t.Fatalf("from %d: read %d bytes, want %d", from, len(got), len(l.want(from)))
				}
			}
			// Reading at the end: no records.
			v, err := s.View(s.Size())
			if err != nil {
				t.Fatal(err)
			}
			data, first, next, err := v.Read(nil, s.Next(), 100)
			v.Release()
			if err != nil || len(data) != 0 || first != s.Next() || next != s.Next() {
				t.Fatalf("read at end = %d bytes, %d, %d, %v", len(data), first, next, err)
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestReadMaxBytes: a read returns whole batches, the first the one
// holding the offset asked for, while they fit maxBytes, and at least one.
func TestReadMaxBytes(t *testing.T) {
	c := NewFileCache(vfs.OS, 4)
	s, l := buildSegment(t, c, t.TempDir(), 0, Options{}, 10, 10, 90)
	defer s.Close()
	upTo := func(n int) int { return len(bytes.Join(l.frames[:n], nil)) } // bytes of the first n batches
	tests := []struct {
		maxBytes   int
		wantFrames int
	}{
		{0, 1},
		{1, 1},
		{upTo(1), 1},
		{upTo(2) - 1, 1},
		{upTo(2), 2},
		{upTo(5) + 1, 5},
		{1 << 20, 10},
	}
	for _, tt := range tests {
		v, err := s.View(0)
		if err != nil {
			t.Fatal(err)
		}
		data, first, next, err := v.Read(nil, 3, tt.maxBytes)
		v.Release()
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Join(l.frames[:tt.wantFrames], nil)
		if !bytes.Equal(data, want) || first != 3 || next != 10*uint64(tt.wantFrames) {
			t.Errorf("maxBytes %d: %d bytes first %d next %d; want %d bytes next %d", tt.maxBytes, len(data), first, next, len(want), 10*tt.wantFrames)
		}
	}
}

func TestViewReadAllocs(t *testing.T) {
	c := NewFileCache(vfs.OS, 4)
	s, _ := buildSegment(t, c, t.TempDir(), 0, Options{}, 100, 10, 100)
	defer s.Close()
	v, err := s.View(0)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Release()
	buf := make([]byte, 256<<10)
	allocs := testing.AllocsPerRun(20, func() {
		if _, _, _, err := v.Read(buf, 0, 128<<10); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per Read", allocs)
	}
}

func TestAppendAllocs(t *testing.T) {
	c := NewFileCache(vfs.OS, 4)
	s, err := Create(c, t.TempDir(), 0, Options{MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	frame := frameOf(t, 0, valueRecs(0, 10, 100)...)
	next := uint64(0)
	allocs := testing.AllocsPerRun(200, func() {
		setBase(frame, next)
		if err := s.Append(frame); err != nil {
			t.Fatal(err)
		}
		next += 10
	})
	// Index entries grow a slice now and then; nothing per record.
	if allocs > 0.5 {
		t.Fatalf("%v allocs per Append", allocs)
	}
}

func TestAppendRejects(t *testing.T) {
	c := NewFileCache(vfs.OS, 4)
	s, err := Create(c, t.TempDir(), 10, Options{MaxBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	good := frameOf(t, 10, rec{value: []byte("x")})
	tests := []struct {
		name    string
		frames  []byte
		wantErr error
	}{
		{"wrong base", frameOf(t, 11, rec{value: []byte("x")}), ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"garbage", bytes.Repeat([]byte{7}, 64), ErrMalformed},
		{"second frame wrong base", append(append([]byte(nil), good...), good...), ErrMalformed},
	}
	for _, tt := range tests {
		if err := s.Append(tt.frames); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.wantErr)
		}
		if s.Size() != 0 || s.Next() != 10 {
			t.Fatalf("%s: state changed: size %d next %d", tt.name, s.Size(), s.Next())
		}
	}
	// An oversized first frame goes in (an empty segment takes anything); then
	// the segment is full.
	big := frameOf(t, 10, rec{value: make([]byte, 2000)})
	if err := s.Append(big); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(frameOf(t, 11, rec{value: []byte("x")})); !errors.Is(err, ErrFull) {
		t.Fatalf("append to full segment: %v", err)
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(frameOf(t, 11, rec{value: []byte("x")})); !errors.Is(err, ErrClosed) {
		t.Fatalf("append to sealed segment: %v", err)
	}
}

func TestOpenModes(t *testing.T) {
	o := Options{IndexIntervalBytes: 300}
	dir := t.TempDir()
	c := NewFileCache(vfs.OS, 8)
	s, l := buildSegment(t, c, dir, 500, o, 60, 3, 40)
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSize := int64(0)
	for _, f := range l.frames {
		wantSize += int64(len(f))
	}
	tests := []struct {
		mode        OpenMode
		wantScanned func(int64) bool
	}{
		{Sealed, func(n int64) bool { return n == 0 }},
		{Clean, func(n int64) bool { return n > 0 && n < wantSize/4 }},
		{Recover, func(n int64) bool { return n == wantSize }},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s, st, err := Open(c, dir, 500, o, tt.mode, l.next())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Size() != wantSize || s.Next() != l.next() || st.TruncatedBytes != 0 || !tt.wantScanned(st.ScannedBytes) {
				t.Fatalf("size %d next %d stats %+v; want size %d next %d", s.Size(), s.Next(), st, wantSize, l.next())
			}
			got, err := readAll(t, s, 500, 1000)
			if err != nil || !bytes.Equal(got, l.want(500)) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if tt.mode != Sealed {
				if err := s.Append(l.add(t, valueRecs(len(l.records), 2, 10)...)); err != nil {
					t.Fatal(err)
				}
				wantSize = s.Size()
				if err := s.Sync(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestOpenEmpty(t *testing.T) {
	dir := t.TempDir()
	c := NewFileCache(vfs.OS, 2)
	s, err := Create(c, dir, 7, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, mode := range []OpenMode{Clean, Recover} {
		s, st, err := Open(c, dir, 7, Options{}, mode, 0)
		if err != nil || s.Size() != 0 || s.Next() != 7 || st.TruncatedBytes != 0 {
			t.Fatalf("%s: %v %+v", mode, err, st)
		}
		if _, err := s.Locate(7); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Locate in empty: %v", err)
		}
		s.Close()
	}
	if _, _, err := Open(c, dir, 8, Options{}, Recover, 0); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
}

func TestLocate(t *testing.T) {
	c := NewFileCache(vfs.OS, 4)
	s, l := buildSegment(t, c, t.TempDir(), 100, Options{IndexIntervalBytes: 1000}, 50, 5, 30)
	defer s.Close()
	// Position of every frame, by base.
	pos := map[uint64]int64{}
	p := int64(0)
	for _, f := range l.frames {
		pos[header(t, f).BaseOffset] = p
		p += int64(len(f))
	}
	prevPos := int64(-1)
	for off := uint64(100); off < l.next(); off++ {
		got, err := s.Locate(off)
		if err != nil {
			t.Fatal(err)
		}
		frameBase := 100 + (off-100)/5*5
		if got > pos[frameBase] || got < prevPos {
			t.Fatalf("Locate(%d) = %d, frame at %d, previous %d", off, got, pos[frameBase], prevPos)
		}
		if pos[frameBase]-got > 1000+int64(len(l.frames[0])) {
			t.Fatalf("Locate(%d) = %d is more than an interval before %d", off, got, pos[frameBase])
		}
		prevPos = got
	}
	for _, off := range []uint64{99, l.next()} {
		if _, err := s.Locate(off); !errors.Is(err, ErrOutOfRange) {
			t.Fatalf("Locate(%d): %v", off, err)
		}
	}
	if n := len(s.idx.entries); n > int(s.Size()/1000)+1 {
		t.Fatalf("%d index entries for %d bytes", n, s.Size())
	}
}

func TestRemoveKeepsViews(t *testing.T) {
	dir := t.TempDir()
	c := NewFileCache(vfs.OS, 4)
	s, l := buildSegment(t, c, dir, 0, Options{}, 10, 10, 100)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	v, err := s.View(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LogName(0))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log still there: %v", err)
	}
	data, _, _, err := v.Read(nil, 0, 1<<20)
	if err != nil || !bytes.Equal(records(t, data, 0), l.want(0)) {
		t.Fatalf("read after remove: %d bytes, %v", len(data), err)
	}
	v.Release()
	if c.Open() != 0 {
		t.Fatalf("%d files open after release", c.Open())
	}
	if _, err := s.View(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("view of removed: %v", err)
	}
}

func TestSealedLazy(t *testing.T) {
	dir := t.TempDir()
	c := NewFileCache(vfs.OS, 4)
	s, l := buildSegment(t, c, dir, 0, Options{}, 10, 10, 100)
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _, err := Open(c, dir, 0, Options{}, Sealed, l.next())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c.Open() != 0 || s.idxLoaded {
		t.Fatalf("sealed open holds %d files, index loaded %v", c.Open(), s.idxLoaded)
	}
	if _, err := s.ModTime(); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, s, 50, 1<<20)
	if err != nil || !bytes.Equal(got, l.want(50)) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
}

// TestViewsWhileAppending reads pinned views from other goroutines while the
// owner keeps appending (run with -race).
func TestViewsWhileAppending(t *testing.T) {
	c := NewFileCache(vfs.OS, 2)
	s, l := buildSegment(t, c, t.TempDir(), 0, Options{IndexIntervalBytes: 256}, 5, 4, 64)
	defer s.Close()
	type result struct {
		got, want []byte
		from      uint64
		err       error
	}
	results := make(chan result, 100)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		from := uint64(i % int(s.Next()))
		pos, err := s.Locate(from)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.View(pos)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Join(l.records[from:], nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer v.Release()
			data, _, _, err := v.Read(nil, from, 1<<20)
			results <- result{data, want, from, err}
		}()
		if err := s.Append(l.add(t, valueRecs(len(l.records), 3, 64)...)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil || !bytes.Equal(records(t, r.got, r.from), r.want) {
			t.Fatalf("view read %d bytes, want %d, %v", len(r.got), len(r.want), r.err)
		}
	}
}

// TestOpenCleanIndexFits: a clean open of a segment whose index has no
// entries rebuilds nothing when the log is no longer than one index interval
// (a new or just-rolled segment), and still never trusts an index that does
// not fit its log.
func TestOpenCleanIndexFits(t *testing.T) {
	const interval = 1024
	o := Options{IndexIntervalBytes: interval}
	tests := []struct {
		name        string
		frames      int           // frames of one 100-byte record (about 150 bytes each)
		index       func() []byte // the index file to write instead; nil: delete it
		keepIndex   bool
		tail        []byte // appended to the .log after the clean close
		wantRebuilt bool
	}{
		{name: "empty log, empty index", keepIndex: true},
		{name: "short log, its index", frames: 3, keepIndex: true},
		{name: "short log, empty index", frames: 3, index: func() []byte { return []byte{} }},
		{name: "log just under one interval, empty index", frames: 6, index: func() []byte { return []byte{} }},
		{name: "long log, its index", frames: 30, keepIndex: true},
		{name: "long log, empty index", frames: 30, index: func() []byte { return []byte{} }, wantRebuilt: true},
		{name: "empty log, index deleted", index: func() []byte { return nil }, wantRebuilt: true},
		{name: "short log, index deleted", frames: 3, index: func() []byte { return nil }, wantRebuilt: true},
		{name: "short log, bad entry", frames: 3, index: func() []byte { return []byte{1, 0, 0, 0, 0, 0, 0, 0} }, wantRebuilt: true},
		{name: "short log, half an entry", frames: 3, index: func() []byte { return []byte{0, 0, 0, 0} }, wantRebuilt: true},
		{name: "short log, empty index, torn tail", frames: 3, index: func() []byte { return []byte{} }, tail: []byte{9, 9, 9}, wantRebuilt: true},
		{name: "empty log, empty index, garbage", keepIndex: true, tail: []byte{1, 2, 3, 4, 5}, wantRebuilt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ffs, dir := errorfs.Dir(t)
			c := NewFileCache(ffs, 2)
			s, l := buildSegment(t, c, dir, 40, o, tt.frames, 1, 90)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			logPath, indexPath := filepath.Join(dir, LogName(40)), filepath.Join(dir, IndexName(40))
			wantSize := int64(len(errorfs.ReadFile(t, ffs, logPath)))
			if wantSize > interval != (tt.frames > 6) {
				t.Fatalf("log of %d frames is %d bytes: the cases assume up to 6 fit in %d", tt.frames, wantSize, interval)
			}
			if !tt.keepIndex {
				if b := tt.index(); b == nil {
					if err := ffs.Remove(indexPath); err != nil {
						t.Fatal(err)
					}
				} else {
					errorfs.WriteFile(t, ffs, indexPath, b, true)
				}
			}
			if tt.tail != nil {
				errorfs.WriteFile(t, ffs, logPath, append(errorfs.ReadFile(t, ffs, logPath), tt.tail...), true)
			}
			s, st, err := Open(c, dir, 40, o, Clean, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if st.IndexRebuilt != tt.wantRebuilt || s.Size() != wantSize || s.Next() != l.next() || st.TruncatedBytes != int64(len(tt.tail)) {
				t.Fatalf("size %d next %d stats %+v; want size %d next %d, rebuilt %v", s.Size(), s.Next(), st, wantSize, l.next(), tt.wantRebuilt)
			}
			if tt.frames > 0 {
				got, err := readAll(t, s, 40, 1<<20)
				if err != nil || !bytes.Equal(got, l.want(40)) {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
			}
			if err := s.Append(l.add(t, valueRecs(len(l.records), 1, 10)...)); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// The index written at close fits the log: the next clean open is quiet.
			s, st, err = Open(c, dir, 40, o, Clean, 0)
			if err != nil {
				t.Fatal(err)
			}
			if st.IndexRebuilt || s.Next() != l.next() {
				t.Fatalf("second open: next %d stats %+v; want next %d, no rebuild", s.Next(), st, l.next())
			}
			if idx := errorfs.ReadFile(t, ffs, indexPath); len(idx) == 0 {
				t.Fatal("index file still empty after a close")
			}
		})
	}
}
