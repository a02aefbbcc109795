package batch

import (
	"errors"
	"fmt"
)

// DefaultLimit bounds the decompressed records of one batch in an Iter whose
// Limit is 0.
const DefaultLimit = 64 << 20

// Iter walks the records of one batch whose header and CRC were checked,
// decompressing when the batch is compressed. It still checks every record
// it reads and never reads outside the batch, so damaged bytes give an
// error wrapping ErrMalformed, never a panic. Reusable; it keeps its
// decompression buffer from batch to batch. Not safe for concurrent use.
type Iter struct {
	// Limit bounds a batch's decompressed records in bytes; 0 means
	// DefaultLimit. Batches that passed Validate stay under its
	// maxBatchBytes, so that is the natural value.
	Limit int

	h    Header
	recs []byte // records not read yet
	buf  []byte // decompressed records, kept for the next batch
	read int32  // records read
	last int32  // offset delta of the last record read or skipped, -1 before
	err  error
	rr   rawRecord
}

// Reset starts on b, which must be exactly one whole batch. It decompresses
// the records when the batch is compressed. Its errors wrap ErrMalformed.
func (it *Iter) Reset(b []byte) error {
	it.recs, it.read, it.last, it.err = nil, 0, -1, nil
	h, err := ParseHeader(b, len(b))
	it.h = h
	if err != nil {
		it.err = fmt.Errorf("%w: %w", ErrMalformed, err)
		return it.err
	}
	if h.Size() != int64(len(b)) {
		it.err = fmt.Errorf("%w: batch at offset %d of %d bytes given %d", ErrMalformed, h.BaseOffset, h.Size(), len(b))
		return it.err
	}
	it.recs = b[HeaderSize:]
	if c := h.Compression(); c != None {
		limit := it.Limit
		if limit <= 0 {
			limit = DefaultLimit
		}
		it.buf, err = decompress(it.buf[:0], c, it.recs, limit)
		if err != nil {
			it.recs = nil
			it.err = fmt.Errorf("%w: batch at offset %d: %v", ErrMalformed, h.BaseOffset, err)
			return it.err
		}
		it.recs = it.buf
	}
	return nil
}

// Header is the header of the batch given to Reset.
func (it *Iter) Header() Header { return it.h }

// Next reads the next record into r. It returns false at the end of the
// batch or on a malformed record; Err then says which. Offsets rise
// strictly within a batch; a record out of order is malformed. r's Key, Value and
// header values alias the batch or the Iter's buffer (valid until the next
// Reset); r.Headers reuses its backing array.
func (it *Iter) Next(r *Record) bool {
	if it.err != nil {
		return false
	}
	if it.read == it.h.NumRecords {
		if len(it.recs) != 0 {
			it.fail(fmt.Errorf("%d bytes after the last record", len(it.recs)))
		}
		return false
	}
	if len(it.recs) == 0 {
		it.fail(errors.New("records end before the header's count"))
		return false
	}
	rr := &it.rr
	n, err := readRecord(it.recs, rr)
	if err != nil {
		it.fail(err)
		return false
	}
	if rr.offsetDelta <= it.last || rr.offsetDelta > it.h.LastOffsetDelta {
		it.fail(fmt.Errorf("offset delta %d after %d, in a batch of deltas up to %d", rr.offsetDelta, it.last, it.h.LastOffsetDelta))
		return false
	}
	it.last = rr.offsetDelta
	it.recs = it.recs[n:]
	it.read++
	r.Offset = it.h.BaseOffset + uint64(rr.offsetDelta)
	if it.h.LogAppendTime() {
		r.TimestampMs = it.h.MaxTimestamp
	} else {
		r.TimestampMs = it.h.FirstTimestamp + rr.timestampDelta
	}
	r.Key, r.Value = rr.key, rr.value
	if rr.numHeaders > 0 {
		r.Headers = unpackHeaders(r.Headers, rr.headers, rr.numHeaders)
	} else {
		r.Headers = r.Headers[:0]
	}
	return true
}

// SkipTo passes over the records before offset without decoding them, so
// that Next returns the first record at or after it. A read that starts in
// the middle of a batch costs a few varints per skipped record.
func (it *Iter) SkipTo(offset uint64) {
	for it.err == nil && it.read < it.h.NumRecords && len(it.recs) > 0 {
		r := reader{b: it.recs}
		n, ok := r.varint32()
		if !ok || n < 1 || n > int32(len(it.recs)-r.pos) {
			return // Next reports it
		}
		size := r.pos + int(n)
		r.b = it.recs[:size]
		r.pos++ // attributes
		if _, ok = r.varint64(); !ok {
			return
		}
		delta, ok := r.varint32()
		if !ok || delta <= it.last || it.h.BaseOffset+uint64(delta) >= offset {
			return
		}
		it.recs = it.recs[size:]
		it.read++
		it.last = delta
	}
}

// Err is what ended the walk early, nil at a clean end.
func (it *Iter) Err() error { return it.err }

func (it *Iter) fail(err error) {
	it.err = fmt.Errorf("%w: batch at offset %d, record %d of %d: %v", ErrMalformed, it.h.BaseOffset, it.read, it.h.NumRecords, err)
}
