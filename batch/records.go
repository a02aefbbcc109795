package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// RecordHeader is one application header of a record. Value nil is null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// Record is one decoded record. Key, Value and header values alias the batch
// (or the decompressed buffer); nil means null, which is distinct from empty.
// Header keys are strings of their own, so they outlive the buffers.
type Record struct {
	Offset      uint64 // base offset + offset delta
	TimestampMs int64  // first timestamp + delta; MaxTimestamp for log-append-time batches
	Key, Value  []byte
	Headers     []RecordHeader
}

// ErrMalformed reports records that do not decode: what Iter returns for a
// batch whose header was fine but whose records (or compressed block) are not.
var ErrMalformed = errors.New("batch: malformed records")

// The records are written and read here by hand with encoding/binary varints
// rather than with kmsg.Record.AppendTo and UnsafeReadFrom: kmsg.Record needs
// its Length computed by the caller, holds header keys as strings (a copy
// per header on every encode), and reads leniently (any negative length is
// null, a null header key is empty, bytes left inside a record are ignored),
// which Validate must refuse. The tests check this code against kmsg and the
// benchmarks compare the two (BenchmarkRecordKmsg*).

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int64) int {
	u := uint64(v)<<1 ^ uint64(v>>63)
	return (bits.Len64(u|1) + 6) / 7
}

// bytesLen is the size of b as a varint length (-1 for null) and its bytes.
func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// bodySize is a record's size after its length varint.
func bodySize(key, value []byte, headers []RecordHeader, timestampDelta int64, offsetDelta int32) int {
	n := 1 + varintLen(timestampDelta) + varintLen(int64(offsetDelta)) +
		bytesLen(key) + bytesLen(value) + varintLen(int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

// RecordSize is the exact encoded size of a record, its length varint
// included, for presizing buffers and checking limits before encoding.
func RecordSize(key, value []byte, headers []RecordHeader, timestampDelta int64, offsetDelta int32) int {
	n := bodySize(key, value, headers, timestampDelta, offsetDelta)
	return varintLen(int64(n)) + n
}

// appendBytes appends b with its varint length, -1 for null.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return append(dst, 1) // zig-zag -1
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// appendRecord appends one record whose body (bodySize) is body bytes.
func appendRecord(dst []byte, body int, key, value []byte, headers []RecordHeader, timestampDelta int64, offsetDelta int32) []byte {
	dst = binary.AppendVarint(dst, int64(body))
	dst = append(dst, 0) // attributes: unused in v2
	dst = binary.AppendVarint(dst, timestampDelta)
	dst = binary.AppendVarint(dst, int64(offsetDelta))
	dst = appendBytes(dst, key)
	dst = appendBytes(dst, value)
	dst = binary.AppendVarint(dst, int64(len(headers)))
	for i := range headers {
		h := &headers[i]
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// rawRecord is a record as read from its bytes, before the batch's base
// offset and timestamps are applied and before its headers are unpacked.
type rawRecord struct {
	timestampDelta int64
	offsetDelta    int32
	key, value     []byte
	numHeaders     int
	headers        []byte // the encoded headers, checked by readRecord
}

// reader walks varints over a byte slice. Its methods report failure by
// returning ok false; they never read past the slice.
type reader struct {
	b   []byte
	pos int
}

// uvarint reads an unsigned varint of at most max bytes (5 for Kafka's
// varint, 10 for its varlong), refusing longer encodings as Kafka does.
func (r *reader) uvarint(max int) (uint64, bool) {
	// Fast paths: in a batch of small records most varints take one or
	// two bytes.
	if b := r.b[r.pos:]; len(b) > 1 {
		if b[0] < 0x80 {
			r.pos++
			return uint64(b[0]), true
		}
		if b[1] < 0x80 {
			r.pos += 2
			return uint64(b[0]&0x7f) | uint64(b[1])<<7, true
		}
	}
	var v uint64
	for i := 0; i < max; i++ {
		if r.pos >= len(r.b) {
			return 0, false
		}
		c := r.b[r.pos]
		r.pos++
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if i == 9 && c > 1 {
				return 0, false // past 64 bits
			}
			return v, true
		}
	}
	return 0, false
}

// varint32 reads a zig-zag varint that must fit an int32.
func (r *reader) varint32() (int32, bool) {
	u, ok := r.uvarint(5)
	v := int64(u>>1) ^ -int64(u&1)
	if !ok || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return int32(v), true
}

// varint64 reads a zig-zag varlong.
func (r *reader) varint64() (int64, bool) {
	u, ok := r.uvarint(10)
	return int64(u>>1) ^ -int64(u&1), ok
}

// bytes reads a varint length and that many bytes; -1 is null. nullable
// false refuses null (header keys).
func (r *reader) bytes(what string, nullable bool) ([]byte, error) {
	n, ok := r.varint32()
	switch {
	case !ok:
		return nil, fmt.Errorf("%s length: bad varint", what)
	case n == -1 && nullable:
		return nil, nil
	case n < 0:
		return nil, fmt.Errorf("%s length %d", what, n)
	case n > int32(len(r.b)-r.pos):
		return nil, fmt.Errorf("%s length %d, %d bytes left in the record", what, n, len(r.b)-r.pos)
	}
	b := r.b[r.pos : r.pos+int(n) : r.pos+int(n)]
	r.pos += int(n)
	return b, nil
}

// readRecord reads the record at the start of b into rr and returns its
// encoded size, length varint included. It checks everything the record
// holds, headers too, and that the record's bytes are exactly its length.
// Its errors describe the fault; callers wrap them with their sentinel.
func readRecord(b []byte, rr *rawRecord) (int, error) {
	r := reader{b: b}
	n, ok := r.varint32()
	switch {
	case !ok:
		return 0, errors.New("record length: bad varint")
	case n < 1:
		return 0, fmt.Errorf("record length %d", n)
	case n > int32(len(b)-r.pos):
		return 0, fmt.Errorf("record length %d, %d bytes left", n, len(b)-r.pos)
	}
	size := r.pos + int(n)
	r.b = b[:size]
	r.pos++ // attributes: unused in v2, any value is read past as Kafka does
	var err error
	if rr.timestampDelta, ok = r.varint64(); !ok {
		return 0, errors.New("timestamp delta: bad varint")
	}
	if rr.offsetDelta, ok = r.varint32(); !ok {
		return 0, errors.New("offset delta: bad varint")
	}
	if rr.key, err = r.bytes("key", true); err != nil {
		return 0, err
	}
	if rr.value, err = r.bytes("value", true); err != nil {
		return 0, err
	}
	nh, ok := r.varint32()
	switch {
	case !ok:
		return 0, errors.New("header count: bad varint")
	case nh < 0 || int(nh) > (size-r.pos)/2: // a header takes at least 2 bytes
		return 0, fmt.Errorf("header count %d with %d bytes left in the record", nh, size-r.pos)
	}
	rr.numHeaders = int(nh)
	start := r.pos
	for i := 0; i < int(nh); i++ {
		if _, err := r.bytes("header key", false); err != nil {
			return 0, fmt.Errorf("header %d: %w", i, err)
		}
		if _, err := r.bytes("header value", true); err != nil {
			return 0, fmt.Errorf("header %d: %w", i, err)
		}
	}
	rr.headers = b[start:r.pos:r.pos]
	if r.pos != size {
		return 0, fmt.Errorf("record of length %d has %d bytes after its headers", n, size-r.pos)
	}
	return size, nil
}

// unpackHeaders decodes n headers that readRecord checked into dst. The keys
// share one string, a copy of the encoded headers: one allocation a record.
func unpackHeaders(dst []RecordHeader, enc []byte, n int) []RecordHeader {
	dst = dst[:0]
	keys := string(enc)
	r := reader{b: enc}
	for i := 0; i < n; i++ {
		kl, _ := r.varint32()
		k := keys[r.pos : r.pos+int(kl)]
		r.pos += int(kl)
		v, _ := r.bytes("", true)
		dst = append(dst, RecordHeader{Key: k, Value: v})
	}
	return dst
}
