package segment

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// legacyHeader is one application header of a record.
type legacyHeader struct {
	Key   string
	Value []byte
}

// legacyRecord is a decoded record. Key, Value and header values alias the bytes it
// was decoded from.
type legacyRecord struct {
	Offset      uint64
	Key         []byte
	Value       []byte
	Headers     []legacyHeader
	TimestampMs int64
}

// legacyMaxOffset is the largest offset the fixed-width offset field can hold.
const legacyMaxOffset = 1<<56 - 1

// Protobuf tags (field<<3 | wire type) of EntryBatch.entries and LogEntry fields.
const (
	tagEntry     = 0x0a // EntryBatch.entries, bytes
	tagOffset    = 0x08 // LogEntry.offset, varint
	tagKey       = 0x12 // LogEntry.key, bytes
	tagValue     = 0x1a // LogEntry.value, bytes
	tagHeader    = 0x22 // LogEntry.headers, bytes
	tagTimestamp = 0x28 // LogEntry.timestamp_ms, varint
	tagHdrKey    = 0x0a // legacyHeader.key, bytes
	tagHdrValue  = 0x12 // legacyHeader.value, bytes

	offsetFieldLen = 9 // tag + 8-byte non-minimal varint
	minRecordLen   = 2 + offsetFieldLen
)

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func headerBodySize(h legacyHeader) int {
	return 1 + uvarintLen(uint64(len(h.Key))) + len(h.Key) +
		1 + uvarintLen(uint64(len(h.Value))) + len(h.Value)
}

func entryBodySize(key, value []byte, headers []legacyHeader, timestampMs int64) int {
	n := offsetFieldLen
	if len(key) > 0 {
		n += 1 + uvarintLen(uint64(len(key))) + len(key)
	}
	if len(value) > 0 {
		n += 1 + uvarintLen(uint64(len(value))) + len(value)
	}
	for _, h := range headers {
		hn := headerBodySize(h)
		n += 1 + uvarintLen(uint64(hn)) + hn
	}
	if timestampMs != 0 {
		n += 1 + uvarintLen(uint64(timestampMs))
	}
	return n
}

// legacyRecordSize is the exact size appendLegacyRecord adds, for presizing buffers.
func legacyRecordSize(key, value []byte, headers []legacyHeader, timestampMs int64) int {
	n := entryBodySize(key, value, headers, timestampMs)
	return 1 + uvarintLen(uint64(n)) + n
}

func appendBytesField(dst []byte, tag byte, b []byte) []byte {
	dst = append(dst, tag)
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendLegacyRecord appends one encoded record with offset placeholder 0.
func appendLegacyRecord(dst []byte, key, value []byte, headers []legacyHeader, timestampMs int64) []byte {
	n := entryBodySize(key, value, headers, timestampMs)
	dst = slices.Grow(dst, 1+uvarintLen(uint64(n))+n)
	dst = append(dst, tagEntry)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, tagOffset, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)
	if len(key) > 0 {
		dst = appendBytesField(dst, tagKey, key)
	}
	if len(value) > 0 {
		dst = appendBytesField(dst, tagValue, value)
	}
	for _, h := range headers {
		dst = append(dst, tagHeader)
		dst = binary.AppendUvarint(dst, uint64(headerBodySize(h)))
		dst = append(dst, tagHdrKey)
		dst = binary.AppendUvarint(dst, uint64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytesField(dst, tagHdrValue, h.Value)
	}
	if timestampMs != 0 {
		dst = append(dst, tagTimestamp)
		dst = binary.AppendUvarint(dst, uint64(timestampMs))
	}
	return dst
}

// putOffset writes o as the fixed 8-byte varint: 7 bits per byte, the
// continuation bit set on the first seven. The bit groups are spread in
// three constant steps (28-, 14-, 7-bit lanes) instead of a byte loop.
func putOffset(b []byte, o uint64) {
	x := o & legacyMaxOffset
	x = x&0x000000000fffffff | (x&0x00fffffff0000000)<<4
	x = x&0x00003fff00003fff | (x&0x0fffc0000fffc000)<<2
	x = x&0x007f007f007f007f | (x&0x3f803f803f803f80)<<1
	binary.LittleEndian.PutUint64(b, x|offsetContBits)
}

// offsetContBits are the continuation bits of the fixed 8-byte varint.
const offsetContBits = 0x0080808080808080

// getOffset reads the fixed 8-byte varint; ok is false if b is not in that
// form. The inverse of putOffset's spreading.
func getOffset(b []byte) (uint64, bool) {
	x := binary.LittleEndian.Uint64(b)
	if x&0x8080808080808080 != offsetContBits {
		return 0, false
	}
	x &^= offsetContBits
	x = x&0x007f007f007f007f | (x&0x7f007f007f007f00)>>1
	x = x&0x00003fff00003fff | (x&0x3fff00003fff0000)>>2
	x = x&0x000000000fffffff | (x&0x0fffffff00000000)>>4
	return x, true
}

// splitRecord checks the envelope and offset field of the first record in p.
// It returns the record length and where its offset field's 8 bytes start.
func splitRecord(p []byte) (recLen, offAt int, err error) {
	if len(p) < minRecordLen {
		return 0, 0, fmt.Errorf("%w: %d bytes left, need at least %d", ErrMalformed, len(p), minRecordLen)
	}
	if p[0] != tagEntry {
		return 0, 0, fmt.Errorf("%w: tag 0x%02x, want 0x0a", ErrMalformed, p[0])
	}
	n, w := binary.Uvarint(p[1:])
	if w <= 0 {
		return 0, 0, fmt.Errorf("%w: bad length varint", ErrMalformed)
	}
	hdr := 1 + w
	if n < offsetFieldLen || n > uint64(len(p)-hdr) {
		return 0, 0, fmt.Errorf("%w: length %d with %d bytes left", ErrMalformed, n, len(p)-hdr)
	}
	if p[hdr] != tagOffset {
		return 0, 0, fmt.Errorf("%w: first field tag 0x%02x, want offset 0x08", ErrMalformed, p[hdr])
	}
	if _, ok := getOffset(p[hdr+1:]); !ok {
		return 0, 0, fmt.Errorf("%w: offset is not an 8-byte varint", ErrMalformed)
	}
	return hdr + int(n), hdr + 1, nil
}

// setLegacyOffsets walks the records in payload and writes base, base+1, ... into
// their offset fields; it returns the number of records.
func setLegacyOffsets(payload []byte, base uint64) (int, error) {
	count := 0
	for len(payload) > 0 {
		o := base + uint64(count)
		if o > legacyMaxOffset || o < base {
			return count, fmt.Errorf("%w: offset %d beyond %d", ErrMalformed, o, uint64(legacyMaxOffset))
		}
		n, at, err := splitRecord(payload)
		if err != nil {
			return count, fmt.Errorf("record %d: %w", count, err)
		}
		putOffset(payload[at:], o)
		payload = payload[n:]
		count++
	}
	return count, nil
}

// nextLegacyRecord splits the first record off payload: the record's full bytes
// (including 0x0a+len), its offset, and the rest. It checks the envelope and
// offset field only; decodeLegacyRecord checks the rest.
func nextLegacyRecord(payload []byte) (rec []byte, offset uint64, rest []byte, err error) {
	n, at, err := splitRecord(payload)
	if err != nil {
		return nil, 0, payload, err
	}
	offset, _ = getOffset(payload[at:])
	return payload[:n:n], offset, payload[n:], nil
}

// field reads a length-delimited field body at b[0:] after its tag.
func lenField(b []byte) (body, rest []byte, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return nil, nil, false
	}
	end := w + int(n)
	return b[w:end:end], b[end:], true
}

// decodeLegacyRecord decodes a record's fields; Key, Value and header values alias rec.
// It accepts exactly the field order appendLegacyRecord writes.
func decodeLegacyRecord(rec []byte) (legacyRecord, error) {
	n, at, err := splitRecord(rec)
	if err != nil {
		return legacyRecord{}, err
	}
	if n != len(rec) {
		return legacyRecord{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rec)-n)
	}
	var r legacyRecord
	r.Offset, _ = getOffset(rec[at:])
	b := rec[at+8:]
	bad := func(what string) (legacyRecord, error) {
		return legacyRecord{}, fmt.Errorf("%w: offset %d: bad %s", ErrMalformed, r.Offset, what)
	}
	var ok bool
	if len(b) > 0 && b[0] == tagKey {
		if r.Key, b, ok = lenField(b[1:]); !ok {
			return bad("key")
		}
	}
	if len(b) > 0 && b[0] == tagValue {
		if r.Value, b, ok = lenField(b[1:]); !ok {
			return bad("value")
		}
	}
	for len(b) > 0 && b[0] == tagHeader {
		var hb []byte
		if hb, b, ok = lenField(b[1:]); !ok {
			return bad("header")
		}
		var h legacyHeader
		if len(hb) > 0 && hb[0] == tagHdrKey {
			var k []byte
			if k, hb, ok = lenField(hb[1:]); !ok {
				return bad("header key")
			}
			h.Key = string(k)
		}
		if len(hb) > 0 && hb[0] == tagHdrValue {
			if h.Value, hb, ok = lenField(hb[1:]); !ok {
				return bad("header value")
			}
		}
		if len(hb) != 0 {
			return bad("header field")
		}
		r.Headers = append(r.Headers, h)
	}
	if len(b) > 0 && b[0] == tagTimestamp {
		v, w := binary.Uvarint(b[1:])
		if w <= 0 {
			return bad("timestamp")
		}
		r.TimestampMs = int64(v)
		b = b[1+w:]
	}
	if len(b) != 0 {
		return bad("field")
	}
	return r, nil
}
