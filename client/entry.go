package client

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// The wire format read here, from proto/broker.proto (field = number):
//
//	EntryBatch { repeated LogEntry entries = 1; }
//	LogEntry   { uint64 offset = 1; bytes key = 2; bytes value = 3;
//	             repeated Header headers = 4; int64 timestamp_ms = 5; }
//	Header     { string key = 1; bytes value = 2; }
//
// Any valid protobuf encoding is accepted, as proto.Unmarshal accepts it:
// fields in any order, the last of a repeated scalar wins, a known field
// with another wire type and unknown fields are skipped.

// Entry is one LogEntry read in place from its protobuf encoding, without a
// pb.LogEntry or a copy. Key, Value, Raw and the headers alias the bytes it
// was parsed from: they are valid as long as those bytes are (for a stream's
// Recv, until the next Recv). Copy what must outlive that, or call LogEntry.
type Entry struct {
	raw         []byte
	offset      uint64
	key, value  []byte
	timestampMs int64
	headers     int  // header fields seen, not yet decoded
	unknown     bool // fields that pb.LogEntry keeps as unknown
}

// ParseEntry reads one LogEntry encoding. Headers are only framed here and
// decoded by Headers; a malformed header shows there. Errors wrap
// ErrMalformed.
func ParseEntry(b []byte) (Entry, error) {
	var e Entry
	if err := e.parse(b); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// parse is ParseEntry in place, sparing Entries a copy of the struct.
func (e *Entry) parse(b []byte) error {
	*e = Entry{raw: b}
	for pos := 0; pos < len(b); {
		// The tags of fields 1 to 15 take one byte: reading them here
		// instead of in a call makes the walk about a fifth faster.
		var (
			num protowire.Number
			typ protowire.Type
			n   = 1
		)
		if c := b[pos]; c >= 1<<3 && c < 0x80 {
			num, typ = protowire.Number(c>>3), protowire.Type(c&7)
		} else if num, typ, n = consumeTag(b[pos:]); n < 0 {
			return malformed("LogEntry", pos, n)
		}
		pos += n
		switch {
		case num == 1 && typ == protowire.VarintType:
			e.offset, n = protowire.ConsumeVarint(b[pos:])
		case num == 2 && typ == protowire.BytesType:
			e.key, n = protowire.ConsumeBytes(b[pos:])
		case num == 3 && typ == protowire.BytesType:
			e.value, n = protowire.ConsumeBytes(b[pos:])
		case num == 4 && typ == protowire.BytesType:
			_, n = protowire.ConsumeBytes(b[pos:])
			e.headers++
		case num == 5 && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b[pos:])
			e.timestampMs = int64(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
			e.unknown = true
		}
		if n < 0 {
			return malformed("LogEntry", pos, n)
		}
		pos += n
	}
	return nil
}

// Offset is the entry's offset in its partition.
func (e Entry) Offset() uint64 { return e.offset }

// Key is the record's key.
func (e Entry) Key() []byte { return e.key }

// Value is the record's payload.
func (e Entry) Value() []byte { return e.value }

// TimestampMs is the record's time, milliseconds since the Unix epoch.
func (e Entry) TimestampMs() int64 { return e.timestampMs }

// NumHeaders is how many headers the entry carries.
func (e Entry) NumHeaders() int { return e.headers }

// Raw is the entry's protobuf encoding.
func (e Entry) Raw() []byte { return e.raw }

// Headers walks the entry's headers in order, decoding each on the way.
func (e Entry) Headers() HeaderIter {
	if e.headers == 0 {
		return HeaderIter{}
	}
	return HeaderIter{rest: e.raw}
}

// LogEntry copies the entry into a new pb.LogEntry that aliases nothing, the
// same message proto.Unmarshal would make of Raw. It fails (ErrMalformed)
// on a malformed header.
func (e Entry) LogEntry() (*pb.LogEntry, error) {
	if e.unknown {
		return e.unmarshal()
	}
	le := &pb.LogEntry{Offset: e.offset, TimestampMs: e.timestampMs}
	// Key and value share one allocation; their capacities end where they
	// do, so an append to one cannot write into the other.
	if n := len(e.key) + len(e.value); n > 0 {
		buf := make([]byte, 0, n)
		buf = append(buf, e.key...)
		buf = append(buf, e.value...)
		if len(e.key) > 0 {
			le.Key = buf[:len(e.key):len(e.key)]
		}
		if len(e.value) > 0 {
			le.Value = buf[len(e.key):]
		}
	}
	if e.headers == 0 {
		return le, nil
	}
	le.Headers = make([]*pb.Header, 0, e.headers)
	hs := make([]pb.Header, e.headers)
	it := e.Headers()
	for it.Next() {
		if it.unknown {
			return e.unmarshal() // keep its unknown fields as proto would
		}
		h := &hs[len(le.Headers)]
		h.Key = string(it.key)
		if len(it.value) > 0 {
			h.Value = append([]byte(nil), it.value...)
		}
		le.Headers = append(le.Headers, h)
	}
	if it.err != nil {
		return nil, it.err
	}
	return le, nil
}

// unmarshal is LogEntry's exact fallback for encodings with unknown fields.
func (e Entry) unmarshal() (*pb.LogEntry, error) {
	le := &pb.LogEntry{}
	if err := proto.Unmarshal(e.raw, le); err != nil {
		return nil, fmt.Errorf("%w: LogEntry at offset %d: %w", ErrMalformed, e.offset, err)
	}
	return le, nil
}

// HeaderIter walks an entry's headers:
//
//	for it := e.Headers(); it.Next(); {
//		use(it.Key(), it.Value())
//	}
//	if err := it.Err(); ...
//
// Key and Value alias the entry's bytes.
type HeaderIter struct {
	rest       []byte
	key, value []byte
	unknown    bool
	err        error
}

// Next moves to the next header; false at the end or on an error.
func (it *HeaderIter) Next() bool {
	for len(it.rest) > 0 && it.err == nil {
		num, typ, n := consumeTag(it.rest)
		if n < 0 {
			it.err = malformed("LogEntry", 0, n)
			return false
		}
		it.rest = it.rest[n:]
		if num != 4 || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, it.rest)
			if n < 0 {
				it.err = malformed("LogEntry", 0, n)
				return false
			}
			it.rest = it.rest[n:]
			continue
		}
		h, n := protowire.ConsumeBytes(it.rest)
		if n < 0 {
			it.err = malformed("LogEntry", 0, n)
			return false
		}
		it.rest = it.rest[n:]
		if it.err = it.parse(h); it.err != nil {
			return false
		}
		return true
	}
	return false
}

// parse reads one Header encoding into it.
func (it *HeaderIter) parse(b []byte) error {
	it.key, it.value, it.unknown = nil, nil, false
	for pos := 0; pos < len(b); {
		num, typ, n := consumeTag(b[pos:])
		if n < 0 {
			return malformed("Header", pos, n)
		}
		pos += n
		switch {
		case num == 1 && typ == protowire.BytesType:
			it.key, n = protowire.ConsumeBytes(b[pos:])
		case num == 2 && typ == protowire.BytesType:
			it.value, n = protowire.ConsumeBytes(b[pos:])
		default:
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
			it.unknown = true
		}
		if n < 0 {
			return malformed("Header", pos, n)
		}
		pos += n
	}
	if !utf8.Valid(it.key) { // a proto3 string, as proto.Unmarshal checks
		return fmt.Errorf("%w: Header key %q is not UTF-8", ErrMalformed, it.key)
	}
	return nil
}

// Key is the current header's key.
func (it *HeaderIter) Key() []byte { return it.key }

// Value is the current header's value.
func (it *HeaderIter) Value() []byte { return it.value }

// Err is the error that stopped Next, if any; it wraps ErrMalformed.
func (it *HeaderIter) Err() error { return it.err }

// Entries walks the entries of one EntryBatch encoding in order, with no
// allocation:
//
//	for it := client.NewEntries(b); it.Next(); {
//		e := it.Entry()
//		...
//	}
//	if err := it.Err(); ...
type Entries struct {
	b     []byte
	pos   int
	cur   Entry
	count int
	err   error
}

// NewEntries walks batch, an EntryBatch encoding; entries alias it.
func NewEntries(batch []byte) Entries { return Entries{b: batch} }

// Next moves to the next entry; false at the end or on malformed bytes.
func (it *Entries) Next() bool {
	for it.pos < len(it.b) && it.err == nil {
		num, typ, n := consumeTag(it.b[it.pos:])
		if n < 0 {
			it.err = malformed("EntryBatch", it.pos, n)
			return false
		}
		it.pos += n
		if num != 1 || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, it.b[it.pos:]); n < 0 {
				it.err = malformed("EntryBatch", it.pos, n)
				return false
			}
			it.pos += n
			continue
		}
		v, n := protowire.ConsumeBytes(it.b[it.pos:])
		if n < 0 {
			it.err = malformed("EntryBatch", it.pos, n)
			return false
		}
		it.pos += n
		if it.err = it.cur.parse(v); it.err != nil {
			it.err = fmt.Errorf("entry %d of the batch: %w", it.count, it.err)
			return false
		}
		it.count++
		return true
	}
	return false
}

// Entry is the current entry.
func (it *Entries) Entry() Entry { return it.cur }

// Err is the error that stopped Next, if any; it wraps ErrMalformed.
func (it *Entries) Err() error { return it.err }

// Bytes is the batch's encoding.
func (it *Entries) Bytes() []byte { return it.b }

// errFieldNumber is protowire's negative length for an invalid field number.
const errFieldNumber = -2

// consumeTag is protowire.ConsumeTag with proto.Unmarshal's upper bound on
// field numbers, which ConsumeTag does not check.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, errFieldNumber
	}
	return num, typ, n
}

// malformed reports a decode failure at byte pos of a message; n is the
// negative length protowire returned.
func malformed(msg string, pos, n int) error {
	return fmt.Errorf("%w: %s at byte %d: %w", ErrMalformed, msg, pos, protowire.ParseError(n))
}
