package segment

import (
	"fmt"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs"
)

// Read sizes of View.Read: at least maxBytes within these bounds.
const (
	minReadChunk = 64 << 10
	maxReadChunk = 4 << 20
)

// View is a pinned, immutable byte range [start, end) of a segment's .log. It
// may be used from any one goroutine other than the owner; it keeps the file
// readable (even after Remove) until Release.
type View struct {
	h        *cachedFile
	f        vfs.File
	fm       *format
	base     uint64 // the segment's base offset
	start    int64
	end      int64
	maxFrame int
	released bool
}

// Start and End are the view's byte range in the .log.
func (v *View) Start() int64 { return v.start }
func (v *View) End() int64   { return v.end }

// Release unpins the view's file. Call it exactly once.
func (v *View) Release() {
	if !v.released {
		v.released = true
		v.h.release()
	}
}

// Read returns stored batches from the view start on that hold offset and
// what follows it: whole RecordBatch v2 batches, the first being the one
// that holds offset, while the total stays <= maxBytes, but always at least
// one. Every batch it returns has had its checksum checked (ErrCorrupt with
// the batch's offset on a mismatch); batches wholly below offset are skipped
// unchecked. first is offset and next the offset after the last batch, so
// the records below first in the first batch are the caller's to skip. data
// aliases buf, grown if needed. With offset at or past the end of the view
// it returns no data and first == next == offset. A legacy segment's frames
// come back converted to v2 batches.
//
// A bad batch met after others were taken ends the read early with no
// error: the checked batches before it are served, and the next read, which
// starts at the bad batch, gets the error naming its offset.
func (v *View) Read(buf []byte, offset uint64, maxBytes int) (data []byte, first, next uint64, err error) {
	if v.released {
		return nil, 0, 0, fmt.Errorf("%w: read from a released view", ErrClosed)
	}
	first, next = offset, offset
	chunk := min(max(maxBytes, minReadChunk), maxReadChunk)
	if need := int(min(int64(chunk), max(v.end-v.start, int64(v.fm.headerSize)))); cap(buf) < need {
		buf = make([]byte, need)
	}
	r := newReader(v.f, v.fm, v.end, v.maxFrame, chunk, buf)
	var out []byte // converted batches, for a legacy segment
	var conv legacyConverter
	took := 0 // bytes of data taken
	pos := v.start
	haveExpect := false
	var expect uint64
	// fail ends the read at the batch at pos. Batches already taken were
	// checked and precede it: serve them, and let the next read, which
	// starts at this batch, report err.
	fail := func(err error) ([]byte, uint64, uint64, error) {
		if took > 0 {
			return v.result(r, out), first, next, nil
		}
		return nil, offset, offset, err
	}
	for pos < v.end {
		h, err := r.header(pos)
		if err != nil {
			return fail(fmt.Errorf("%w: %s: header: %w", ErrCorrupt, v.frameAt(pos, haveExpect, expect, offset), err))
		}
		switch {
		case haveExpect && h.base != expect:
			return fail(fmt.Errorf("%w: batch at offset %d (position %d) says offset %d", ErrCorrupt, expect, pos, h.base))
		case !haveExpect && v.start == 0 && h.base != v.base:
			return fail(fmt.Errorf("%w: batch at offset %d (position 0) says offset %d", ErrCorrupt, v.base, h.base))
		case !haveExpect && h.base > offset:
			// A damaged base, or a caller's view that starts too late.
			if _, err := r.frame(pos, h); err != nil {
				return fail(fmt.Errorf("%w: batch at position %d (reading offset %d): %w", ErrCorrupt, pos, offset, err))
			}
			return fail(fmt.Errorf("%w: offset %d is before the view's first batch %d", ErrOutOfRange, offset, h.base))
		}
		haveExpect, expect = true, h.next
		if h.next <= offset {
			pos += h.size
			continue
		}
		if took > 0 && took+int(h.size) > maxBytes {
			break
		}
		b, err := r.frame(pos, h)
		if err != nil {
			return fail(fmt.Errorf("%w: batch at offset %d (position %d): %w", ErrCorrupt, h.base, pos, err))
		}
		if v.fm == legacy {
			n := len(out)
			if out, err = conv.convert(out, b); err != nil {
				out = out[:n]
				return fail(fmt.Errorf("%w: frame at offset %d (position %d): %w", ErrCorrupt, h.base, pos, err))
			}
			took += len(out) - n
		} else {
			r.take(pos, h.size)
			took += int(h.size)
		}
		next = h.next
		pos += h.size
		if took >= maxBytes {
			break
		}
	}
	return v.result(r, out), first, next, nil
}

// result is what a read took: the batches kept in the reader's buffer, or
// the converted ones of a legacy segment.
func (v *View) result(r *reader, out []byte) []byte {
	if v.fm == legacy {
		return out
	}
	return r.buf[:r.kept]
}

// frameAt names the batch at pos for an error: by the offset it must hold
// when that is known (the batch after a good one, or the first of the
// segment).
func (v *View) frameAt(pos int64, haveExpect bool, expect, reading uint64) string {
	switch {
	case haveExpect:
		return fmt.Sprintf("batch at offset %d (position %d)", expect, pos)
	case pos == 0:
		return fmt.Sprintf("batch at offset %d (position 0)", v.base)
	}
	return fmt.Sprintf("batch at position %d (reading offset %d)", pos, reading)
}

// legacyConverter turns the previous release's frames into v2 batches.
type legacyConverter struct {
	b    batch.Builder
	hdrs []batch.RecordHeader
}

// convert appends frame's records, with their offsets, as one v2 batch.
func (c *legacyConverter) convert(dst, frame []byte) ([]byte, error) {
	h, err := parseLegacyHeader(frame, MaxFrameBytes)
	if err != nil {
		return dst, err
	}
	c.b.Reset(nil)
	p := frame[legacyHeaderSize:]
	for i := uint32(0); len(p) > 0; i++ {
		rec, o, rest, err := nextLegacyRecord(p)
		if err != nil {
			return dst, fmt.Errorf("record %d: %w", i, err)
		}
		if o != h.Base+uint64(i) {
			return dst, fmt.Errorf("record %d has offset %d", i, o)
		}
		r, err := decodeLegacyRecord(rec)
		if err != nil {
			return dst, err
		}
		c.hdrs = c.hdrs[:0]
		for _, hd := range r.Headers {
			c.hdrs = append(c.hdrs, batch.RecordHeader{Key: hd.Key, Value: hd.Value})
		}
		c.b.Add(r.Key, r.Value, c.hdrs, r.TimestampMs)
		p = rest
	}
	if c.b.Len() != int(h.Count) {
		return dst, fmt.Errorf("holds %d records, header says %d", c.b.Len(), h.Count)
	}
	b := c.b.Finish()
	batch.SetBaseOffset(b, h.Base)
	return append(dst, b...), nil
}
