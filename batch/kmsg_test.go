package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file holds the reference the package is checked against: batches
// built and read with franz-go's kmsg, which is what Kafka clients in Go
// use, independent of this package's own record code.

// testRec is one record as the tests describe it.
type testRec struct {
	key, value []byte
	headers    []RecordHeader
	ts         int64
}

// kmsgRecords encodes recs with kmsg.Record.AppendTo, offset deltas 0, 1, ...
func kmsgRecords(t testing.TB, recs []testRec) []byte {
	t.Helper()
	var out []byte
	for i, r := range recs {
		kr := kmsg.Record{
			TimestampDelta64: r.ts - recs[0].ts,
			OffsetDelta:      int32(i),
			Key:              r.key,
			Value:            r.value,
		}
		for _, h := range r.headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// kmsg needs the length set: the body is the encoding with a
		// zero length (one byte) less that byte.
		kr.Length = int32(len(kr.AppendTo(nil)) - 1)
		out = kr.AppendTo(out)
	}
	return out
}

// kmsgBatch wraps encoded records (compressed by the caller when attrs says
// so) in a kmsg.RecordBatch with the CRC set.
func kmsgBatch(t testing.TB, records []byte, n int, attrs int16, firstTs, maxTs int64) []byte {
	t.Helper()
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(49 + len(records)),
		PartitionLeaderEpoch: 0, // as Builder writes it
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(n),
		Records:              records,
	}
	b := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return rb.AppendTo(nil)
}

// kmsgRead decodes an uncompressed batch with kmsg: the header with
// kmsg.RecordBatch, each record with kmsg.Record.
func kmsgRead(t testing.TB, b []byte) (kmsg.RecordBatch, []kmsg.Record) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg.RecordBatch.ReadFrom: %v", err)
	}
	if got := int32(crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))); got != rb.CRC {
		t.Fatalf("crc 0x%08x, header says 0x%08x", uint32(got), uint32(rb.CRC))
	}
	var out []kmsg.Record
	recs := rb.Records
	for len(recs) > 0 {
		l, n := binary.Varint(recs)
		if n <= 0 || int(l) > len(recs)-n {
			t.Fatalf("record %d: length varint %d (%d bytes) with %d bytes left", len(out), l, n, len(recs))
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(recs[:n+int(l)]); err != nil {
			t.Fatalf("record %d: kmsg.Record.ReadFrom: %v", len(out), err)
		}
		out = append(out, kr)
		recs = recs[n+int(l):]
	}
	return rb, out
}

// sameBytes compares two fields with nil (null) distinct from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// checkRecord compares a decoded record with what was written.
func checkRecord(t testing.TB, i int, got Record, want testRec, offset uint64) {
	t.Helper()
	if got.Offset != offset || got.TimestampMs != want.ts || !sameBytes(got.Key, want.key) || !sameBytes(got.Value, want.value) {
		t.Fatalf("record %d: offset %d ts %d key %s value %s, want offset %d ts %d key %s value %s",
			i, got.Offset, got.TimestampMs, show(got.Key), show(got.Value), offset, want.ts, show(want.key), show(want.value))
	}
	if len(got.Headers) != len(want.headers) {
		t.Fatalf("record %d: %d headers, want %d", i, len(got.Headers), len(want.headers))
	}
	for j, h := range want.headers {
		if g := got.Headers[j]; g.Key != h.Key || !sameBytes(g.Value, h.Value) {
			t.Fatalf("record %d header %d: %q=%s, want %q=%s", i, j, g.Key, show(g.Value), h.Key, show(h.Value))
		}
	}
}

func show(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 16 {
		return fmt.Sprintf("%q...(%d bytes)", b[:16], len(b))
	}
	return fmt.Sprintf("%q", b)
}
