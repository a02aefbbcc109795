package batch

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordCases are the record sets every round trip runs over.
func recordCases() []struct {
	name string
	recs []testRec
} {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	var many, manyHeaders []testRec
	for i := range 1000 {
		many = append(many, testRec{key: []byte{byte(i)}, value: bytes.Repeat([]byte{'v'}, 100), ts: 1_700_000_000_000 + int64(i)})
	}
	var hs []RecordHeader
	for i := range 300 {
		var v []byte
		if i%3 != 0 {
			v = []byte(strings.Repeat("h", i))
		}
		hs = append(hs, RecordHeader{Key: "key-" + strings.Repeat("k", i%7), Value: v})
	}
	manyHeaders = []testRec{{value: []byte("x"), headers: hs, ts: 5}, {value: []byte("y"), headers: hs[:1], ts: 6}}
	return []struct {
		name string
		recs []testRec
	}{
		{"one record", []testRec{{key: []byte("k"), value: []byte("v"), ts: 1}}},
		{"null and empty", []testRec{
			{key: nil, value: []byte{}, ts: 10},
			{key: []byte{}, value: nil, ts: 10},
			{key: nil, value: nil, ts: 10},
			{key: []byte{}, value: []byte{}, ts: 10},
			{value: []byte("v"), headers: []RecordHeader{{Key: "", Value: nil}, {Key: "e", Value: []byte{}}, {Key: "n", Value: nil}}, ts: 10},
		}},
		{"negative timestamp deltas", []testRec{
			{value: []byte("a"), ts: 1_000_000},
			{value: []byte("b"), ts: 999_000},
			{value: []byte("c"), ts: -1},
			{value: []byte("d"), ts: 2_000_000},
			{value: []byte("e"), ts: 0},
		}},
		{"extreme timestamps", []testRec{
			{value: []byte("a"), ts: math.MinInt64},
			{value: []byte("b"), ts: math.MaxInt64},
			{value: []byte("c"), ts: 0},
		}},
		{"many headers", manyHeaders},
		{"big records", []testRec{{key: big[:200_000], value: big, ts: 3}, {key: []byte("s"), value: []byte("small"), ts: 4}, {value: big[:70_000], ts: 2}}},
		{"1000 records", many},
	}
}

func maxTs(recs []testRec) int64 {
	m := recs[0].ts
	for _, r := range recs {
		m = max(m, r.ts)
	}
	return m
}

func build(recs []testRec) []byte {
	var b Builder
	b.Reset(nil)
	for _, r := range recs {
		b.Add(r.key, r.value, r.headers, r.ts)
	}
	return b.Finish()
}

// TestBuilderMatchesKmsg checks that a Builder's batch decodes with kmsg to
// the same records, and is byte for byte the batch kmsg encodes.
func TestBuilderMatchesKmsg(t *testing.T) {
	for _, tt := range recordCases() {
		t.Run(tt.name, func(t *testing.T) {
			var b Builder
			b.Reset(make([]byte, 0, 10))
			for i, r := range tt.recs {
				n := b.Add(r.key, r.value, r.headers, r.ts)
				if want := RecordSize(r.key, r.value, r.headers, r.ts-tt.recs[0].ts, int32(i)); n != want {
					t.Fatalf("record %d: Add says %d bytes, RecordSize %d", i, n, want)
				}
			}
			if b.Len() != len(tt.recs) {
				t.Fatalf("Len %d, want %d", b.Len(), len(tt.recs))
			}
			got := b.Finish()
			want := kmsgBatch(t, kmsgRecords(t, tt.recs), len(tt.recs), 0, tt.recs[0].ts, maxTs(tt.recs))
			if !bytes.Equal(got, want) {
				t.Fatalf("Builder's batch (%d bytes) differs from kmsg's (%d bytes)", len(got), len(want))
			}
			rb, krs := kmsgRead(t, got)
			if rb.NumRecords != int32(len(tt.recs)) || rb.LastOffsetDelta != int32(len(tt.recs)-1) ||
				rb.FirstTimestamp != tt.recs[0].ts || rb.MaxTimestamp != maxTs(tt.recs) ||
				rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 || rb.Attributes != 0 || rb.Magic != 2 {
				t.Fatalf("header %+v", rb)
			}
			if len(krs) != len(tt.recs) {
				t.Fatalf("kmsg read %d records, want %d", len(krs), len(tt.recs))
			}
			for i, kr := range krs {
				checkRecord(t, i, fromKmsg(rb, kr), tt.recs[i], uint64(i))
			}
			if _, err := Validate(got, 2<<20, 4<<20); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func fromKmsg(rb kmsg.RecordBatch, kr kmsg.Record) Record {
	r := Record{Offset: uint64(rb.FirstOffset) + uint64(kr.OffsetDelta), TimestampMs: rb.FirstTimestamp + kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// TestIterReadsKmsg checks that Iter reads a batch kmsg encoded, at the base
// offset the broker sets.
func TestIterReadsKmsg(t *testing.T) {
	var it Iter
	var r Record
	for _, tt := range recordCases() {
		t.Run(tt.name, func(t *testing.T) {
			b := kmsgBatch(t, kmsgRecords(t, tt.recs), len(tt.recs), 0, tt.recs[0].ts, maxTs(tt.recs))
			SetBaseOffset(b, 1000)
			if err := it.Reset(b); err != nil {
				t.Fatal(err)
			}
			if h := it.Header(); h.BaseOffset != 1000 || h.NumRecords != int32(len(tt.recs)) {
				t.Fatalf("header %+v", h)
			}
			i := 0
			for it.Next(&r) {
				if i >= len(tt.recs) {
					t.Fatalf("more than %d records", len(tt.recs))
				}
				checkRecord(t, i, r, tt.recs[i], 1000+uint64(i))
				i++
			}
			if it.Err() != nil || i != len(tt.recs) {
				t.Fatalf("%d records, err %v; want %d", i, it.Err(), len(tt.recs))
			}
		})
	}
}

func TestIterLogAppendTime(t *testing.T) {
	recs := []testRec{{value: []byte("a"), ts: 5}, {value: []byte("b"), ts: 7}}
	b := kmsgBatch(t, kmsgRecords(t, recs), 2, AttrLogAppendTime, 5, 99)
	var it Iter
	if err := it.Reset(b); err != nil {
		t.Fatal(err)
	}
	var r Record
	for it.Next(&r) {
		if r.TimestampMs != 99 {
			t.Fatalf("offset %d: timestamp %d, want the batch's max 99", r.Offset, r.TimestampMs)
		}
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
}

func TestIterSkipTo(t *testing.T) {
	recs := recordCases()[6].recs // 1000 records
	b := build(recs)
	SetBaseOffset(b, 500)
	tests := []struct {
		skipTo    uint64
		wantFirst uint64
		wantN     int
	}{
		{0, 500, 1000},
		{500, 500, 1000},
		{501, 501, 999},
		{1234, 1234, 266},
		{1499, 1499, 1},
		{1500, 0, 0},
		{1 << 62, 0, 0},
	}
	var it Iter
	var r Record
	for _, tt := range tests {
		if err := it.Reset(b); err != nil {
			t.Fatal(err)
		}
		it.SkipTo(tt.skipTo)
		n := 0
		for it.Next(&r) {
			if n == 0 && r.Offset != tt.wantFirst {
				t.Fatalf("SkipTo(%d): first offset %d, want %d", tt.skipTo, r.Offset, tt.wantFirst)
			}
			checkRecord(t, n, r, recs[r.Offset-500], r.Offset)
			n++
		}
		if it.Err() != nil || n != tt.wantN {
			t.Fatalf("SkipTo(%d): %d records, err %v; want %d", tt.skipTo, n, it.Err(), tt.wantN)
		}
	}
}

// TestBuilderReuse checks that a Builder reset on its last batch's buffer
// builds the same bytes and keeps the buffer.
func TestBuilderReuse(t *testing.T) {
	recs := recordCases()[1].recs
	want := build(recs)
	var b Builder
	buf := make([]byte, 0, 4096)
	for range 3 {
		b.Reset(buf)
		for _, r := range recs {
			b.Add(r.key, r.value, r.headers, r.ts)
		}
		got := b.Finish()
		if !bytes.Equal(got, want) {
			t.Fatal("reused Builder built different bytes")
		}
		if &got[0] != &buf[:1][0] {
			t.Fatal("Builder did not build in the buffer given to Reset")
		}
		buf = got[:0]
	}
}

func TestBuilderFinishEmptyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Finish with no records did not panic")
		}
	}()
	var b Builder
	b.Reset(nil)
	b.Finish()
}

// TestRecordSize checks RecordSize against kmsg's encoding at the varint
// boundaries of every field.
func TestRecordSize(t *testing.T) {
	lens := []int{-1, 0, 1, 63, 64, 127, 128, 8191, 8192, 1 << 20}
	deltas := []int64{0, -1, 63, -64, 64, -65, 1 << 31, math.MaxInt64, math.MinInt64}
	offs := []int32{0, 63, 64, 8191, 8192, math.MaxInt32}
	mk := func(n int) []byte {
		if n < 0 {
			return nil
		}
		return make([]byte, n)
	}
	for _, kl := range lens {
		for _, d := range deltas {
			for _, o := range offs {
				key, value := mk(kl), mk(kl/2)
				hs := []RecordHeader{{Key: string(mk(max(kl, 0))), Value: mk(kl)}}
				kr := kmsg.Record{TimestampDelta64: d, OffsetDelta: o, Key: key, Value: value, Headers: []kmsg.Header{{Key: hs[0].Key, Value: hs[0].Value}}}
				kr.Length = int32(len(kr.AppendTo(nil)) - 1)
				want := len(kr.AppendTo(nil))
				if got := RecordSize(key, value, hs, d, o); got != want {
					t.Fatalf("key %d delta %d offset %d: RecordSize %d, kmsg encodes %d", kl, d, o, got, want)
				}
				if got := len(appendRecord(nil, bodySize(key, value, hs, d, o), key, value, hs, d, o)); got != want {
					t.Fatalf("key %d delta %d offset %d: appendRecord wrote %d, kmsg %d", kl, d, o, got, want)
				}
			}
		}
	}
}

// TestIterOffsetsRise checks that Iter refuses offset deltas that do not
// rise, which SkipTo and every reader downstream rely on (a fuzz find).
func TestIterOffsetsRise(t *testing.T) {
	tests := []struct {
		name   string
		deltas []int32
		wantOK bool
	}{
		{"in order", []int32{0, 1, 2}, true},
		{"out of order", []int32{1, 0}, false},
		{"repeated", []int32{0, 0}, false},
		{"past the last offset delta", []int32{0, 5}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []byte
			for _, d := range tt.deltas {
				recs = append(recs, kmsgRec(d, []byte("v"))...)
			}
			n := len(tt.deltas)
			b := kmsgBatch(t, recs, n, 0, 1, 1)
			var it Iter
			var r Record
			if err := it.Reset(b); err != nil {
				t.Fatal(err)
			}
			got := 0
			for it.Next(&r) {
				got++
			}
			if ok := it.Err() == nil; ok != tt.wantOK {
				t.Fatalf("err %v after %d records, want ok %v", it.Err(), got, tt.wantOK)
			}
		})
	}
}
