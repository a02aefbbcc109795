package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/logbroker/logbroker/vfs"
)

// reader is the one walk over stored frames, used by recovery, index
// rebuilds, lookups and reads. It reads [.., end) of a file through a window
// in buf, so that a walk costs one ReadAt per chunk, not one per frame.
//
// buf[:kept] holds the frames a read took (take), which the window never
// overwrites; the window buf[ws:we] holds the file's bytes from wpos. When
// frames are taken in file order with nothing skipped between them, they are
// already in place and take copies nothing.
type reader struct {
	f        vfs.File
	fm       *format
	end      int64 // the walk never reads at or past end
	maxFrame int
	chunk    int // bytes to read at least per ReadAt, when the file has them

	buf    []byte
	kept   int
	ws, we int
	wpos   int64
}

func newReader(f vfs.File, fm *format, end int64, maxFrame, chunk int, buf []byte) *reader {
	return &reader{f: f, fm: fm, end: end, maxFrame: maxFrame, chunk: chunk, buf: buf[:cap(buf)]}
}

// bytes returns the file's bytes [at, at+n), reading them into the window if
// they are not there. The slice is valid until the next call. Bytes past end
// wrap ErrTorn.
func (r *reader) bytes(at, n int64) ([]byte, error) {
	if at+n > r.end {
		return nil, fmt.Errorf("%w: %d bytes at %d, the data ends at %d", ErrTorn, n, at, r.end)
	}
	if at >= r.wpos && at+n <= r.wpos+int64(r.we-r.ws) {
		i := r.ws + int(at-r.wpos)
		return r.buf[i : i+int(n)], nil
	}
	want := min(max(n, int64(r.chunk)), r.end-at)
	if need := r.kept + int(want); need > len(r.buf) {
		grown := make([]byte, max(need, 2*len(r.buf)))
		copy(grown, r.buf[:r.kept])
		r.buf = grown
	}
	r.ws, r.we, r.wpos = r.kept, r.kept, at
	m, err := r.f.ReadAt(r.buf[r.ws:r.ws+int(want)], at)
	if int64(m) < want {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: file ends before %d", io.ErrUnexpectedEOF, at+want)
		}
		return nil, fmt.Errorf("segment: read at %d: %w", at, err)
	}
	r.we = r.ws + int(want)
	return r.buf[r.ws : r.ws+int(n)], nil
}

// header parses the frame header at at. Faults wrap ErrTorn.
func (r *reader) header(at int64) (frameInfo, error) {
	b, err := r.bytes(at, int64(r.fm.headerSize))
	if err != nil {
		return frameInfo{}, err
	}
	h, err := r.fm.parse(b, r.maxFrame)
	if err != nil {
		return h, fmt.Errorf("at %d: %w", at, err)
	}
	if at+h.size > r.end {
		return h, fmt.Errorf("%w: frame at %d runs past the end %d", ErrTorn, at, r.end)
	}
	return h, nil
}

// frame returns the whole frame at at, whose header is h, with its checksum
// verified: ErrCorrupt on a mismatch.
func (r *reader) frame(at int64, h frameInfo) ([]byte, error) {
	b, err := r.bytes(at, h.size)
	if err != nil {
		return nil, err
	}
	if err := r.fm.check(b, r.maxFrame); err != nil {
		return nil, fmt.Errorf("at %d: %w", at, err)
	}
	return b, nil
}

// take keeps the frame at [at, at+size), which the last frame call returned,
// after the frames already kept.
func (r *reader) take(at, size int64) {
	i := r.ws + int(at-r.wpos)
	if i != r.kept {
		copy(r.buf[r.kept:], r.buf[i:i+int(size)])
	}
	r.kept += int(size)
	// The window now starts after the taken frame; bytes before it are spent.
	// The copy wrote below i+size only, so the window after the frame holds.
	r.ws, r.wpos = i+int(size), at+size
}

// walk reads frames from pos whose bases continue from next, calling fn for
// each good one. It returns where the good frames end and the offset after
// them; err wraps ErrTorn (or ErrCorrupt for a checksum mismatch) when it
// stopped before end. With verify, a frame whose checksum fails but whose
// header holds and which a good frame follows is passed to fn as damaged,
// and the walk goes on: damage to written data, not a torn end.
func (r *reader) walk(pos int64, next uint64, verify bool, fn func(pos int64, h frameInfo, damaged bool)) (int64, uint64, error) {
	// at reads the frame at at, which must have base base.
	at := func(at int64, base uint64) (frameInfo, error) {
		h, err := r.header(at)
		if err != nil {
			return h, err
		}
		if h.base != base {
			return h, fmt.Errorf("%w: frame at %d has base %d, want %d", ErrTorn, at, h.base, base)
		}
		if verify {
			_, err = r.frame(at, h)
		}
		return h, err
	}
	for pos < r.end {
		h, err := at(pos, next)
		damaged := false
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				return pos, next, err
			}
			if _, gerr := at(pos+h.size, h.next); gerr != nil {
				return pos, next, err
			}
			damaged = true
		}
		fn(pos, h, damaged)
		pos += h.size
		next = h.next
	}
	return pos, next, nil
}
