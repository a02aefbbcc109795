package batch

import "encoding/binary"

// Builder builds one uncompressed batch, records appended one by one, on the
// producer's goroutine. Base offset 0, leader epoch 0, producer id -1, epoch
// -1, base sequence -1, attributes 0 (CreateTime, no compression). Reusable;
// not safe for concurrent use.
type Builder struct {
	buf     []byte
	n       int32
	firstTs int64
	maxTs   int64
}

// Reset starts a batch in buf[:0], growing it as needed, with HeaderSize
// bytes reserved for the header.
func (b *Builder) Reset(buf []byte) {
	if cap(buf) < HeaderSize {
		buf = make([]byte, 0, 4096)
	}
	b.buf = buf[:HeaderSize]
	b.n = 0
}

// Add appends one record and returns its encoded size, length varint
// included. The first record's timestamp is the batch's first timestamp and
// later ones are written as deltas from it, which may be negative.
func (b *Builder) Add(key, value []byte, headers []RecordHeader, timestampMs int64) int {
	if b.n == 0 {
		b.firstTs, b.maxTs = timestampMs, timestampMs
		if b.buf == nil {
			b.Reset(nil)
		}
	}
	if timestampMs > b.maxTs {
		b.maxTs = timestampMs
	}
	delta := timestampMs - b.firstTs
	body := bodySize(key, value, headers, delta, b.n)
	before := len(b.buf)
	b.buf = appendRecord(b.buf, body, key, value, headers, delta, b.n)
	b.n++
	return len(b.buf) - before
}

// Len is the number of records added since Reset.
func (b *Builder) Len() int { return int(b.n) }

// Finish fills the header (length, last offset delta, first timestamp = the
// first record's, max timestamp, record count, CRC) and returns the whole
// batch, which aliases the buffer given to Reset when it was big enough. At
// least one record must have been added.
func (b *Builder) Finish() []byte {
	if b.n == 0 {
		panic("batch: Finish of a batch with no records")
	}
	h := b.buf[:HeaderSize]
	be := binary.BigEndian
	be.PutUint64(h[offBaseOffset:], 0)
	be.PutUint32(h[offLength:], uint32(len(b.buf)-offLeaderEpoch))
	be.PutUint32(h[offLeaderEpoch:], 0)
	h[offMagic] = Magic
	be.PutUint16(h[offAttributes:], 0)
	be.PutUint32(h[offLastOffsetDelta:], uint32(b.n-1))
	be.PutUint64(h[offFirstTimestamp:], uint64(b.firstTs))
	be.PutUint64(h[offMaxTimestamp:], uint64(b.maxTs))
	be.PutUint64(h[offProducerID:], ^uint64(0))
	be.PutUint16(h[offProducerEpoch:], ^uint16(0))
	be.PutUint32(h[offBaseSequence:], ^uint32(0))
	be.PutUint32(h[offNumRecords:], uint32(b.n))
	SetCRC(b.buf)
	return b.buf
}
