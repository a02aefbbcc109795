package partition

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
	"github.com/logbroker/logbroker/vfs"
)

// Log is one partition's ordered list of segments. The last segment is the
// active one; all others are sealed (synced, read-only).
//
// Log is not safe for concurrent use: its single owner is the partition actor.
type Log struct {
	dir    string
	cfg    *Config
	files  *segment.FileCache
	logger zerolog.Logger

	segs  []*segment.Segment // ordered by base offset; never empty
	next  uint64             // offset the next record gets
	dirty bool               // bytes written since the last sync
}

// openLog opens (or creates) the log in dir. clean says the previous run shut
// down cleanly, so the active segment needs no recovery scan. previous says
// the previous release wrote the data directory: a partition without a
// format file is then all legacy segments, and is upgraded.
func openLog(dir string, cfg *Config, files *segment.FileCache, logger zerolog.Logger, clean, previous bool) (_ *Log, stats segment.RecoverStats, scanned int, err error) {
	start := time.Now()
	fsys := cfg.FS
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, stats, 0, fmt.Errorf("partition: create %s: %w", dir, Classify(err))
	}
	bases, err := listSegments(fsys, dir)
	if err != nil {
		return nil, stats, 0, err
	}
	l := &Log{dir: dir, cfg: cfg, files: files, logger: logger}
	opts := cfg.segmentOptions()
	v2Start, hasFormat, err := readFormat(fsys, dir)
	if err != nil {
		return nil, stats, 0, err
	}
	if len(bases) == 0 {
		s, err := segment.Create(files, dir, 0, opts)
		if err != nil {
			return nil, stats, 0, fmt.Errorf("partition: create first segment in %s: %w", dir, Classify(err))
		}
		if err := fsys.SyncDir(dir); err != nil {
			s.Close()
			return nil, stats, 0, fmt.Errorf("partition: sync dir %s: %w", dir, Classify(err))
		}
		l.segs = []*segment.Segment{s}
		return l, stats, scanned, nil
	}
	if !hasFormat && previous {
		v2Start = math.MaxUint64 // the previous release wrote every segment
	}
	for i, base := range bases {
		mode, nextBase := segment.Sealed, uint64(0)
		switch {
		case i+1 < len(bases):
			nextBase = bases[i+1]
		case clean:
			mode = segment.Clean
		default:
			mode = segment.Recover
		}
		o := opts
		o.Legacy = base < v2Start
		s, st, err := segment.Open(files, dir, base, o, mode, nextBase)
		if err != nil {
			l.closeSegments()
			return nil, stats, 0, fmt.Errorf("partition: open segment %d in %s: %w", base, dir, Classify(err))
		}
		if mode == segment.Recover || st.TruncatedBytes > 0 || st.IndexRebuilt {
			// A clean open reads only the active segment's last index
			// interval, unless what it finds there sends it to a full scan.
			stats.ScannedBytes += st.ScannedBytes
			stats.Frames += st.Frames
			scanned++
		}
		// Zeros written ahead of the data are not torn data.
		stats.TruncatedBytes += st.TruncatedBytes - st.ZeroTailBytes
		if st.IndexRebuilt {
			logger.Warn().Uint64("base_offset", base).Msg("rebuilt a damaged index from its log")
		}
		if len(st.DamagedFrames) > 0 {
			logger.Error().Uint64("base_offset", base).Interface("positions", st.DamagedFrames).
				Msg("kept damaged frames in the log (their checksums fail, good frames follow): reads of them report data loss")
		}
		l.segs = append(l.segs, s)
	}
	l.next = l.active().Next()
	if base := l.active().Base(); base < v2Start {
		if err := l.upgrade(); err != nil {
			l.closeSegments()
			return nil, stats, 0, err
		}
		logger.Info().Uint64("legacy_segments_below", l.next).Uint64("from_offset", base).
			Msg("upgraded a partition written by the previous release: its segments are read as they are, new records are stored as RecordBatch v2")
	}
	if stats.TruncatedBytes > 0 {
		logger.Warn().Int64("truncated_bytes", stats.TruncatedBytes).Uint64("next_offset", l.next).
			Int64("scanned_bytes", stats.ScannedBytes).Dur("took_ms", time.Since(start)).
			Msg("recovery truncated a torn tail")
	}
	return l, stats, scanned, nil
}

// upgrade moves a partition the previous release wrote on to v2: it records
// that v2 starts at Next, then seals the legacy active segment and starts a
// v2 one there. An empty legacy active segment is replaced instead. A crash
// half way leaves either no record of v2 (all legacy, as before) or the
// record and a legacy active segment, which the next start upgrades again.
func (l *Log) upgrade() error {
	if err := writeFormat(l.cfg.FS, l.dir, l.next); err != nil {
		return err
	}
	old := l.active()
	if old.Size() > 0 {
		return l.roll()
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("partition: close empty legacy segment %d: %w", old.Base(), Classify(err))
	}
	s, err := segment.Create(l.files, l.dir, old.Base(), l.cfg.segmentOptions())
	if err != nil {
		return fmt.Errorf("partition: create segment %d: %w", old.Base(), Classify(err))
	}
	l.segs[len(l.segs)-1] = s
	if err := l.cfg.FS.SyncDir(l.dir); err != nil {
		return fmt.Errorf("partition: sync dir %s: %w", l.dir, Classify(err))
	}
	return nil
}

// listSegments returns the base offsets of the .log files in dir, sorted.
func listSegments(fsys vfs.FS, dir string) ([]uint64, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("partition: list %s: %w", dir, Classify(err))
	}
	var bases []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".log") {
			continue
		}
		if base, ok := segment.ParseBase(name); ok {
			bases = append(bases, base)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func (l *Log) active() *segment.Segment { return l.segs[len(l.segs)-1] }

// LogStart is the lowest offset still stored.
func (l *Log) LogStart() uint64 { return l.segs[0].Base() }

// Next is the offset the next record gets.
func (l *Log) Next() uint64 { return l.next }

// Segments is the number of segments.
func (l *Log) Segments() int { return len(l.segs) }

// Size is the bytes of all segments.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segs {
		n += s.Size()
	}
	return n
}

// Append writes frames, already sealed with offsets from Next(), holding
// count records, in one write. It rolls first when the active segment is full.
// On error nothing of frames is visible.
func (l *Log) Append(frames []byte, count int) error {
	// A sealed active segment is a roll that failed half way (its new
	// segment could not be created): finish it.
	if l.active().Sealed() || segment.ShouldRoll(l.active().Size(), int64(len(frames)), l.cfg.SegmentBytes) {
		if err := l.roll(); err != nil {
			return err
		}
	}
	if err := l.active().Append(frames); err != nil {
		return Classify(err)
	}
	l.next += uint64(count)
	l.dirty = true
	return nil
}

// PreallocateAhead readies zeros ahead of the active segment's data for the
// next appends (segment.Segment.PreallocateAhead); only --fsync always
// preallocates.
func (l *Log) PreallocateAhead() { l.active().PreallocateAhead() }

// Sync makes everything appended durable.
func (l *Log) Sync() error {
	if !l.dirty {
		return nil
	}
	if err := l.active().Sync(); err != nil {
		return Classify(err)
	}
	l.dirty = false
	return nil
}

// roll seals the active segment and starts a new one at Next().
func (l *Log) roll() error {
	old := l.active()
	if err := old.Seal(); err != nil {
		// Not classified: a failed seal is a failed sync, never a write cut
		// back for want of space, so the partition stops rather than retry
		// the sync at the next append and acknowledge what it may have lost.
		return fmt.Errorf("partition: seal segment %d: %w", old.Base(), err)
	}
	l.dirty = false
	s, err := segment.Create(l.files, l.dir, l.next, l.cfg.segmentOptions())
	if err != nil {
		return fmt.Errorf("partition: create segment %d: %w", l.next, Classify(err))
	}
	if err := l.cfg.FS.SyncDir(l.dir); err != nil {
		s.Close()
		return fmt.Errorf("partition: sync dir %s: %w", l.dir, Classify(err))
	}
	l.segs = append(l.segs, s)
	l.logger.Debug().Uint64("base_offset", l.next).Int("segments", len(l.segs)).Msg("rolled segment")
	return nil
}

// View returns an immutable view that starts at or before offset, which must
// be in [LogStart, Next). The caller reads it outside the owner and releases it.
func (l *Log) View(offset uint64) (*segment.View, error) {
	// The segment holding offset is the last one whose base is <= offset.
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].Base() > offset }) - 1
	if i < 0 {
		return nil, &OffsetError{Offset: offset, LogStart: l.LogStart(), Next: l.next}
	}
	s := l.segs[i]
	pos, err := s.Locate(offset)
	if err != nil {
		return nil, Classify(err)
	}
	v, err := s.View(pos)
	return v, Classify(err)
}

// TimeView returns a view to walk, with View.OffsetForTime, for the first
// offset whose record timestamp is at or after ts: in the first segment
// whose max timestamp reaches ts, from where its time index says, or in the
// active segment when no sealed one does. The active segment is walked
// rather than skipped by its max, which the lookup then finds anyway. The
// caller reads it outside the owner and releases it.
func (l *Log) TimeView(ts int64) (*segment.View, error) {
	s := l.active()
	for _, sealed := range l.segs[:len(l.segs)-1] {
		maxTs, ok, err := sealed.MaxTimestamp()
		if err != nil {
			return nil, Classify(err)
		}
		if ok && maxTs >= ts {
			s = sealed
			break
		}
	}
	v, err := s.TimeView(ts)
	return v, Classify(err)
}

// OffsetForTime is the first offset below limit whose record timestamp is
// at or after ts, and limit when none is: TimeView walked on the owner.
func (l *Log) OffsetForTime(ts int64, limit uint64) (uint64, error) {
	v, err := l.TimeView(ts)
	if err != nil {
		return 0, err
	}
	defer v.Release()
	return offsetIn(v, nil, ts, limit)
}

// offsetIn walks v for ts below limit; limit when no record qualifies.
func offsetIn(v *segment.View, buf []byte, ts int64, limit uint64) (uint64, error) {
	off, found, err := v.OffsetForTime(buf, ts, limit)
	if err != nil {
		return 0, Classify(err)
	}
	if !found || off > limit {
		return limit, nil
	}
	return off, nil
}

// Retain deletes whole sealed segments that retention no longer keeps and
// returns how many it deleted. Readers holding views keep reading them.
func (l *Log) Retain(now time.Time) (int, error) {
	deleted := 0
	var removeErr error
	total := l.Size()
	for len(l.segs) > 1 {
		s := l.segs[0]
		drop := l.cfg.RetentionBytes > 0 && total-s.Size() >= l.cfg.RetentionBytes
		if !drop && l.cfg.RetentionAge > 0 {
			// A sealed segment's last write is its newest record's append time.
			mt, err := s.ModTime()
			if err != nil {
				return deleted, Classify(err)
			}
			drop = now.Sub(mt) > l.cfg.RetentionAge
		}
		if !drop {
			break
		}
		// Remove closes the segment whatever else fails, so it leaves the
		// log either way: a closed segment at the head would fail every
		// read from the log start. A file it could not delete is found
		// again, and retained again, at the next start.
		err := s.Remove()
		total -= s.Size()
		l.segs = l.segs[1:]
		deleted++
		if err != nil {
			removeErr = fmt.Errorf("partition: remove segment %d: %w", s.Base(), Classify(err))
			break
		}
	}
	if deleted > 0 {
		if err := l.cfg.FS.SyncDir(l.dir); err != nil && removeErr == nil {
			removeErr = fmt.Errorf("partition: sync dir %s: %w", l.dir, Classify(err))
		}
	}
	return deleted, removeErr
}

// Close syncs and closes every segment.
func (l *Log) Close() error {
	err := l.Sync()
	if cerr := l.closeSegments(); err == nil {
		err = cerr
	}
	return err
}

// CloseFailed closes the log of a partition stopped by a write or sync
// error, without syncing: a retried fsync can report success for pages an
// earlier failure lost, so nothing it writes is vouched for.
func (l *Log) CloseFailed() error { return l.closeSegments() }

func (l *Log) closeSegments() error {
	var first error
	for _, s := range l.segs {
		if err := s.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// partitionDir is <data-dir>/<topic>-<partition>.
func partitionDir(dataDir, topic string, p uint32) string {
	return filepath.Join(dataDir, fmt.Sprintf("%s-%d", topic, p))
}

// WalkHeaders calls fn with the header of every stored batch whose base
// offset is at or after from, in offset order, reading headers only
// (segment.View.WalkHeaders). Legacy segments hold no RecordBatch headers
// and are passed over.
func (l *Log) WalkHeaders(from uint64, fn func(h batch.Header)) error {
	if from >= l.next {
		return nil
	}
	from = max(from, l.LogStart())
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].Base() > from }) - 1
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		var pos int64
		if s.Base() <= from && from < s.Next() {
			p, err := s.Locate(from)
			if err != nil {
				return Classify(err)
			}
			pos = p
		}
		v, err := s.View(pos)
		if err != nil {
			return Classify(err)
		}
		err = v.WalkHeaders(func(h batch.Header) {
			if h.BaseOffset >= from {
				fn(h)
			}
		})
		v.Release()
		if err != nil {
			return fmt.Errorf("partition: segment %d: %w", s.Base(), Classify(err))
		}
	}
	return nil
}
