package server

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/partition"
)

// cursor walks the records of one read's stored batches from its first
// offset, and encodes them as EntryBatch.entries fields. A read's batches
// may hold far more than one message may carry (a small max_bytes inside a
// large batch): the stream sends them over several messages from the one
// cursor, never reading or decoding a batch twice.
type cursor struct {
	data    []byte // batches not yet opened
	from    uint64 // records below it are skipped
	it      batch.Iter
	open    bool // it holds a batch
	rec     batch.Record
	pending bool // rec is decoded and not yet encoded
}

// reset starts the cursor on b's batches.
func (c *cursor) reset(b partition.Batch) {
	c.data, c.from, c.open, c.pending = b.Data, b.First, false, false
}

// next decodes the next record at or past from into c.rec; false when the
// batches are done.
func (c *cursor) next() (bool, error) {
	for {
		if c.open {
			if c.it.Next(&c.rec) {
				if c.rec.Offset < c.from {
					continue
				}
				return true, nil
			}
			if err := c.it.Err(); err != nil {
				return false, err
			}
			c.open = false
		}
		if len(c.data) == 0 {
			return false, nil
		}
		h, err := batch.ParseHeader(c.data, len(c.data))
		if err != nil {
			return false, err
		}
		if err := c.it.Reset(c.data[:h.Size()]); err != nil {
			return false, err
		}
		c.data = c.data[h.Size():]
		c.open = true
	}
}

// empty reports that no record is left.
func (c *cursor) empty() (bool, error) {
	if c.pending {
		return false, nil
	}
	ok, err := c.next()
	c.pending = ok
	return !ok, err
}

// fill appends records as EntryBatch.entries fields to dst while dst stays
// within maxBytes, but at least one. It returns dst, the number of records
// and the offset after the last.
func (c *cursor) fill(dst []byte, maxBytes int) ([]byte, int, uint64, error) {
	n := 0
	var next uint64
	for {
		if !c.pending {
			ok, err := c.next()
			if err != nil {
				return dst, n, next, err
			}
			if !ok {
				return dst, n, next, nil
			}
			c.pending = true
		}
		size := entrySize(&c.rec)
		field := 1 + protowire.SizeVarint(uint64(size)) + size
		if n > 0 && len(dst)+field > maxBytes {
			return dst, n, next, nil
		}
		dst = appendEntry(dst, &c.rec, size)
		c.pending = false
		n++
		next = c.rec.Offset + 1
		c.from = next
	}
}

// LogEntry field tags (field<<3 | wire type).
const (
	tagEntry     = 0x0a // EntryBatch.entries
	tagOffset    = 0x08
	tagKey       = 0x12
	tagValue     = 0x1a
	tagHeader    = 0x22
	tagTimestamp = 0x28
	tagHdrKey    = 0x0a
	tagHdrValue  = 0x12
)

// bytesFieldSize is a length-delimited field of n bytes with its tag.
func bytesFieldSize(n int) int { return 1 + protowire.SizeVarint(uint64(n)) + n }

func headerSize(h *batch.RecordHeader) int {
	n := 0
	if len(h.Key) > 0 {
		n += bytesFieldSize(len(h.Key))
	}
	if h.Value != nil {
		n += bytesFieldSize(len(h.Value))
	}
	return n
}

// entrySize is the size of r's LogEntry encoding. Null keys, values and
// header values are left out; empty ones are sent as present and empty, so
// a client that tracks presence tells them apart.
func entrySize(r *batch.Record) int {
	n := 1 + protowire.SizeVarint(r.Offset)
	if r.Key != nil {
		n += bytesFieldSize(len(r.Key))
	}
	if r.Value != nil {
		n += bytesFieldSize(len(r.Value))
	}
	for i := range r.Headers {
		n += bytesFieldSize(headerSize(&r.Headers[i]))
	}
	if r.TimestampMs != 0 {
		n += 1 + protowire.SizeVarint(uint64(r.TimestampMs))
	}
	return n
}

func appendBytesField(dst []byte, tag byte, b []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendEntry appends r as one EntryBatch.entries field; size is entrySize(r).
func appendEntry(dst []byte, r *batch.Record, size int) []byte {
	dst = append(dst, tagEntry)
	dst = binary.AppendUvarint(dst, uint64(size))
	dst = append(dst, tagOffset)
	dst = binary.AppendUvarint(dst, r.Offset)
	if r.Key != nil {
		dst = appendBytesField(dst, tagKey, r.Key)
	}
	if r.Value != nil {
		dst = appendBytesField(dst, tagValue, r.Value)
	}
	for i := range r.Headers {
		h := &r.Headers[i]
		dst = append(dst, tagHeader)
		dst = binary.AppendUvarint(dst, uint64(headerSize(h)))
		if len(h.Key) > 0 {
			dst = append(dst, tagHdrKey)
			dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
			dst = append(dst, h.Key...)
		}
		if h.Value != nil {
			dst = appendBytesField(dst, tagHdrValue, h.Value)
		}
	}
	if r.TimestampMs != 0 {
		dst = append(dst, tagTimestamp)
		dst = binary.AppendUvarint(dst, uint64(r.TimestampMs))
	}
	return dst
}

// errStoredBatch names a stored batch the server could not decode: its
// checksum held, so it is not damage on disk but bytes that were never a
// valid batch.
func errStoredBatch(b partition.Batch, err error) error {
	return fmt.Errorf("server: stored batches from offset %d: %w", b.First, err)
}
