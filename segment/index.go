package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

const indexEntrySize = 8

// indexEntry maps a frame's base offset (relative to the segment base) to its
// file position.
type indexEntry struct {
	rel uint32
	pos uint32
}

// index is the in-memory offset index of one segment. The .index file is a
// hint: entries[:written] are what the file holds.
type index struct {
	entries []indexEntry
	written int   // entries already in the .index file
	since   int64 // log bytes since the last entry
	// unverified entries at the front came from the file and have not been
	// checked against the log; a lookup that lands on one reads the frame.
	unverified int
}

// add records a frame at pos if the interval rule asks for an entry.
func (x *index) add(rel uint64, pos, size int64, interval int) {
	if len(x.entries) == 0 || x.since >= int64(interval) {
		x.entries = append(x.entries, indexEntry{rel: uint32(rel), pos: uint32(pos)})
		x.since = 0
	}
	x.since += size
}

// floor returns the position of the last entry at or before rel.
func (x *index) floor(rel uint64) (i int, e indexEntry) {
	i = sort.Search(len(x.entries), func(i int) bool { return uint64(x.entries[i].rel) > rel }) - 1
	if i < 0 {
		return -1, indexEntry{}
	}
	return i, x.entries[i]
}

func (x *index) reset() { *x = index{entries: x.entries[:0]} }

var errBadIndex = errors.New("segment: invalid index")

// parseIndex decodes and validates an index file image: first entry (0,0),
// strictly increasing offsets and positions, offsets < nextRel, positions <
// logSize.
func parseIndex(b []byte, logSize int64, nextRel uint64) ([]indexEntry, error) {
	if len(b)%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: size %d is not a multiple of %d", errBadIndex, len(b), indexEntrySize)
	}
	n := len(b) / indexEntrySize
	if n == 0 {
		if logSize > 0 {
			return nil, fmt.Errorf("%w: empty for a %d byte log", errBadIndex, logSize)
		}
		return nil, nil
	}
	if int64(n) > logSize/minFrameSize+1 {
		return nil, fmt.Errorf("%w: %d entries for a %d byte log", errBadIndex, n, logSize)
	}
	entries := make([]indexEntry, n)
	for i := range entries {
		e := indexEntry{
			rel: binary.LittleEndian.Uint32(b[i*indexEntrySize:]),
			pos: binary.LittleEndian.Uint32(b[i*indexEntrySize+4:]),
		}
		switch {
		case i == 0 && (e.rel != 0 || e.pos != 0):
			return nil, fmt.Errorf("%w: first entry (%d,%d), want (0,0)", errBadIndex, e.rel, e.pos)
		case i > 0 && (e.rel <= entries[i-1].rel || e.pos <= entries[i-1].pos):
			return nil, fmt.Errorf("%w: entry %d (%d,%d) not after (%d,%d)", errBadIndex, i, e.rel, e.pos, entries[i-1].rel, entries[i-1].pos)
		case uint64(e.rel) >= nextRel || int64(e.pos) >= logSize:
			return nil, fmt.Errorf("%w: entry %d (%d,%d) past the end (%d,%d)", errBadIndex, i, e.rel, e.pos, nextRel, logSize)
		}
		entries[i] = e
	}
	return entries, nil
}

func appendIndex(dst []byte, entries []indexEntry) []byte {
	for _, e := range entries {
		dst = binary.LittleEndian.AppendUint32(dst, e.rel)
		dst = binary.LittleEndian.AppendUint32(dst, e.pos)
	}
	return dst
}

// readIndexFile reads the whole .index file, refusing one over maxLen bytes.
func readIndexFile(c *FileCache, name string, maxLen int64) ([]byte, error) {
	f, err := c.openFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > maxLen || size > math.MaxInt32 {
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d expected", errBadIndex, name, size, maxLen)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// writeIndexFile writes entries at entry position from; with from == 0 it
// replaces the file.
func writeIndexFile(c *FileCache, name string, entries []indexEntry, from int) error {
	var b []byte
	if len(entries) > from {
		b = appendIndex(make([]byte, 0, (len(entries)-from)*indexEntrySize), entries[from:])
	}
	return writeFileAt(c, name, b, int64(from)*indexEntrySize)
}

// writeFileAt writes b at at in an index file; with at == 0 it replaces
// the file.
func writeFileAt(c *FileCache, name string, b []byte, at int64) error {
	flag := os.O_WRONLY | os.O_CREATE
	if at == 0 {
		flag |= os.O_TRUNC
	}
	f, err := c.openFile(name, flag, 0o644)
	if err != nil {
		return err
	}
	if len(b) > 0 {
		_, err = f.WriteAt(b, at)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
