package segment

import (
	"errors"
	"fmt"
	"io"

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

// Read reads frames from the view start, checking each one it returns records
// from (ErrCorrupt with the frame's base offset on a mismatch), skips records
// below offset, and returns the stored records from offset on: whole records
// while the total stays <= maxBytes, but always at least one. It may stop
// early at a frame boundary. data aliases buf, grown if needed. With offset
// at or past the end of the view it returns no records and first == next ==
// offset. Frames wholly below offset are skipped without a CRC check.
//
// A bad frame met after records were taken ends the batch early with no
// error: the checked records before it are served, and the next read, which
// starts at the bad frame, gets the error naming that frame's offset.
func (v *View) Read(buf []byte, offset uint64, maxBytes int) (data []byte, first, next uint64, err error) {
	if v.released {
		return nil, 0, 0, fmt.Errorf("%w: read from a released view", ErrClosed)
	}
	first, next = offset, offset
	chunk := min(max(maxBytes, minReadChunk), maxReadChunk)
	buf = buf[:cap(buf)]
	if need := int(min(int64(chunk), max(v.end-v.start, HeaderSize))); len(buf) < need {
		buf = make([]byte, need)
	}
	out := 0       // buf[:out] holds the checked records to return, first to next
	rs, re := 0, 0 // buf[rs:re] holds unread file bytes from pos
	pos := v.start
	haveExpect := false
	var expect uint64
	// fail ends the read at the frame at pos. Records already taken were
	// checked and precede it: serve them, and let the next read, which
	// starts at this frame, report err.
	fail := func(err error) ([]byte, uint64, uint64, error) {
		if out > 0 {
			return buf[:out], first, next, nil
		}
		return nil, offset, offset, err
	}
	for pos < v.end {
		if re-rs < HeaderSize {
			if buf, rs, re, err = v.fill(buf, out, rs, re, pos, HeaderSize, chunk); err != nil {
				return fail(err)
			}
		}
		h, err := parseHeader(buf[rs:re], v.maxFrame)
		if err != nil {
			return fail(fmt.Errorf("%w: %s: header: %w", ErrCorrupt, v.frameAt(pos, haveExpect, expect, offset), err))
		}
		size := h.Size()
		switch {
		case haveExpect && h.Base != expect:
			return fail(fmt.Errorf("%w: frame at offset %d (position %d) says offset %d", ErrCorrupt, expect, pos, h.Base))
		case !haveExpect && v.start == 0 && h.Base != v.base:
			return fail(fmt.Errorf("%w: frame at offset %d (position 0) says offset %d", ErrCorrupt, v.base, h.Base))
		case pos+size > v.end:
			return fail(fmt.Errorf("%w: frame at offset %d (position %d) runs past the end %d", ErrCorrupt, h.Base, pos, v.end))
		case !haveExpect && h.Base > offset:
			// A damaged base, or a caller's view that starts too late.
			if int64(re-rs) < size {
				if buf, rs, re, err = v.fill(buf, out, rs, re, pos, int(size), chunk); err != nil {
					return fail(err)
				}
			}
			if _, err := CheckFrame(buf[rs : rs+int(size)]); err != nil {
				return fail(fmt.Errorf("%w: frame at position %d (reading offset %d): %w", ErrCorrupt, pos, offset, err))
			}
			return fail(fmt.Errorf("%w: offset %d is before the view's first frame %d", ErrOutOfRange, offset, h.Base))
		}
		haveExpect, expect = true, h.Next()
		if h.Next() <= offset {
			if int64(re-rs) >= size {
				rs += int(size)
			} else {
				rs, re = out, out
			}
			pos += size
			continue
		}
		if int64(re-rs) < size {
			if buf, rs, re, err = v.fill(buf, out, rs, re, pos, int(size), chunk); err != nil {
				return fail(err)
			}
		}
		if _, err := CheckFrame(buf[rs : rs+int(size)]); err != nil {
			return fail(fmt.Errorf("%w: frame at offset %d (position %d): %w", ErrCorrupt, h.Base, pos, err))
		}
		// The records taken from this frame are one run [from, to) of buf,
		// moved down to out in one copy (out <= from: a forward move). They
		// count (first, next) only once the whole frame checks out.
		p, end := rs+HeaderSize, rs+int(size)
		from, took := p, 0
		frameFirst, frameNext := first, next
		done := false
		i := uint32(0)
		for p < end {
			n, at, err := splitRecord(buf[p:end])
			if err != nil {
				return fail(fmt.Errorf("%w: frame at offset %d (position %d): record %d: %w", ErrCorrupt, h.Base, pos, i, err))
			}
			o, _ := getOffset(buf[p+at:])
			if o != h.Base+uint64(i) {
				return fail(fmt.Errorf("%w: frame at offset %d (position %d): record %d has offset %d", ErrCorrupt, h.Base, pos, i, o))
			}
			i++
			switch {
			case o < offset:
				from = p + n
			case out+took > 0 && out+took+n > maxBytes:
				done = true
			default:
				if out+took == 0 {
					frameFirst = o
				}
				took += n
				frameNext = o + 1
			}
			if done {
				break
			}
			p += n
		}
		if !done && i != h.Count {
			return fail(fmt.Errorf("%w: frame at offset %d (position %d) holds %d records, header says %d", ErrCorrupt, h.Base, pos, i, h.Count))
		}
		if took > 0 {
			out += copy(buf[out:], buf[from:from+took])
		}
		first, next = frameFirst, frameNext
		rs += int(size)
		pos += size
		if done || out >= maxBytes {
			break
		}
	}
	return buf[:out], first, next, nil
}

// frameAt names the frame at pos for an error: by the offset it must hold when
// that is known (the frame after a good one, or the first of the segment).
func (v *View) frameAt(pos int64, haveExpect bool, expect, reading uint64) string {
	switch {
	case haveExpect:
		return fmt.Sprintf("frame at offset %d (position %d)", expect, pos)
	case pos == 0:
		return fmt.Sprintf("frame at offset %d (position 0)", v.base)
	}
	return fmt.Sprintf("frame at position %d (reading offset %d)", pos, reading)
}

// fill moves the unread bytes buf[rs:re] down to out and reads more from the
// file until at least need unread bytes are held, reading at least chunk
// bytes when the view has them.
func (v *View) fill(buf []byte, out, rs, re int, pos int64, need, chunk int) ([]byte, int, int, error) {
	have := re - rs
	if rs != out {
		copy(buf[out:], buf[rs:re])
		rs, re = out, out+have
	}
	left := v.end - (pos + int64(have))
	n := int(min(int64(max(need-have, chunk)), left))
	if n < need-have {
		return buf, rs, re, fmt.Errorf("%w: position %d: need %d bytes, the view ends at %d", ErrCorrupt, pos, need, v.end)
	}
	if re+n > len(buf) {
		grown := make([]byte, max(re+n, 2*len(buf)))
		copy(grown, buf[:re])
		buf = grown
	}
	m, err := v.f.ReadAt(buf[re:re+n], pos+int64(have))
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: file ends before the view's end %d", io.ErrUnexpectedEOF, v.end)
		}
		return buf, rs, re, fmt.Errorf("segment: read at %d: %w", pos+int64(have), err)
	}
	return buf, rs, re + n, nil
}
