package segment

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs"
)

// ErrOutOfRange reports an offset or position outside a segment or view.
var ErrOutOfRange = errors.New("segment: out of range")

const (
	defaultIndexInterval = 4096
	defaultMaxBytes      = 64 << 20
	// Index positions are u32, so no frame may start at 4 GiB or later.
	maxSegmentBytes = math.MaxUint32
	scanChunk       = 256 << 10
)

// LogName is the .log file name of the segment with base offset base.
func LogName(base uint64) string { return fmt.Sprintf("%020d.log", base) }

// IndexName is the .index file name of the segment with base offset base.
func IndexName(base uint64) string { return fmt.Sprintf("%020d.index", base) }

// ParseBase parses a .log file name (no directory) made by LogName. Other
// names, including .index files, give ok == false.
func ParseBase(filename string) (base uint64, ok bool) {
	digits, found := strings.CutSuffix(filename, ".log")
	if !found || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return base, true
}

// Options configure a segment. Zero fields take defaults.
type Options struct {
	MaxBytes           int64 // roll threshold; default 64 MiB, at most 4 GiB
	IndexIntervalBytes int   // log bytes between index entries; default 4096
	MaxFrameBytes      int   // bound on a frame's length; default and max MaxFrameBytes
	// PreallocateBytes, when > 0, keeps the .log zero-filled this far past
	// the data. An fdatasync after an append that grows the file must also
	// commit the new size and blocks through the file system's journal;
	// one into zeros written earlier has only data to flush. On this
	// project's machines that halves the sync of a 123 KB append
	// (BenchmarkSyncedAppend). Meant for modes that sync every append: it
	// writes every byte twice. Seal and Close cut the zeros off again.
	PreallocateBytes int64
	// Legacy says the segment holds the previous release's frames: it is
	// read (its records served as v2 batches), never appended to.
	Legacy bool
	// WritebackBytes, when > 0, starts the write-back of every
	// WritebackBytes of appended data (Writebacker), without waiting for
	// it. For modes that do not sync every append: the sync at Seal then
	// has little left to flush, where it would otherwise write out the
	// whole segment while its owner waits (about 30 ms for 64 MiB on this
	// project's machines, a stall every producer sees: BenchmarkFillAndSeal).
	WritebackBytes int64
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = defaultMaxBytes
	}
	o.MaxBytes = min(o.MaxBytes, maxSegmentBytes)
	if o.IndexIntervalBytes <= 0 {
		o.IndexIntervalBytes = defaultIndexInterval
	}
	if o.MaxFrameBytes <= 0 || o.MaxFrameBytes > MaxFrameBytes {
		o.MaxFrameBytes = MaxFrameBytes
	}
	return o
}

// OpenMode says what Open may assume about a segment's files.
type OpenMode int

const (
	// Sealed: a read-only older segment; Open reads nothing.
	Sealed OpenMode = iota
	// Clean: the active segment after a clean shutdown; Open reads the index
	// and the log from the last index entry on.
	Clean
	// Recover: the active segment after a crash; Open checks every frame and
	// truncates at the first torn or bad one.
	Recover
)

func (m OpenMode) String() string {
	switch m {
	case Sealed:
		return "sealed"
	case Clean:
		return "clean"
	case Recover:
		return "recover"
	}
	return "OpenMode(" + strconv.Itoa(int(m)) + ")"
}

// RecoverStats describes what Open read and repaired.
type RecoverStats struct {
	ScannedBytes   int64 // log bytes read to find the end
	TruncatedBytes int64 // torn or bad tail bytes cut off
	ZeroTailBytes  int64 // of TruncatedBytes, trailing zeros: preallocation, not data
	Frames         int   // frames scanned
	IndexRebuilt   bool  // the .index file was invalid or stale and was rebuilt
	// TimeIndexRebuilt: the .timeindex was missing, invalid or contradicted
	// by the log, and was rebuilt from it.
	TimeIndexRebuilt bool
	// DamagedFrames are frames kept although their CRC fails, because a good
	// frame follows them: damage to written data, which reads report as
	// corrupt, not a torn end to cut (a torn write leaves nothing good after).
	DamagedFrames []int64 // their positions
}

// Segment is one .log file, its .index and its .timeindex. It is NOT safe for concurrent use:
// one owner (the partition actor) calls every method. Views it hands out may be
// read from other goroutines.
type Segment struct {
	fs        vfs.FS
	base      uint64
	o         Options
	logPath   string
	indexPath string
	timePath  string
	file      *cachedFile

	size      int64  // committed bytes
	alloc     int64  // file bytes written: size, then zeros (PreallocateBytes)
	wbStart   int64  // data below this has had its write-back started (WritebackBytes)
	next      uint64 // offset after the last record
	sealed    bool
	closed    bool
	idx       index
	idxLoaded bool // sealed segments load their index on first Locate
	tidx      timeIndex
	// sealed segments load their time index on the first time lookup
	tidxLoaded bool
	dirtyTail  error // a failed append left bytes past size that could not be cut
	syncErr    error // a sync of preallocated zeros failed: the next Sync reports it

	fm  *format                // v2, or legacy (Options.Legacy)
	hdr [batch.HeaderSize]byte // scratch for Locate
}

// Create makes an empty segment (truncating leftovers). It does not sync the
// directory: the caller syncs it once.
func Create(c *FileCache, dir string, base uint64, o Options) (*Segment, error) {
	if o.Legacy {
		return nil, fmt.Errorf("%w: create %s: legacy segments are only read", ErrClosed, LogName(base))
	}
	s := newSegment(c, dir, base, o, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	s.next, s.idxLoaded, s.tidxLoaded = base, true, true
	if _, err := s.file.acquire(); err != nil {
		s.file.close()
		return nil, fmt.Errorf("segment: create: %w", err)
	}
	s.file.release()
	if err := writeIndexFile(s.file.c, s.indexPath, nil, 0); err != nil {
		s.file.close()
		return nil, fmt.Errorf("segment: create %s: %w", s.indexPath, err)
	}
	if err := writeTimeIndexFile(s.file.c, s.timePath, nil, 0); err != nil {
		s.file.close()
		return nil, fmt.Errorf("segment: create %s: %w", s.timePath, err)
	}
	return s, nil
}

func newSegment(c *FileCache, dir string, base uint64, o Options, flag int) *Segment {
	s := &Segment{
		fs:        c.fs,
		base:      base,
		o:         o.withDefaults(),
		logPath:   filepath.Join(dir, LogName(base)),
		indexPath: filepath.Join(dir, IndexName(base)),
		timePath:  filepath.Join(dir, TimeIndexName(base)),
		fm:        v2,
	}
	if s.o.Legacy {
		s.fm = legacy
	}
	s.file = c.newFile(s.logPath, flag)
	return s
}

// Open opens an existing segment. nextBase is the following segment's base,
// used as Next() for a Sealed segment and ignored otherwise.
func Open(c *FileCache, dir string, base uint64, o Options, mode OpenMode, nextBase uint64) (*Segment, RecoverStats, error) {
	var st RecoverStats
	if mode == Sealed {
		s := newSegment(c, dir, base, o, os.O_RDONLY)
		fi, err := s.fs.Stat(s.logPath)
		if err != nil {
			return nil, st, fmt.Errorf("segment: open: %w", err)
		}
		if nextBase < base {
			return nil, st, fmt.Errorf("%w: sealed segment %d: next base %d below it", ErrOutOfRange, base, nextBase)
		}
		s.size, s.next, s.sealed = fi.Size(), nextBase, true
		return s, st, nil
	}
	if mode != Clean && mode != Recover {
		return nil, st, fmt.Errorf("segment: open: unknown mode %d", mode)
	}
	s := newSegment(c, dir, base, o, os.O_RDWR)
	s.idxLoaded = true
	var err error
	if mode == Clean {
		st, err = s.openClean()
	} else {
		st, err = s.recover()
	}
	if err != nil {
		s.file.close()
		return nil, st, fmt.Errorf("segment: open %s (%s): %w", s.logPath, mode, err)
	}
	return s, st, nil
}

// openClean trusts the index, checks the frames from its last entry to the
// end, and falls back to recover if anything does not fit.
func (s *Segment) openClean() (RecoverStats, error) {
	var st RecoverStats
	f, err := s.file.acquire()
	if err != nil {
		return st, err
	}
	size, err := f.Size()
	s.file.release()
	if err != nil {
		return st, err
	}
	data, err := readIndexFile(s.file.c, s.indexPath, (size/minFrameSize+1)*indexEntrySize)
	if err != nil {
		return s.recover()
	}
	// An index with no entries is what a new or just-rolled segment has, and
	// fits a log no longer than one interval (its entry may not be written
	// yet): checking that whole log from position 0 reads no more than a
	// clean open reads from a last entry. A longer log must have entries.
	var entries []indexEntry
	if len(data) > 0 || size > int64(s.o.IndexIntervalBytes) {
		if entries, err = parseIndex(data, size, math.MaxUint32+1); err != nil || len(entries) == 0 {
			return s.recover()
		}
	}
	var from indexEntry // the first frame, (0, 0), when there are no entries
	if len(entries) > 0 {
		from = entries[len(entries)-1]
	}
	s.idx = index{entries: entries, written: len(entries), unverified: max(len(entries)-1, 0)}
	s.size, s.next = int64(from.pos), s.base+uint64(from.rel)
	st, err = s.scanTail(true, false)
	if err != nil || s.size != size {
		// Bad index or bad tail in what a clean shutdown synced: check it all.
		s.idx.reset()
		return s.recover()
	}
	return st, s.openTimeIndex(&st)
}

// recover scans the whole log, truncates at the first bad frame, rebuilds
// and rewrites the index.
func (s *Segment) recover() (RecoverStats, error) {
	s.idx.reset()
	s.tidx.reset()
	s.tidxLoaded = true
	s.size, s.next = 0, s.base
	st, err := s.scanTail(true, true)
	st.IndexRebuilt, st.TimeIndexRebuilt = true, true
	if err != nil {
		return st, err
	}
	if st.TruncatedBytes > 0 {
		f, err := s.file.acquire()
		if err != nil {
			return st, err
		}
		defer s.file.release()
		if err := f.Truncate(s.size); err != nil {
			return st, fmt.Errorf("truncate torn tail at %d: %w", s.size, err)
		}
		if err := f.Sync(); err != nil {
			return st, fmt.Errorf("sync after truncate at %d: %w", s.size, err)
		}
		s.alloc = s.size
	}
	if err := writeIndexFile(s.file.c, s.indexPath, s.idx.entries, 0); err == nil {
		s.idx.written = len(s.idx.entries)
	}
	if err := writeTimeIndexFile(s.file.c, s.timePath, s.tidx.entries, 0); err == nil {
		s.tidx.written = len(s.tidx.entries)
	}
	return st, nil
}

// scanTail reads frames from s.size to the end of the file, adding them to the
// segment (and to the time index too, with timed). It stops at the first torn or bad frame and reports the bytes past
// it as TruncatedBytes (it does not truncate). Only I/O errors are returned.
func (s *Segment) scanTail(verifyCRC, timed bool) (RecoverStats, error) {
	var st RecoverStats
	f, err := s.file.acquire()
	if err != nil {
		return st, err
	}
	defer s.file.release()
	end, err := f.Size()
	if err != nil {
		return st, err
	}
	start := s.size
	r := newReader(f, s.fm, end, s.o.MaxFrameBytes, scanChunk, nil)
	pos, next, err := r.walk(s.size, s.next, verifyCRC, func(pos int64, h frameInfo, damaged bool) {
		s.idx.add(h.base-s.base, pos, h.size, s.o.IndexIntervalBytes)
		if timed {
			s.tidx.observe(h.base-s.base, h.maxTs, h.size, s.o.IndexIntervalBytes)
		}
		st.Frames++
		if damaged {
			st.DamagedFrames = append(st.DamagedFrames, pos)
		}
	})
	if err != nil && !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
		return st, err
	}
	s.size, s.next = pos, next
	s.alloc = end
	st.ScannedBytes = end - start
	st.TruncatedBytes = end - pos
	if st.TruncatedBytes > 0 {
		if st.ZeroTailBytes, err = zeroTail(f, pos, end); err != nil {
			return st, err
		}
	}
	return st, nil
}

// zeroTail counts the zero bytes that end [pos, end) of f.
func zeroTail(f vfs.File, pos, end int64) (int64, error) {
	buf := make([]byte, min(scanChunk, end-pos))
	for at := end; at > pos; {
		n := min(int64(len(buf)), at-pos)
		at -= n
		if _, err := f.ReadAt(buf[:n], at); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("read at %d: %w", at, err)
		}
		for i := n - 1; i >= 0; i-- {
			if buf[i] != 0 {
				return end - (at + i + 1), nil
			}
		}
	}
	return end - pos, nil
}

// Base is the offset of the segment's first record.
func (s *Segment) Base() uint64 { return s.base }

// Next is the offset after the segment's last record.
func (s *Segment) Next() uint64 { return s.next }

// Size is the committed size of the .log in bytes.
func (s *Segment) Size() int64 { return s.size }

// Sealed reports whether the segment is read-only.
func (s *Segment) Sealed() bool { return s.sealed }

// ModTime is the .log file's modification time, for retention by age.
func (s *Segment) ModTime() (time.Time, error) {
	fi, err := s.fs.Stat(s.logPath)
	if err != nil {
		return time.Time{}, fmt.Errorf("segment: %w", err)
	}
	return fi.ModTime(), nil
}

// Append writes one or more sealed frames, contiguous and continuing from
// Next(), with one WriteAt at Size(). On error nothing of frames is visible and
// the segment is unchanged; OS errors (ENOSPC, EIO, EMFILE) are wrapped.
func (s *Segment) Append(frames []byte) error {
	if s.closed || s.sealed || s.fm != v2 {
		return fmt.Errorf("%w: append to %s", ErrClosed, s.logPath)
	}
	n := int64(len(frames))
	if n == 0 {
		return nil
	}
	if ShouldRoll(s.size, n, s.o.MaxBytes) || s.size+n > maxSegmentBytes {
		return fmt.Errorf("%w: %s has %d bytes, %d more exceed %d", ErrFull, s.logPath, s.size, n, s.o.MaxBytes)
	}
	next := s.next
	for p := int64(0); p < n; {
		h, err := v2.parse(frames[p:], s.o.MaxFrameBytes)
		if err != nil {
			return fmt.Errorf("%w: append: batch at %d: %w", ErrMalformed, p, err)
		}
		if h.base != next {
			return fmt.Errorf("%w: append: batch at %d has base %d, want %d", ErrMalformed, p, h.base, next)
		}
		if p += h.size; p > n {
			return fmt.Errorf("%w: append: batch at offset %d runs past the buffer", ErrMalformed, h.base)
		}
		next = h.next
	}
	if next-s.base > math.MaxUint32 {
		return fmt.Errorf("%w: %s would hold offsets up to %d", ErrFull, s.logPath, next)
	}
	f, err := s.file.acquire()
	if err != nil {
		return fmt.Errorf("segment: append: %w", err)
	}
	defer s.file.release()
	if s.dirtyTail != nil {
		if err := f.Truncate(s.size); err != nil {
			return fmt.Errorf("segment: append to %s: cut failed write at %d: %w", s.logPath, s.size, err)
		}
		s.dirtyTail = nil
		s.alloc = s.size
	}
	if s.o.PreallocateBytes > 0 && s.size+n > s.alloc {
		s.preallocate(f, s.size+n)
	}
	if _, err := f.WriteAt(frames, s.size); err != nil {
		if terr := f.Truncate(s.size); terr != nil {
			s.dirtyTail = terr
		}
		s.alloc = s.size
		return fmt.Errorf("segment: append %d bytes to %s at %d: %w", n, s.logPath, s.size, err)
	}
	for p := int64(0); p < n; {
		h, _ := v2.parse(frames[p:], s.o.MaxFrameBytes)
		s.idx.add(h.base-s.base, s.size+p, h.size, s.o.IndexIntervalBytes)
		s.tidx.observe(h.base-s.base, h.maxTs, h.size, s.o.IndexIntervalBytes)
		p += h.size
	}
	s.size += n
	s.alloc = max(s.alloc, s.size)
	s.next = next
	s.startWriteback(f)
	return nil
}

// startWriteback starts writing back the data appended since the last
// start, once there are WritebackBytes of it. An error is ignored: the
// write-back is a hint, and the next Sync reports what failed.
func (s *Segment) startWriteback(f vfs.File) {
	if s.o.WritebackBytes <= 0 || s.size-s.wbStart < s.o.WritebackBytes {
		return
	}
	if w, ok := f.(vfs.Writebacker); ok {
		_ = w.StartWriteback(s.wbStart, s.size-s.wbStart)
	}
	s.wbStart = s.size
}

// zeros is what preallocate writes.
var zeros = make([]byte, 1<<20)

// preallocate zero-fills the .log from the data end to PreallocateBytes past
// need, but not past MaxBytes. It is only an optimization: on an error it
// cuts what it wrote and the append goes ahead without it.
func (s *Segment) preallocate(f vfs.File, need int64) {
	end := min(need+s.o.PreallocateBytes, s.o.MaxBytes)
	for at := max(s.alloc, s.size); at < end; {
		n := min(int64(len(zeros)), end-at)
		if _, err := f.WriteAt(zeros[:n], at); err != nil {
			if terr := f.Truncate(s.size); terr != nil {
				s.dirtyTail = terr
			}
			s.alloc = s.size
			return
		}
		at += n
		s.alloc = at
	}
	// Make the zeros and the new size durable now, so that the syncs of the
	// appends into them have only their own data to flush. The kernel reports
	// a write-back error to one sync only: keep it for the next Sync, which
	// must not vouch for this file after it.
	if err := f.Sync(); err != nil && s.syncErr == nil {
		s.syncErr = err
	}
}

// PreallocateAhead tops up the zeros ahead of the data to PreallocateBytes
// once less than half of them is left. An owner calls it when it has nothing
// better to do, such as after answering its waiters, so that the zero-fill
// and its sync are not in an append's path; Append still preallocates what
// it finds missing.
func (s *Segment) PreallocateAhead() {
	if s.o.PreallocateBytes <= 0 || s.sealed || s.closed || s.dirtyTail != nil ||
		s.alloc-s.size >= s.o.PreallocateBytes/2 || s.alloc >= s.o.MaxBytes {
		return
	}
	f, err := s.file.acquire()
	if err != nil {
		return
	}
	defer s.file.release()
	s.preallocate(f, s.size)
}

// cutPreallocated truncates the zeros, or the bytes of a failed append
// (dirtyTail), past the data.
func (s *Segment) cutPreallocated() error {
	if s.alloc <= s.size && s.dirtyTail == nil {
		return nil
	}
	f, err := s.file.acquire()
	if err != nil {
		return err
	}
	defer s.file.release()
	if err := f.Truncate(s.size); err != nil {
		return err
	}
	s.alloc = s.size
	s.dirtyTail = nil
	return nil
}

// Sync makes the appended frames durable (fdatasync), then writes pending
// index and time index entries. Index write errors are not returned: the index is a hint and
// is rebuilt if it is found wrong.
func (s *Segment) Sync() error {
	if s.closed {
		return fmt.Errorf("%w: sync %s", ErrClosed, s.logPath)
	}
	if s.sealed {
		return nil
	}
	f, err := s.file.acquire()
	if err != nil {
		return fmt.Errorf("segment: sync: %w", err)
	}
	err = f.Sync()
	s.file.release()
	if err == nil {
		err = s.syncErr
	}
	if err != nil {
		return fmt.Errorf("segment: sync %s: %w", s.logPath, err)
	}
	s.flushIndex()
	return nil
}

func (s *Segment) flushIndex() {
	s.flushTimeIndex()
	if !s.idxLoaded || s.idx.written >= len(s.idx.entries) {
		return
	}
	if err := writeIndexFile(s.file.c, s.indexPath, s.idx.entries, s.idx.written); err == nil {
		s.idx.written = len(s.idx.entries)
	}
}

// Seal syncs the segment and writes its indexes, the time index ending with
// the segment's max timestamp; it becomes read-only.
func (s *Segment) Seal() error {
	if s.sealed {
		return nil
	}
	// A sealed segment's file size is its data size.
	if err := s.cutPreallocated(); err != nil {
		return fmt.Errorf("segment: seal %s: cut preallocated tail: %w", s.logPath, err)
	}
	s.tidx.finish()
	if err := s.Sync(); err != nil {
		return err
	}
	s.sealed = true
	s.file.c.mu.Lock()
	s.file.flag = os.O_RDONLY
	s.file.c.mu.Unlock()
	return nil
}

// Close writes pending index entries, the time index ending with the max
// timestamp as at Seal, and releases the segment's file. Views
// stay readable until released.
func (s *Segment) Close() error {
	if s.closed {
		return nil
	}
	if !s.sealed {
		s.tidx.finish()
		s.flushIndex()
		// Best effort: a zero tail left behind costs the next start a
		// recovery scan, nothing more.
		_ = s.cutPreallocated()
	}
	s.closed = true
	if err := s.file.close(); err != nil {
		return fmt.Errorf("segment: close %s: %w", s.logPath, err)
	}
	return nil
}

// Remove closes the segment and deletes its files. Views stay readable until
// released.
func (s *Segment) Remove() error {
	s.idxLoaded, s.tidxLoaded = false, false // no point writing indexes about to be removed
	err := s.Close()
	for _, name := range []string{s.logPath, s.indexPath, s.timePath} {
		if rerr := s.fs.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("segment: remove: %w", rerr)
		}
	}
	return err
}

// Locate returns the position of the frame holding offset or of an earlier
// frame (index floor); the caller scans forward. offset must be in [Base, Next).
func (s *Segment) Locate(offset uint64) (int64, error) {
	if s.closed {
		return 0, fmt.Errorf("%w: locate in %s", ErrClosed, s.logPath)
	}
	if offset < s.base || offset >= s.next {
		return 0, fmt.Errorf("%w: offset %d not in segment [%d, %d)", ErrOutOfRange, offset, s.base, s.next)
	}
	e, err := s.locateEntry(offset)
	return int64(e.pos), err
}

// locateEntry is Locate's index entry: the frame at e.pos has base
// Base + e.rel, at or before offset; (0, 0) is the first frame.
func (s *Segment) locateEntry(offset uint64) (indexEntry, error) {
	if !s.idxLoaded {
		if err := s.loadIndex(); err != nil {
			return indexEntry{}, err
		}
	}
	i, e := s.idx.floor(offset - s.base)
	if i < 0 {
		return indexEntry{}, nil
	}
	if i < s.idx.unverified {
		ok, err := s.checkEntry(e)
		if err != nil {
			return indexEntry{}, err
		}
		if !ok {
			if err := s.rebuildIndex(); err != nil {
				return indexEntry{}, err
			}
			if i, e = s.idx.floor(offset - s.base); i < 0 {
				return indexEntry{}, nil
			}
		}
	}
	return e, nil
}

// checkEntry reads the frame header an entry points at and compares bases.
func (s *Segment) checkEntry(e indexEntry) (bool, error) {
	f, err := s.file.acquire()
	if err != nil {
		return false, fmt.Errorf("segment: locate: %w", err)
	}
	defer s.file.release()
	hdr := s.hdr[:s.fm.headerSize]
	if _, err := f.ReadAt(hdr, int64(e.pos)); err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("segment: locate in %s: %w", s.logPath, err)
	}
	h, err := s.fm.parse(hdr, s.o.MaxFrameBytes)
	return err == nil && h.base == s.base+uint64(e.rel), nil
}

// loadIndex reads a sealed segment's index file, rebuilding it if invalid.
func (s *Segment) loadIndex() error {
	data, err := readIndexFile(s.file.c, s.indexPath, (s.size/minFrameSize+1)*indexEntrySize)
	if err == nil {
		var entries []indexEntry
		if entries, err = parseIndex(data, s.size, s.next-s.base); err == nil {
			s.idx = index{entries: entries, written: len(entries), unverified: len(entries)}
			s.idxLoaded = true
			return nil
		}
	}
	return s.rebuildIndex()
}

// rebuildIndex walks the frame headers of the committed log and rewrites the
// index file. It stops at a frame it cannot parse: reads reaching it fail.
func (s *Segment) rebuildIndex() error {
	f, err := s.file.acquire()
	if err != nil {
		return fmt.Errorf("segment: rebuild index: %w", err)
	}
	defer s.file.release()
	s.idx.reset()
	r := newReader(f, s.fm, s.size, s.o.MaxFrameBytes, scanChunk, nil)
	_, _, err = r.walk(0, s.base, false, func(pos int64, h frameInfo, _ bool) {
		s.idx.add(h.base-s.base, pos, h.size, s.o.IndexIntervalBytes)
	})
	if err != nil && !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("segment: rebuild index of %s: %w", s.logPath, err)
	}
	s.idxLoaded = true
	if werr := writeIndexFile(s.file.c, s.indexPath, s.idx.entries, 0); werr == nil {
		s.idx.written = len(s.idx.entries)
	}
	return nil
}

// View pins [from, Size()) of the .log for reading by another goroutine.
func (s *Segment) View(from int64) (*View, error) {
	if s.closed {
		return nil, fmt.Errorf("%w: view of %s", ErrClosed, s.logPath)
	}
	if from < 0 || from > s.size {
		return nil, fmt.Errorf("%w: position %d not in [0, %d] of %s", ErrOutOfRange, from, s.size, s.logPath)
	}
	f, err := s.file.acquire()
	if err != nil {
		return nil, fmt.Errorf("segment: view: %w", err)
	}
	return &View{h: s.file, f: f, fm: s.fm, base: s.base, start: from, end: s.size, maxFrame: s.o.MaxFrameBytes}, nil
}
