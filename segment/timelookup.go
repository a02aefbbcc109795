package segment

import (
	"errors"
	"fmt"

	"github.com/logbroker/logbroker/batch"
)

// TimeIndexName is the .timeindex file name of the segment with base
// offset base.
func TimeIndexName(base uint64) string { return fmt.Sprintf("%020d.timeindex", base) }

// MaxTimestamp is the largest max timestamp of the segment's batches; ok is
// false for an empty segment. A sealed segment loads (or rebuilds) its time
// index on first use.
func (s *Segment) MaxTimestamp() (ts int64, ok bool, err error) {
	if s.closed {
		return 0, false, fmt.Errorf("%w: max timestamp of %s", ErrClosed, s.logPath)
	}
	if err := s.ensureTimeIndex(); err != nil {
		return 0, false, err
	}
	return s.tidx.maxTs, s.tidx.have, nil
}

// TimeView pins the .log from where a lookup of ts starts: the batch of the
// last time index entry at or below ts, or the first batch. No batch before
// it holds a record at or after ts. The caller walks it with
// View.OffsetForTime, on any goroutine.
func (s *Segment) TimeView(ts int64) (*View, error) {
	if s.closed {
		return nil, fmt.Errorf("%w: time lookup in %s", ErrClosed, s.logPath)
	}
	if err := s.ensureTimeIndex(); err != nil {
		return nil, err
	}
	i, e := s.tidx.floor(ts)
	if i >= 0 && i < s.tidx.unverified {
		ok, err := s.checkTimeEntry(e)
		if err != nil {
			return nil, err
		}
		if !ok {
			if err := s.rebuildTimeIndex(); err != nil {
				return nil, err
			}
			i, e = s.tidx.floor(ts)
		}
	}
	var pos int64
	if i >= 0 {
		ie, err := s.locateEntry(s.base + uint64(e.rel))
		if err != nil {
			return nil, err
		}
		pos = int64(ie.pos)
	}
	return s.View(pos)
}

// checkTimeEntry reads the batch headers from the offset index entry at or
// before e's batch up to it: that batch must hold e.ts as its max and none
// before it as much. It is the check Locate makes of an .index entry, as
// far as a short read goes: batches before the offset index entry are not
// read, so a file that lies about them consistently is believed.
func (s *Segment) checkTimeEntry(e timeEntry) (bool, error) {
	ie, err := s.locateEntry(s.base + uint64(e.rel))
	if err != nil {
		return false, err
	}
	f, err := s.file.acquire()
	if err != nil {
		return false, fmt.Errorf("segment: time lookup: %w", err)
	}
	defer s.file.release()
	r := newReader(f, s.fm, s.size, s.o.MaxFrameBytes, s.o.IndexIntervalBytes+s.fm.headerSize, nil)
	for pos, next := int64(ie.pos), s.base+uint64(ie.rel); pos < s.size; {
		h, err := r.header(pos)
		if err != nil || h.base != next || h.base-s.base > uint64(e.rel) {
			return false, nil
		}
		if h.base-s.base == uint64(e.rel) {
			return h.maxTs == e.ts, nil
		}
		if h.maxTs >= e.ts {
			return false, nil
		}
		pos, next = pos+h.size, h.next
	}
	return false, nil
}

// OffsetForTime is the first offset of the segment whose record timestamp
// is at or after ts; found is false when no record is.
func (s *Segment) OffsetForTime(ts int64) (offset uint64, found bool, err error) {
	v, err := s.TimeView(ts)
	if err != nil {
		return 0, false, err
	}
	defer v.Release()
	return v.OffsetForTime(nil, ts, s.next)
}

func (s *Segment) ensureTimeIndex() error {
	if s.tidxLoaded {
		return nil
	}
	return s.loadTimeIndex()
}

// loadTimeIndex reads a sealed segment's .timeindex, and checks it from
// its last entry's batch to the end of the log: that batch must hold the
// entry's timestamp, and no later one more, for the last entry to be the
// segment's max. Anything else rebuilds it from the log.
func (s *Segment) loadTimeIndex() error {
	data, err := readIndexFile(s.file.c, s.timePath, (s.size/minFrameSize+1)*timeEntrySize)
	if err == nil {
		var entries []timeEntry
		if entries, err = parseTimeIndex(data, s.size, s.next-s.base); err == nil && len(entries) > 0 {
			s.tidx.load(entries)
			ok, err := s.walkTimeFromLast()
			if err != nil {
				return err
			}
			if ok {
				s.tidx.finish()
				s.tidxLoaded = true
				s.flushTimeIndex() // a file that missed its last entries
				return nil
			}
		}
	}
	return s.rebuildTimeIndex()
}

// walkTimeFromLast walks the batches from the last entry's on, checking
// them against it and adding what follows; false when they contradict it.
func (s *Segment) walkTimeFromLast() (bool, error) {
	last := s.tidx.entries[len(s.tidx.entries)-1]
	e, err := s.locateEntry(s.base + uint64(last.rel))
	if err != nil {
		return false, err
	}
	return s.walkTime(int64(e.pos), s.base+uint64(e.rel), uint64(last.rel))
}

// rebuildTimeIndex walks every batch header of the committed log and
// rewrites the .timeindex. A sealed segment's last entry is its max.
func (s *Segment) rebuildTimeIndex() error {
	s.tidx.reset()
	if _, err := s.walkTime(0, s.base, 0); err != nil {
		return err
	}
	if s.sealed {
		s.tidx.finish()
	}
	s.tidxLoaded = true
	if err := writeTimeIndexFile(s.file.c, s.timePath, s.tidx.entries, 0); err == nil {
		s.tidx.written = len(s.tidx.entries)
	}
	return nil
}

// walkTime feeds the batches of [from, Size()) to the time index; the one
// at from has base next. It reports false when a batch contradicts the
// loaded entries, or when the walk did not meet the batch at mustSee (the
// last loaded entry's offset) while entries are loaded. It stops at a
// batch it cannot parse, as an index rebuild does: reads reaching it fail.
func (s *Segment) walkTime(from int64, next uint64, mustSee uint64) (bool, error) {
	f, err := s.file.acquire()
	if err != nil {
		return false, fmt.Errorf("segment: time index of %s: %w", s.logPath, err)
	}
	defer s.file.release()
	ok, seen := true, len(s.tidx.entries) == 0
	r := newReader(f, s.fm, s.size, s.o.MaxFrameBytes, scanChunk, nil)
	_, _, err = r.walk(from, next, false, func(_ int64, h frameInfo, _ bool) {
		rel := h.base - s.base
		seen = seen || rel == mustSee
		ok = s.tidx.observe(rel, h.maxTs, h.size, s.o.IndexIntervalBytes) && ok
	})
	if err != nil && !errors.Is(err, ErrTorn) && !errors.Is(err, ErrCorrupt) {
		return false, fmt.Errorf("segment: time index of %s: %w", s.logPath, err)
	}
	return ok && seen, nil
}

// openTimeIndex loads the active segment's .timeindex after a clean open
// and walks the log from its last entry's batch: that restores the
// running max and adds the entries a lost write missed. A missing or bad
// file is rebuilt from the whole log.
func (s *Segment) openTimeIndex(st *RecoverStats) error {
	data, err := readIndexFile(s.file.c, s.timePath, (s.size/minFrameSize+1)*timeEntrySize)
	var entries []timeEntry
	if err == nil {
		entries, err = parseTimeIndex(data, s.size, s.next-s.base)
	}
	if err == nil && len(entries) > 0 {
		s.tidx.load(entries)
		ok, err := s.walkTimeFromLast()
		if err != nil {
			return err
		}
		if ok {
			s.tidxLoaded = true
			return nil
		}
	} else if err == nil && s.size == 0 {
		s.tidxLoaded = true
		return nil
	}
	st.TimeIndexRebuilt = true
	return s.rebuildTimeIndex()
}

func (s *Segment) flushTimeIndex() {
	if !s.tidxLoaded || s.tidx.written >= len(s.tidx.entries) {
		return
	}
	if err := writeTimeIndexFile(s.file.c, s.timePath, s.tidx.entries, s.tidx.written); err == nil {
		s.tidx.written = len(s.tidx.entries)
	}
}

// OffsetForTime walks the view's batches below limit from its start and
// returns the first offset whose record timestamp is at or after ts:
// Kafka's rule, also when timestamps are not in order. It takes the first
// batch whose max timestamp reaches ts, checks its CRC, and decodes its
// records for the first (by offset) that does; a batch that holds none,
// against its header, is passed over. found is false when no record below
// limit qualifies. buf is scratch; it may be nil.
func (v *View) OffsetForTime(buf []byte, ts int64, limit uint64) (offset uint64, found bool, err error) {
	if v.released {
		return 0, false, fmt.Errorf("%w: time lookup in a released view", ErrClosed)
	}
	r := newReader(v.f, v.fm, v.end, v.maxFrame, minReadChunk, buf)
	var (
		it   batch.Iter
		rec  batch.Record
		conv legacyConverter
		out  []byte
	)
	pos, expect, haveExpect := v.start, v.base, v.start == 0
	for pos < v.end {
		h, err := r.header(pos)
		if err != nil {
			return 0, false, fmt.Errorf("%w: time lookup: batch at position %d: %w", ErrCorrupt, pos, err)
		}
		if haveExpect && h.base != expect {
			return 0, false, fmt.Errorf("%w: time lookup: batch at offset %d (position %d) says offset %d", ErrCorrupt, expect, pos, h.base)
		}
		haveExpect, expect = true, h.next
		if h.base >= limit {
			break
		}
		if h.maxTs >= ts {
			b, err := r.frame(pos, h)
			if err == nil && v.fm == legacy {
				out, err = conv.convert(out[:0], b)
				b = out
			}
			if err == nil {
				err = it.Reset(b)
			}
			for err == nil && it.Next(&rec) {
				if rec.TimestampMs >= ts {
					return rec.Offset, true, nil
				}
			}
			if err == nil {
				err = it.Err()
			}
			if err != nil {
				return 0, false, fmt.Errorf("%w: time lookup: batch at offset %d (position %d): %w", ErrCorrupt, h.base, pos, err)
			}
		}
		pos += h.size
	}
	return 0, false, nil
}
