package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// vi is x as a zig-zag varint.
func vi(x int64) []byte { return binary.AppendVarint(nil, x) }

// rawRec frames a hand-made record body with its length.
func rawRec(body ...[]byte) []byte {
	b := bytes.Join(body, nil)
	return append(vi(int64(len(b))), b...)
}

// okBody is a well-formed record body with offset delta d, before its
// header count.
func okBody(d int64) []byte {
	return bytes.Join([][]byte{{0}, vi(0), vi(d), vi(1), []byte("k"), vi(1), []byte("v")}, nil)
}

// kmsgRec encodes one record with kmsg at an offset delta of the caller's
// choosing.
func kmsgRec(offsetDelta int32, value []byte) []byte {
	kr := kmsg.Record{OffsetDelta: offsetDelta, Value: value}
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	return kr.AppendTo(nil)
}

// edit changes a copy of b and recomputes its CRC when fixCRC.
func edit(b []byte, fixCRC bool, f func(b []byte) []byte) []byte {
	b = f(append([]byte(nil), b...))
	if fixCRC && len(b) >= HeaderSize {
		SetCRC(b)
	}
	return b
}

func TestValidate(t *testing.T) {
	const maxRecord, maxBatch = 1000, 64 << 10
	recs := []testRec{{key: []byte("a"), value: []byte("1"), ts: 10}, {value: []byte("2"), ts: 11}, {key: []byte{}, value: nil, ts: 9}}
	good := build(recs)
	be := binary.BigEndian
	batchOf := func(n int, records ...[]byte) []byte {
		return kmsgBatch(t, bytes.Join(records, nil), n, 0, 1, 1)
	}
	compressed := func(c Compression, records []byte, n int) []byte {
		out, err := compress(nil, c, records)
		if err != nil {
			t.Fatal(err)
		}
		return kmsgBatch(t, out, n, int16(c), 1, 1)
	}
	bomb := bytes.Repeat(kmsgRec(0, make([]byte, 900)), 1)
	for i := int32(1); len(bomb) < 2*maxBatch; i++ {
		bomb = append(bomb, kmsgRec(i, make([]byte, 900))...)
	}
	bombN := 0
	for rest := bomb; len(rest) > 0; bombN++ {
		l, n := binary.Varint(rest)
		rest = rest[n+int(l):]
	}

	tests := []struct {
		name    string
		b       []byte
		wantErr string // in the message; "" for a valid batch
	}{
		{"valid", good, ""},
		{"valid lz4", compressed(LZ4, good[HeaderSize:], 3), ""},
		{"valid record at the limit", batchOf(1, kmsgRec(0, make([]byte, maxRecord-9))), ""},

		{"empty", nil, "0 bytes"},
		{"short header", good[:HeaderSize-1], "60 bytes"},
		{"short batch", good[:len(good)-1], "length 73 (a batch takes 49 to 72)"},
		{"trailing bytes after the batch", append(append([]byte(nil), good...), 0), "1 bytes after the batch"},
		{"two batches", append(append([]byte(nil), good...), good...), "after the batch"},
		{"bad magic", edit(good, true, func(b []byte) []byte { b[offMagic] = 1; return b }), "magic 1"},
		{"bad crc", edit(good, false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "crc"},
		{"length below the header", edit(good, false, func(b []byte) []byte { be.PutUint32(b[offLength:], 48); return b }), "length 48 (a batch takes 49 to 73)"},
		{"negative length", edit(good, false, func(b []byte) []byte { be.PutUint32(b[offLength:], 0xffffffff); return b }), "length -1"},
		{"batch over maxBatchBytes", batchOf(100, bytes.Join(func() [][]byte {
			var r [][]byte
			for i := range 100 {
				r = append(r, kmsgRec(int32(i), make([]byte, 900)))
			}
			return r
		}(), nil)), "over the limit of 65536"},
		{"zero records", edit(good, true, func(b []byte) []byte {
			be.PutUint32(b[offNumRecords:], 0)
			be.PutUint32(b[offLastOffsetDelta:], 0xffffffff)
			return b
		}), "0 records"},
		{"last offset delta not count-1", edit(good, true, func(b []byte) []byte { be.PutUint32(b[offLastOffsetDelta:], 5); return b }), "last offset delta 5"},
		{"header counts fewer records", edit(good, true, func(b []byte) []byte {
			be.PutUint32(b[offNumRecords:], 2)
			be.PutUint32(b[offLastOffsetDelta:], 1)
			return b
		}), "after the last of 2 records"},
		{"header counts more records", edit(good, true, func(b []byte) []byte {
			be.PutUint32(b[offNumRecords:], 4)
			be.PutUint32(b[offLastOffsetDelta:], 3)
			return b
		}), "3 records, header says 4"},
		{"control batch", edit(good, true, func(b []byte) []byte { b[offAttributes+1] |= AttrControl; return b }), "control batch"},
		{"unknown codec", edit(good, true, func(b []byte) []byte { b[offAttributes+1] |= 5; return b }), "unknown compression 5"},
		{"offset delta gap", batchOf(3, kmsgRec(0, nil), kmsgRec(1, nil), kmsgRec(3, nil)), "record 2 has offset delta 3"},
		{"offset deltas out of order", batchOf(3, kmsgRec(0, nil), kmsgRec(2, nil), kmsgRec(1, nil)), "record 1 has offset delta 2"},
		{"offset delta not starting at 0", batchOf(1, kmsgRec(1, nil)), "record 0 has offset delta 1"},
		{"negative offset delta", batchOf(1, kmsgRec(-1, nil)), "record 0 has offset delta -1"},
		{"record over maxRecordBytes", batchOf(1, kmsgRec(0, make([]byte, maxRecord-8))), "of 1001 bytes, over the limit of 1000"},
		{"truncated record", batchOf(1, kmsgRec(0, []byte("hello"))[:5]), "record 0: record length"},
		{"record length zero", batchOf(1, vi(0)), "record length 0"},
		{"record length negative", batchOf(1, vi(-3)), "record length -3"},
		{"record length varint overflow", batchOf(1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), "record length: bad varint"},
		{"record length varint cut", batchOf(1, []byte{0x80}), "record length: bad varint"},
		{"timestamp varint overflow", batchOf(1, rawRec([]byte{0}, bytes.Repeat([]byte{0xff}, 11))), "timestamp delta: bad varint"},
		{"offset delta over int32", batchOf(1, rawRec([]byte{0}, vi(0), vi(1<<31), vi(-1), vi(-1), vi(0))), "offset delta: bad varint"},
		{"negative key length", batchOf(1, rawRec([]byte{0}, vi(0), vi(0), vi(-5), vi(-1), vi(0))), "key length -5"},
		{"key past the record", batchOf(1, rawRec([]byte{0}, vi(0), vi(0), vi(50), []byte("ab"))), "key length 50"},
		{"negative value length", batchOf(1, rawRec([]byte{0}, vi(0), vi(0), vi(-1), vi(-2), vi(0))), "value length -2"},
		{"negative header count", batchOf(1, rawRec(okBody(0), vi(-1))), "header count -1"},
		{"header count past the record", batchOf(1, rawRec(okBody(0), vi(1000), vi(0), vi(0))), "header count 1000"},
		{"null header key", batchOf(1, rawRec(okBody(0), vi(1), vi(-1), vi(-1))), "header 0: header key length -1"},
		{"negative header value length", batchOf(1, rawRec(okBody(0), vi(1), vi(1), []byte("h"), vi(-7))), "header 0: header value length -7"},
		{"bytes left in a record", batchOf(1, rawRec(okBody(0), vi(0), []byte("xx"))), "2 bytes after its headers"},
		{"no header count", batchOf(1, rawRec(okBody(0))), "header count: bad varint"},
		{"trailing bytes after the records", batchOf(1, kmsgRec(0, nil), []byte{7}), "1 bytes after the last of 1 records"},
		{"compressed bomb over maxBatchBytes", compressed(Zstd, bomb, bombN), "over the limit"},
		{"corrupt gzip", kmsgBatch(t, []byte("not gzip at all"), 1, int16(Gzip), 1, 1), "gzip"},
		{"corrupt lz4", kmsgBatch(t, []byte("not lz4 at all"), 1, int16(LZ4), 1, 1), "lz4"},
		{"compressed count mismatch", compressed(Snappy, kmsgRec(0, nil), 2), "1 records, header says 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Validate(tt.b, maxRecord, maxBatch)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if h.Size() != int64(len(tt.b)) {
					t.Fatalf("header size %d of a %d-byte batch", h.Size(), len(tt.b))
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %q does not say %q", err, tt.wantErr)
			}
			// Only a size over a limit is ErrTooLarge: the rest is damage.
			if tooLarge := strings.Contains(tt.name, "over max"); errors.Is(err, ErrTooLarge) != tooLarge {
				t.Fatalf("err %v: errors.Is(err, ErrTooLarge) = %v, want %v", err, !tooLarge, tooLarge)
			}
			t.Log(err)
			// What Validate refuses, Iter refuses too or reads within bounds.
			var it Iter
			var r Record
			if it.Reset(tt.b) == nil {
				for it.Next(&r) {
				}
			}
		})
	}
}
