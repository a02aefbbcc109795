package segment

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"github.com/logbroker/logbroker/vfs"
)

// FileCache caps the open .log descriptors shared by all segments. Handles are
// refcounted; an idle handle (refcount 0) is closed, least recently used first,
// when opening another would exceed the cap, or when the OS has no descriptor
// left (EMFILE, ENFILE). Safe for concurrent use.
type FileCache struct {
	fs      vfs.FS
	maxOpen int

	mu   sync.Mutex
	open int        // handles with an open File
	idle cachedFile // sentinel of the idle LRU ring; idle.next is the oldest
}

// NewFileCache returns a cache that keeps at most maxOpen files open (min 1).
func NewFileCache(fsys vfs.FS, maxOpen int) *FileCache {
	if fsys == nil {
		fsys = vfs.OS
	}
	c := &FileCache{fs: fsys, maxOpen: max(maxOpen, 1)}
	c.idle.prev, c.idle.next = &c.idle, &c.idle
	return c
}

// FS returns the file system the cache opens files on.
func (c *FileCache) FS() vfs.FS { return c.fs }

// Open reports how many files the cache holds open now.
func (c *FileCache) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}

// cachedFile is one file managed by the cache: open or not, busy or idle.
// All fields are guarded by FileCache.mu.
type cachedFile struct {
	c          *FileCache
	name       string
	flag       int      // flag for (re)opening
	f          vfs.File // nil while closed
	refs       int
	dead       bool // closed by its owner: close f once refs drops to 0
	prev, next *cachedFile
}

// newFile registers name; it is opened on first acquire with flag.
func (c *FileCache) newFile(name string, flag int) *cachedFile {
	return &cachedFile{c: c, name: name, flag: flag}
}

func (h *cachedFile) unlinkIdle() {
	if h.next != nil {
		h.prev.next, h.next.prev = h.next, h.prev
		h.prev, h.next = nil, nil
	}
}

// outOfFDs reports whether err says the process or the system has no
// descriptor left.
func outOfFDs(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// closeIdleLocked closes the least recently used idle handle, if any.
// c.mu must be held.
func (c *FileCache) closeIdleLocked() bool {
	old := c.idle.next
	if old == &c.idle {
		return false
	}
	old.unlinkIdle()
	_ = old.f.Close() // read-only or already written through: nothing to lose
	old.f = nil
	c.open--
	return true
}

// openLocked opens name, closing idle handles while the OS is out of
// descriptors: its limit may be below maxOpen, or other files (sockets,
// .index files) may hold them. With none idle it returns the OS error.
// c.mu must be held.
func (c *FileCache) openLocked(name string, flag int, perm os.FileMode) (vfs.File, error) {
	for {
		f, err := c.fs.OpenFile(name, flag, perm)
		if err == nil || !outOfFDs(err) {
			return f, err
		}
		if !c.closeIdleLocked() {
			return nil, fmt.Errorf("no idle cached file to close (%d open): %w", c.open, err)
		}
	}
}

// openFile opens a file the cache does not keep (an .index file, read or
// written whole and closed), making room as openLocked does if the OS is out
// of descriptors.
func (c *FileCache) openFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.fs.OpenFile(name, flag, perm)
	if err == nil || !outOfFDs(err) {
		return f, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openLocked(name, flag, perm)
}

// acquire returns the open file and takes a reference; release gives it back.
func (h *cachedFile) acquire() (vfs.File, error) {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.dead {
		return nil, fmt.Errorf("%w: %s", ErrClosed, h.name)
	}
	if h.f == nil {
		for c.open >= c.maxOpen {
			if !c.closeIdleLocked() {
				return nil, fmt.Errorf("segment: open %s: all %d cached files busy: %w", h.name, c.maxOpen, syscall.EMFILE)
			}
		}
		f, err := c.openLocked(h.name, h.flag, 0o644)
		if err != nil {
			return nil, fmt.Errorf("segment: open %s: %w", h.name, err)
		}
		h.flag &^= os.O_CREATE | os.O_EXCL | os.O_TRUNC
		h.f = f
		c.open++
	}
	h.unlinkIdle()
	h.refs++
	return h.f, nil
}

func (h *cachedFile) release() {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	if h.refs > 0 || h.f == nil {
		return
	}
	if h.dead {
		_ = h.f.Close()
		h.f = nil
		c.open--
		return
	}
	// Most recently used goes last.
	h.prev, h.next = c.idle.prev, &c.idle
	c.idle.prev.next = h
	c.idle.prev = h
}

// close marks the handle dead; the file closes when the last reference goes.
func (h *cachedFile) close() error {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.dead {
		return nil
	}
	h.dead = true
	if h.refs > 0 || h.f == nil {
		return nil
	}
	h.unlinkIdle()
	err := h.f.Close()
	h.f = nil
	c.open--
	return err
}
