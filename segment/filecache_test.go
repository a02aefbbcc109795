package segment

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
)

// countingFS counts the files open through it and remembers the peak.
type countingFS struct {
	FS
	mu         sync.Mutex
	open, peak int
}

type countedFile struct {
	File
	fs   *countingFS
	once sync.Once
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
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
	cfs := &countingFS{FS: OS}
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
	if data, _, _, err := v3.Read(nil, segs[maxOpen].Base(), 1<<20); err != nil || !bytes.Equal(data, logs[maxOpen].want(segs[maxOpen].Base())) {
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
