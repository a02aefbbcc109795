package segment

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// countingFS counts the files open through it and remembers the peak. With
// limit > 0 it refuses to open more than limit at once with errno, as a
// process at its RLIMIT_NOFILE (EMFILE) or a full system table (ENFILE) does.
type countingFS struct {
	vfs.FS
	limit      int
	errno      syscall.Errno
	mu         sync.Mutex
	open, peak int
}

type countedFile struct {
	vfs.File
	fs   *countingFS
	once sync.Once
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	c.mu.Lock()
	full := c.limit > 0 && c.open >= c.limit
	c.mu.Unlock()
	if full {
		return nil, &os.PathError{Op: "open", Path: name, Err: c.errno}
	}
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.open++
	c.peak = max(c.peak, c.open)
	c.mu.Unlock()
	return &countedFile{File: f, fs: c}, nil
}

func (f *countedFile) Close() error {
	f.once.Do(func() {
		f.fs.mu.Lock()
		f.fs.open--
		f.fs.mu.Unlock()
	})
	return f.File.Close()
}

func TestFileCacheCap(t *testing.T) {
	const maxOpen = 3
	cfs := &countingFS{FS: vfs.OS}
	c := NewFileCache(cfs, maxOpen)
	dir := t.TempDir()
	var segs []*Segment
	var logs []*testLog
	for i := 0; i < 10; i++ {
		s, l := buildSegment(t, c, dir, uint64(i*1000), Options{}, 5, 5, 50)
		if err := s.Seal(); err != nil {
			t.Fatal(err)
		}
		segs, logs = append(segs, s), append(logs, l)
	}
	for round := 0; round < 3; round++ {
		for i, s := range segs {
			got, err := readAll(t, s, s.Base(), 1<<20)
			if err != nil || !bytes.Equal(got, logs[i].want(s.Base())) {
				t.Fatalf("segment %d: %d bytes, %v", i, len(got), err)
			}
			if c.Open() > maxOpen {
				t.Fatalf("%d files open, cap %d", c.Open(), maxOpen)
			}
		}
	}
	// Pin maxOpen views: the next open finds every handle busy.
	var views []*View
	for _, s := range segs[:maxOpen] {
		v, err := s.View(0)
		if err != nil {
			t.Fatal(err)
		}
		views = append(views, v)
	}
	if _, err := segs[maxOpen].View(0); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("view with all busy: %v", err)
	}
	// A second view of an open file needs no new descriptor.
	v2, err := segs[0].View(0)
	if err != nil {
		t.Fatal(err)
	}
	v2.Release()
	views[0].Release()
	v3, err := segs[maxOpen].View(0)
	if err != nil {
		t.Fatalf("view after release: %v", err)
	}
	// Views outlive Close.
	for _, s := range segs {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if data, _, _, err := v3.Read(nil, segs[maxOpen].Base(), 1<<20); err != nil || !bytes.Equal(records(t, data, segs[maxOpen].Base()), logs[maxOpen].want(segs[maxOpen].Base())) {
		t.Fatalf("read after close: %v", err)
	}
	v3.Release()
	for _, v := range views[1:] {
		v.Release()
	}
	if c.Open() != 0 {
		t.Fatalf("%d files open after all released", c.Open())
	}
	cfs.mu.Lock()
	defer cfs.mu.Unlock()
	if cfs.open != 0 {
		t.Fatalf("%d files left open", cfs.open)
	}
	// +1: the .index files are opened briefly outside the cache.
	if cfs.peak > maxOpen+1 {
		t.Fatalf("peak %d open files, cap %d", cfs.peak, maxOpen)
	}
}

// TestFileCacheOutOfDescriptors runs a cache whose cap is above what the OS
// grants: opening a file that fails for want of a descriptor closes idle
// handles and retries, and fails (wrapping the OS error) only when every
// open handle is busy.
func TestFileCacheOutOfDescriptors(t *testing.T) {
	const limit = 3
	tests := []struct {
		name  string
		errno syscall.Errno
	}{
		{"process limit", syscall.EMFILE},
		{"system table full", syscall.ENFILE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ffs, dir := errorfs.Dir(t)
			cfs := &countingFS{FS: ffs, limit: limit, errno: tt.errno}
			c := NewFileCache(cfs, 100)
			var segs []*Segment
			var logs []*testLog
			for i := 0; i < 2*limit; i++ {
				s, l := buildSegment(t, c, dir, uint64(i*1000), Options{}, 5, 5, 50)
				if err := s.Seal(); err != nil {
					t.Fatalf("seal %d: %v", i, err)
				}
				segs, logs = append(segs, s), append(logs, l)
			}
			for round := 0; round < 3; round++ {
				for i, s := range segs {
					got, err := readAll(t, s, s.Base(), 1<<20)
					if err != nil || !bytes.Equal(got, logs[i].want(s.Base())) {
						t.Fatalf("round %d, segment %d: %d bytes, %v", round, i, len(got), err)
					}
				}
			}
			var views []*View
			for _, s := range segs[:limit] {
				v, err := s.View(0)
				if err != nil {
					t.Fatal(err)
				}
				views = append(views, v)
			}
			_, err := segs[limit].View(0)
			if !errors.Is(err, tt.errno) {
				t.Fatalf("view with every descriptor busy: %v, want %v", err, tt.errno)
			}
			views[0].Release()
			v, err := segs[limit].View(0)
			if err != nil {
				t.Fatalf("view after a release: %v", err)
			}
			views[0] = v
			for _, v := range views {
				v.Release()
			}
			for _, s := range segs {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			cfs.mu.Lock()
			defer cfs.mu.Unlock()
			if cfs.open != 0 || cfs.peak > limit {
				t.Fatalf("%d files left open, peak %d, limit %d", cfs.open, cfs.peak, limit)
			}
		})
	}
}
