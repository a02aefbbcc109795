package segment

import (
	"fmt"

	"github.com/logbroker/logbroker/batch"
)

// headerChunk is what WalkHeaders reads at least per ReadAt: small batches
// come several to a read; a batch larger than this costs one read of its
// header, and its records are never read.
const headerChunk = 4 << 10

// WalkHeaders calls fn with the header of every batch in the view, in
// order, reading headers only: no record is read and no CRC checked (a
// caller that needs checked data reads it). Batches must follow on from
// each other (ErrCorrupt otherwise). A legacy segment's frames have no
// RecordBatch header and are not walked: fn is never called for them.
func (v *View) WalkHeaders(fn func(h batch.Header)) error {
	if v.released {
		return fmt.Errorf("%w: walk of a released view", ErrClosed)
	}
	if v.fm != v2 {
		return nil
	}
	r := newReader(v.f, v.fm, v.end, v.maxFrame, headerChunk, make([]byte, headerChunk))
	pos := v.start
	var expect uint64
	for first := true; pos < v.end; first = false {
		b, err := r.bytes(pos, batch.HeaderSize)
		if err != nil {
			return fmt.Errorf("%w: batch header at position %d: %w", ErrCorrupt, pos, err)
		}
		h, err := batch.ParseHeader(b, v.maxFrame)
		if err != nil {
			return fmt.Errorf("%w: batch header at position %d: %w", ErrCorrupt, pos, err)
		}
		if !first && h.BaseOffset != expect {
			return fmt.Errorf("%w: batch at position %d says offset %d, want %d", ErrCorrupt, pos, h.BaseOffset, expect)
		}
		if pos+h.Size() > v.end {
			return fmt.Errorf("%w: batch at position %d runs past the end %d", ErrCorrupt, pos, v.end)
		}
		fn(h)
		expect = h.Next()
		pos += h.Size()
	}
	return nil
}
