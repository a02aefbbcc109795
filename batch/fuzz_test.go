package batch

import (
	"encoding/binary"
	"runtime/metrics"
	"testing"
)

// fuzzLimit is the decompression limit the fuzz targets run with.
const fuzzLimit = 1 << 20

// fuzzSeeds are real batches: built, compressed with every codec (both
// snappy framings), log-append time, and a kmsg-built one.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, tt := range recordCases()[:5] {
		plain := build(tt.recs)
		seeds = append(seeds, plain)
		for _, c := range refCodecs() {
			seeds = append(seeds, kmsgBatch(f, c.enc(f, kmsgRecords(f, tt.recs)), len(tt.recs), int16(c.codec), tt.recs[0].ts, maxTs(tt.recs)))
		}
	}
	recs := recordCases()[0].recs
	seeds = append(seeds, kmsgBatch(f, kmsgRecords(f, recs), 1, AttrLogAppendTime, 1, 2))
	return seeds
}

// fuzzFix makes fuzzed bytes more often reach the records: bit 0 of mode
// sets the length to the bytes given, bit 1 recomputes the CRC.
func fuzzFix(b []byte, mode uint8) []byte {
	if len(b) < HeaderSize {
		return b
	}
	b = append([]byte(nil), b...)
	if mode&1 != 0 {
		binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-offLeaderEpoch))
	}
	if mode&2 != 0 {
		SetCRC(b)
	}
	return b
}

var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}

func heapAllocs() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// maxFuzzAlloc bounds what decoding n input bytes may allocate: the
// decompression limit twice over, a zstd window, and a constant factor of
// the input (header keys and slices of headers).
func maxFuzzAlloc(n int) uint64 { return 2*fuzzLimit + zstdMaxWindow + 1<<20 + 64*uint64(n) }

// FuzzIter feeds any bytes to Iter.Reset, SkipTo and Next: no panic, memory
// bounded by the limit, records within the header's offsets, and for
// batches that Validate accepts, every record read back in order.
func FuzzIter(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0), uint16(0))
		f.Add(s, uint8(3), uint16(1))
	}
	var it Iter
	var r Record
	f.Fuzz(func(t *testing.T, b []byte, mode uint8, skip uint16) {
		b = fuzzFix(b, mode)
		it.Limit = fuzzLimit
		before := heapAllocs()
		if it.Reset(b) != nil {
			return
		}
		h := it.Header()
		if skip != 0 {
			it.SkipTo(h.BaseOffset + uint64(skip))
		}
		n := 0
		for it.Next(&r) {
			if r.Offset < h.BaseOffset || r.Offset > h.BaseOffset+uint64(h.LastOffsetDelta) {
				t.Fatalf("record offset %d outside the batch's %d..%d", r.Offset, h.BaseOffset, h.Next()-1)
			}
			if skip != 0 && r.Offset < h.BaseOffset+uint64(skip) {
				t.Fatalf("record offset %d before SkipTo's %d", r.Offset, h.BaseOffset+uint64(skip))
			}
			n++
		}
		if n > int(h.NumRecords) {
			t.Fatalf("%d records from a batch of %d", n, h.NumRecords)
		}
		if got := heapAllocs() - before; got > maxFuzzAlloc(len(b)) {
			t.Fatalf("%d bytes allocated for a %d-byte batch", got, len(b))
		}
		if cap(it.buf) > fuzzLimit {
			t.Fatalf("decompression buffer of %d bytes, limit %d", cap(it.buf), fuzzLimit)
		}
		if _, err := Validate(b, fuzzLimit, fuzzLimit); err == nil && skip == 0 && (n != int(h.NumRecords) || it.Err() != nil) {
			t.Fatalf("valid batch: Iter read %d of %d records, err %v", n, h.NumRecords, it.Err())
		}
	})
}

// FuzzValidate feeds any bytes to Validate: no panic, memory bounded by
// maxBatchBytes, and a batch it accepts reads back whole with Iter, and
// reads back the same once rebuilt by Builder (uncompressed, CreateTime).
func FuzzValidate(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	var it, it2 Iter
	var r, r2 Record
	var bld Builder
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		b = fuzzFix(b, mode)
		before := heapAllocs()
		h, err := Validate(b, fuzzLimit, fuzzLimit)
		if got := heapAllocs() - before; got > maxFuzzAlloc(len(b)) {
			t.Fatalf("%d bytes allocated for a %d-byte batch", got, len(b))
		}
		if err != nil {
			return
		}
		if h.Size() != int64(len(b)) || h.NumRecords < 1 || h.Control() {
			t.Fatalf("accepted header %+v for %d bytes", h, len(b))
		}
		it.Limit = fuzzLimit
		if err := it.Reset(b); err != nil {
			t.Fatalf("Validate accepted, Iter.Reset: %v", err)
		}
		bld.Reset(nil)
		for i := 0; it.Next(&r); i++ {
			if r.Offset != h.BaseOffset+uint64(i) {
				t.Fatalf("record %d at offset %d, base %d", i, r.Offset, h.BaseOffset)
			}
			bld.Add(r.Key, r.Value, r.Headers, r.TimestampMs)
		}
		if it.Err() != nil || bld.Len() != int(h.NumRecords) {
			t.Fatalf("Validate accepted, Iter read %d of %d records: %v", bld.Len(), h.NumRecords, it.Err())
		}
		if h.LogAppendTime() {
			return // the rebuilt batch holds CreateTime timestamps
		}
		rebuilt := bld.Finish()
		SetBaseOffset(rebuilt, h.BaseOffset)
		if _, err := Validate(rebuilt, 2*fuzzLimit, 2*fuzzLimit); err != nil {
			t.Fatalf("rebuilt batch: %v", err)
		}
		if err := it.Reset(b); err != nil {
			t.Fatal(err)
		}
		if err := it2.Reset(rebuilt); err != nil {
			t.Fatal(err)
		}
		for it.Next(&r) {
			if !it2.Next(&r2) {
				t.Fatalf("rebuilt batch ends at offset %d: %v", r.Offset, it2.Err())
			}
			if r.Offset != r2.Offset || r.TimestampMs != r2.TimestampMs || !sameBytes(r.Key, r2.Key) || !sameBytes(r.Value, r2.Value) || len(r.Headers) != len(r2.Headers) {
				t.Fatalf("offset %d reads differently once rebuilt", r.Offset)
			}
			for j := range r.Headers {
				if r.Headers[j].Key != r2.Headers[j].Key || !sameBytes(r.Headers[j].Value, r2.Headers[j].Value) {
					t.Fatalf("offset %d header %d reads differently once rebuilt", r.Offset, j)
				}
			}
		}
	})
}
