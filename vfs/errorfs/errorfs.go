// Package errorfs is FaultFS, an in-memory vfs.FS for tests that injects
// faults (failed or torn writes, failed syncs, a full disk, errors from a
// hook) and simulates power loss, as pebble keeps vfs/errorfs beside vfs.
// Tests of segment, partition, group and the black-box suite use it.
//
// Concurrency: a FaultFS and its files are safe for concurrent use; one
// mutex guards them all. The package starts no goroutines.
package errorfs

import (
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/logbroker/logbroker/vfs"
)

// Op names a FaultFS operation, for hooks.
type Op int

const (
	OpOpen Op = iota
	OpRead
	OpWrite
	OpTruncate
	OpSync
	OpClose
	OpRemove
	OpRename
	OpMkdir
	OpReadDir
	OpStat
	OpSyncDir
)

// FaultFS is an in-memory vfs.FS for tests that injects faults and power loss.
// Safe for concurrent use.
//
// Every file keeps its current bytes and its durable bytes (as of its last
// Sync). Directory entries (files and directories alike) are durable only after
// SyncDir of their parent: a test that wants a data directory to survive Crash
// syncs its parent after creating it. The root "/" always exists; relative
// names are taken from the root.
//
// Crash simulates power loss: files revert to their durable bytes, entries
// whose creation was not dir-synced vanish, and removals or renames that were
// not dir-synced are undone. Handles opened before a Crash fail with EIO; the
// FS itself stays usable, as a machine restarting. A removed file stays
// readable through handles that were open, as after unlink.
type FaultFS struct {
	mu      sync.Mutex
	root    *fnode
	gen     int // bumped by Crash; older handles are dead
	handles map[*faultFile]struct{}
	now     func() time.Time

	capacity   int64 // 0: unlimited
	hook       func(op Op, name string) error
	failWrites error
	failSyncs  error
	writeCount int // countdown to an injected write failure; 0: off
	writeErr   error
	syncCount  int // countdown to an injected sync failure; 0: off
	syncErr    error
}

// touch records a change of a file's bytes from off on.
func (n *fnode) touch(off int64, now time.Time) {
	if !n.dirty || off < n.dirtyAt {
		n.dirty, n.dirtyAt = true, off
	}
	n.mtime = now
}

type fnode struct {
	dir      bool
	data     []byte // file: current bytes
	synced   []byte // file: durable bytes (own buffer, never aliases data)
	dirty    bool   // data differs from synced from dirtyAt on
	dirtyAt  int64
	mtime    time.Time
	children map[string]*fnode // dir: current entries
	durable  map[string]*fnode // dir: entries as of the last SyncDir
}

func newDir(now time.Time) *fnode {
	return &fnode{dir: true, mtime: now, children: map[string]*fnode{}, durable: map[string]*fnode{}}
}

var _ vfs.FS = (*FaultFS)(nil)

// NewFaultFS returns an empty FaultFS holding only the root directory.
func NewFaultFS() *FaultFS {
	return &FaultFS{root: newDir(time.Now()), handles: map[*faultFile]struct{}{}, now: time.Now}
}

// SetClock sets the clock used for modification times.
func (f *FaultFS) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// SetHook installs a function called before every operation; a non-nil error
// fails the operation with nothing changed. nil removes the hook.
func (f *FaultFS) SetHook(hook func(op Op, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

// FailWrite makes the nth file write from now (1 = the next) fail with err
// after persisting the first half of its bytes, as a real disk may.
func (f *FaultFS) FailWrite(nth int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writeCount, f.writeErr = nth, err
}

// FailSync makes the nth sync from now (File.Sync and SyncDir; 1 = the next)
// fail with err. Nothing becomes durable.
func (f *FaultFS) FailSync(nth int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncCount, f.syncErr = nth, err
}

// SetFailWrites makes every file write and growing truncate fail with err,
// writing nothing, until called with nil.
func (f *FaultFS) SetFailWrites(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWrites = err
}

// SetFailSyncs makes every File.Sync and SyncDir fail with err until called
// with nil.
func (f *FaultFS) SetFailSyncs(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failSyncs = err
}

// SetCapacity limits the total bytes of all files (0: unlimited). A write
// past it persists the prefix that fits and fails with ENOSPC.
func (f *FaultFS) SetCapacity(bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.capacity = bytes
}

// Used is the total size of all live files (named or open).
func (f *FaultFS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used()
}

// OpenFiles is the number of open handles.
func (f *FaultFS) OpenFiles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.handles)
}

// Crash simulates power loss and restart: see FaultFS.
func (f *FaultFS) Crash() { f.CrashWith(nil) }

// CrashWith is Crash where keep, if not nil, chooses what each surviving file
// holds afterwards, given its durable and its current bytes (for example the
// durable bytes plus a torn part of the rest). keep must not retain its
// arguments.
func (f *FaultFS) CrashWith(keep func(name string, durable, current []byte) []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	f.handles = map[*faultFile]struct{}{}
	seen := map[*fnode]bool{}
	var walk func(dir string, d *fnode)
	walk = func(dir string, d *fnode) {
		if seen[d] {
			return
		}
		seen[d] = true
		d.children = maps.Clone(d.durable)
		for name, n := range d.children {
			p := path.Join(dir, name)
			if n.dir {
				walk(p, n)
				continue
			}
			if seen[n] {
				continue
			}
			seen[n] = true
			if keep != nil {
				n.data = slices.Clone(keep(p, n.synced, n.data))
			} else {
				n.data = slices.Clone(n.synced)
			}
			n.synced = slices.Clone(n.data)
			n.dirty = false
		}
	}
	walk("/", f.root)
}

func (f *FaultFS) used() int64 {
	var total int64
	seen := map[*fnode]bool{}
	var walk func(n *fnode)
	walk = func(n *fnode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if !n.dir {
			total += int64(len(n.data))
		}
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(f.root)
	for h := range f.handles {
		walk(h.n)
	}
	return total
}

func clean(name string) string { return path.Clean("/" + filepath.ToSlash(name)) }

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// lookup finds the node at p (cleaned); the parent directory is returned too
// (nil for the root).
func (f *FaultFS) lookup(p string) (parent, n *fnode, base string, err error) {
	if p == "/" {
		return nil, f.root, "/", nil
	}
	d := f.root
	parts := strings.Split(p[1:], "/")
	for i, part := range parts {
		c, ok := d.children[part]
		if i == len(parts)-1 {
			return d, c, part, nil // c may be nil: parent exists, entry does not
		}
		if !ok {
			return nil, nil, "", syscall.ENOENT
		}
		if !c.dir {
			return nil, nil, "", syscall.ENOTDIR
		}
		d = c
	}
	panic("unreachable")
}

func (f *FaultFS) check(op Op, name string) error {
	if f.hook != nil {
		return f.hook(op, name)
	}
	return nil
}

// OpenFile opens or creates a file. Directories cannot be opened.
func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpOpen, p); err != nil {
		return nil, pathErr("open", name, err)
	}
	parent, n, base, err := f.lookup(p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, syscall.ENOENT)
	case n != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, syscall.EEXIST)
	case n != nil && n.dir:
		return nil, pathErr("open", name, syscall.EISDIR)
	case n == nil:
		n = &fnode{mtime: f.now()}
		parent.children[base] = n
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if flag&os.O_TRUNC != 0 && writable && len(n.data) > 0 {
		n.data = nil
		n.touch(0, f.now())
	}
	h := &faultFile{fs: f, name: name, n: n, flag: flag, gen: f.gen}
	f.handles[h] = struct{}{}
	return h, nil
}

// Remove removes a file or an empty directory.
func (f *FaultFS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpRemove, p); err != nil {
		return pathErr("remove", name, err)
	}
	parent, n, base, err := f.lookup(p)
	switch {
	case err != nil:
		return pathErr("remove", name, err)
	case n == nil:
		return pathErr("remove", name, syscall.ENOENT)
	case parent == nil:
		return pathErr("remove", name, syscall.EBUSY)
	case n.dir && len(n.children) > 0:
		return pathErr("remove", name, syscall.ENOTEMPTY)
	}
	delete(parent.children, base)
	return nil
}

// RemoveAll removes name and everything under it.
func (f *FaultFS) RemoveAll(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpRemove, p); err != nil {
		return pathErr("removeall", name, err)
	}
	parent, n, base, err := f.lookup(p)
	if err != nil || n == nil {
		return nil
	}
	if parent == nil {
		clear(n.children)
		return nil
	}
	delete(parent.children, base)
	return nil
}

// Rename moves a file or directory, replacing a file or empty directory.
func (f *FaultFS) Rename(oldpath, newpath string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	op, np := clean(oldpath), clean(newpath)
	if err := f.check(OpRename, op); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	lerr := func(err error) error { return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err} }
	oparent, n, obase, err := f.lookup(op)
	if err != nil {
		return lerr(err)
	}
	if n == nil || oparent == nil {
		return lerr(syscall.ENOENT)
	}
	if n.dir && strings.HasPrefix(np+"/", op+"/") {
		return lerr(syscall.EINVAL)
	}
	nparent, old, nbase, err := f.lookup(np)
	if err != nil {
		return lerr(err)
	}
	if nparent == nil {
		return lerr(syscall.EBUSY)
	}
	if old != nil && old != n {
		switch {
		case n.dir && !old.dir:
			return lerr(syscall.ENOTDIR)
		case !n.dir && old.dir:
			return lerr(syscall.EISDIR)
		case old.dir && len(old.children) > 0:
			return lerr(syscall.ENOTEMPTY)
		}
	}
	delete(oparent.children, obase)
	nparent.children[nbase] = n
	return nil
}

// MkdirAll creates a directory and any missing parents.
func (f *FaultFS) MkdirAll(name string, perm os.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpMkdir, p); err != nil {
		return pathErr("mkdir", name, err)
	}
	d := f.root
	if p == "/" {
		return nil
	}
	for _, part := range strings.Split(p[1:], "/") {
		c, ok := d.children[part]
		if !ok {
			c = newDir(f.now())
			d.children[part] = c
		} else if !c.dir {
			return pathErr("mkdir", name, syscall.ENOTDIR)
		}
		d = c
	}
	return nil
}

// ReadDir lists a directory's current entries sorted by name.
func (f *FaultFS) ReadDir(name string) ([]os.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpReadDir, p); err != nil {
		return nil, pathErr("readdir", name, err)
	}
	_, n, _, err := f.lookup(p)
	switch {
	case err != nil:
		return nil, pathErr("readdir", name, err)
	case n == nil:
		return nil, pathErr("readdir", name, syscall.ENOENT)
	case !n.dir:
		return nil, pathErr("readdir", name, syscall.ENOTDIR)
	}
	out := make([]os.DirEntry, 0, len(n.children))
	for _, child := range slices.Sorted(maps.Keys(n.children)) {
		out = append(out, fs.FileInfoToDirEntry(infoOf(child, n.children[child])))
	}
	return out, nil
}

// Stat describes a file or directory.
func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.check(OpStat, p); err != nil {
		return nil, pathErr("stat", name, err)
	}
	_, n, base, err := f.lookup(p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	if n == nil {
		return nil, pathErr("stat", name, syscall.ENOENT)
	}
	return infoOf(base, n), nil
}

// SyncDir makes the directory's current entries durable.
func (f *FaultFS) SyncDir(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := clean(name)
	if err := f.syncFault(OpSyncDir, p); err != nil {
		return pathErr("syncdir", name, err)
	}
	_, n, _, err := f.lookup(p)
	switch {
	case err != nil:
		return pathErr("syncdir", name, err)
	case n == nil:
		return pathErr("syncdir", name, syscall.ENOENT)
	case !n.dir:
		return pathErr("syncdir", name, syscall.ENOTDIR)
	}
	n.durable = maps.Clone(n.children)
	return nil
}

func (f *FaultFS) syncFault(op Op, p string) error {
	if err := f.check(op, p); err != nil {
		return err
	}
	if f.failSyncs != nil {
		return f.failSyncs
	}
	if f.syncCount > 0 {
		f.syncCount--
		if f.syncCount == 0 {
			return f.syncErr
		}
	}
	return nil
}

type fileInfo struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func infoOf(name string, n *fnode) fileInfo {
	return fileInfo{name: name, size: int64(len(n.data)), dir: n.dir, mod: n.mtime}
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return i.dir }
func (i fileInfo) Sys() any           { return nil }
func (i fileInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}

// faultFile is an open FaultFS file.
type faultFile struct {
	fs     *FaultFS
	name   string
	n      *fnode
	flag   int
	gen    int
	closed bool
}

// usable checks the handle; call with fs.mu held.
func (h *faultFile) usable(op string) error {
	switch {
	case h.closed:
		return pathErr(op, h.name, os.ErrClosed)
	case h.gen != h.fs.gen:
		return pathErr(op, h.name, syscall.EIO) // opened before a crash
	}
	return nil
}

func (h *faultFile) ReadAt(b []byte, off int64) (int, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.usable("read"); err != nil {
		return 0, err
	}
	if h.flag&os.O_WRONLY != 0 {
		return 0, pathErr("read", h.name, syscall.EBADF)
	}
	if err := f.check(OpRead, clean(h.name)); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	if off < 0 {
		return 0, pathErr("read", h.name, syscall.EINVAL)
	}
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	n := copy(b, h.n.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (h *faultFile) WriteAt(b []byte, off int64) (int, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.usable("write"); err != nil {
		return 0, err
	}
	if h.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, pathErr("write", h.name, syscall.EBADF)
	}
	if off < 0 {
		return 0, pathErr("write", h.name, syscall.EINVAL)
	}
	if err := f.check(OpWrite, clean(h.name)); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	if f.failWrites != nil {
		return 0, pathErr("write", h.name, f.failWrites)
	}
	n, err := len(b), error(nil)
	if f.writeCount > 0 {
		if f.writeCount--; f.writeCount == 0 {
			n, err = len(b)/2, f.writeErr
		}
	}
	if f.capacity > 0 {
		room := f.capacity - f.used() + max(int64(len(h.n.data))-off, 0)
		if int64(n) > room {
			n, err = int(max(room, 0)), syscall.ENOSPC
		}
	}
	if end := off + int64(n); end > int64(len(h.n.data)) {
		h.n.data = append(h.n.data, make([]byte, end-int64(len(h.n.data)))...)
	}
	copy(h.n.data[off:], b[:n])
	h.n.touch(off, f.now())
	if err != nil {
		return n, pathErr("write", h.name, err)
	}
	return n, nil
}

func (h *faultFile) Truncate(size int64) error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.usable("truncate"); err != nil {
		return err
	}
	if h.flag&(os.O_WRONLY|os.O_RDWR) == 0 || size < 0 {
		return pathErr("truncate", h.name, syscall.EINVAL)
	}
	if err := f.check(OpTruncate, clean(h.name)); err != nil {
		return pathErr("truncate", h.name, err)
	}
	old := int64(len(h.n.data))
	grow := size - old
	if grow > 0 {
		if f.failWrites != nil {
			return pathErr("truncate", h.name, f.failWrites)
		}
		if f.capacity > 0 && f.used()+grow > f.capacity {
			return pathErr("truncate", h.name, syscall.ENOSPC)
		}
		h.n.data = append(h.n.data, make([]byte, grow)...)
	} else {
		h.n.data = h.n.data[:size:size]
	}
	h.n.touch(min(old, size), f.now())
	return nil
}

func (h *faultFile) Sync() error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.usable("sync"); err != nil {
		return err
	}
	if err := f.syncFault(OpSync, clean(h.name)); err != nil {
		return pathErr("sync", h.name, err)
	}
	if n := h.n; n.dirty {
		from := min(n.dirtyAt, int64(len(n.synced)), int64(len(n.data)))
		n.synced = append(n.synced[:from], n.data[from:]...)
		n.dirty = false
	}
	return nil
}

func (h *faultFile) Size() (int64, error) {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := h.usable("stat"); err != nil {
		return 0, err
	}
	return int64(len(h.n.data)), nil
}

func (h *faultFile) Close() error {
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if h.closed {
		return pathErr("close", h.name, os.ErrClosed)
	}
	h.closed = true
	delete(f.handles, h)
	if err := f.check(OpClose, clean(h.name)); err != nil {
		return pathErr("close", h.name, err)
	}
	return nil
}
