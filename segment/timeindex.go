package segment

import (
	"encoding/binary"
	"fmt"
	"sort"
)

const timeEntrySize = 12

// timeEntry says that ts is the largest max timestamp of the batches up to
// the one at rel (relative to the segment base), and that this batch is the
// first to reach it: every batch before it holds only records below ts.
type timeEntry struct {
	ts  int64
	rel uint32
}

// timeIndex is the in-memory time index of one segment (Kafka's
// .timeindex). Entries carry the running max timestamp, as Kafka's do, not
// each batch's own: only then does an entry vouch for every batch before
// it, whatever order the producers' timestamps come in. entries[:written]
// are what the file holds.
type timeIndex struct {
	entries []timeEntry
	written int
	since   int64 // log bytes since the last entry
	// The running max over the batches walked: maxTs, first reached by the
	// batch at maxRel; have is false before the first batch.
	maxTs  int64
	maxRel uint32
	have   bool
	// unverified entries at the front came from the file and were not
	// walked to: a lookup that starts at one checks its batch first.
	unverified int
}

// observe takes the next batch of the segment, in log order, and adds an
// entry when the running max rose past the last entry and interval bytes
// passed since it. A batch at or before the last entry is one walked again
// to check entries loaded from the file: observe reports false when it
// contradicts them.
func (x *timeIndex) observe(rel uint64, maxTs, size int64, interval int) bool {
	if n := len(x.entries); n > 0 && rel <= uint64(x.entries[n-1].rel) {
		last := x.entries[n-1]
		if rel == uint64(last.rel) {
			x.since = size
			return maxTs == last.ts
		}
		return maxTs < last.ts
	}
	if !x.have || maxTs > x.maxTs {
		x.maxTs, x.maxRel, x.have = maxTs, uint32(rel), true
	}
	if n := len(x.entries); n == 0 || (x.since >= int64(interval) && x.maxTs > x.entries[n-1].ts) {
		x.entries = append(x.entries, timeEntry{ts: x.maxTs, rel: x.maxRel})
		x.since = 0
	}
	x.since += size
	return true
}

// finish adds the running max as the last entry if it is not one yet, so
// that the last entry is the segment's max timestamp (Seal and Close).
func (x *timeIndex) finish() {
	if n := len(x.entries); x.have && (n == 0 || x.maxTs > x.entries[n-1].ts) {
		x.entries = append(x.entries, timeEntry{ts: x.maxTs, rel: x.maxRel})
		x.since = 0
	}
}

// load takes entries read from the file as the running max so far.
func (x *timeIndex) load(entries []timeEntry) {
	*x = timeIndex{entries: entries, written: len(entries)}
	if n := len(entries); n > 0 {
		x.maxTs, x.maxRel, x.have = entries[n-1].ts, entries[n-1].rel, true
		x.unverified = n - 1 // the caller walks from the last one
	}
}

// floor returns the last entry whose timestamp is at most ts: its batch
// holds ts or more, no earlier batch does. i < 0 when there is none.
func (x *timeIndex) floor(ts int64) (i int, e timeEntry) {
	i = sort.Search(len(x.entries), func(i int) bool { return x.entries[i].ts > ts }) - 1
	if i < 0 {
		return -1, timeEntry{}
	}
	return i, x.entries[i]
}

func (x *timeIndex) reset() { *x = timeIndex{entries: x.entries[:0]} }

// parseTimeIndex decodes and validates a .timeindex image: timestamps and
// offsets strictly increasing, offsets < nextRel, no more entries than the
// log has batches.
func parseTimeIndex(b []byte, logSize int64, nextRel uint64) ([]timeEntry, error) {
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: time index size %d is not a multiple of %d", errBadIndex, len(b), timeEntrySize)
	}
	n := len(b) / timeEntrySize
	if int64(n) > logSize/minFrameSize {
		return nil, fmt.Errorf("%w: %d time entries for a %d byte log", errBadIndex, n, logSize)
	}
	entries := make([]timeEntry, n)
	for i := range entries {
		e := timeEntry{
			ts:  int64(binary.LittleEndian.Uint64(b[i*timeEntrySize:])),
			rel: binary.LittleEndian.Uint32(b[i*timeEntrySize+8:]),
		}
		switch {
		case i > 0 && (e.ts <= entries[i-1].ts || e.rel <= entries[i-1].rel):
			return nil, fmt.Errorf("%w: time entry %d (%d,%d) not after (%d,%d)", errBadIndex, i, e.ts, e.rel, entries[i-1].ts, entries[i-1].rel)
		case uint64(e.rel) >= nextRel:
			return nil, fmt.Errorf("%w: time entry %d at offset %d, past the end %d", errBadIndex, i, e.rel, nextRel)
		}
		entries[i] = e
	}
	return entries, nil
}

func appendTimeIndex(dst []byte, entries []timeEntry) []byte {
	for _, e := range entries {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(e.ts))
		dst = binary.LittleEndian.AppendUint32(dst, e.rel)
	}
	return dst
}

// writeTimeIndexFile writes entries from entry position from; with from ==
// 0 it replaces the file.
func writeTimeIndexFile(c *FileCache, name string, entries []timeEntry, from int) error {
	var b []byte
	if len(entries) > from {
		b = appendTimeIndex(make([]byte, 0, (len(entries)-from)*timeEntrySize), entries[from:])
	}
	return writeFileAt(c, name, b, int64(from)*timeEntrySize)
}
