package batch

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The benchmarks' batch: 1,000 records with 100-byte values of printable
// pseudo-random text (lz4 shrinks it about as it would log lines), keyless,
// one millisecond apart, as a Kafka producer sends it.
const benchRecords = 1000

func benchValues() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"GET ", "/api/v1/", "user=", "status=200 ", "latency_ms=", "ok ", "id=", "region=eu "}
	vals := make([][]byte, benchRecords)
	for i := range vals {
		var v []byte
		for len(v) < 100 {
			v = append(v, words[rng.IntN(len(words))]...)
			v = fmt.Appendf(v, "%d ", rng.IntN(100000))
		}
		vals[i] = v[:100]
	}
	return vals
}

func benchBatch(b *testing.B, c Compression) []byte {
	var bld Builder
	bld.Reset(nil)
	for i, v := range benchValues() {
		bld.Add(nil, v, nil, 1_700_000_000_000+int64(i))
	}
	plain := bld.Finish()
	out, err := Compress(plain, c)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

func perRecord(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRecords, "ns/record")
}

func BenchmarkBuild(b *testing.B) {
	vals := benchValues()
	var bld Builder
	buf := make([]byte, 0, 128<<10)
	b.ReportAllocs()
	for b.Loop() {
		bld.Reset(buf)
		for i, v := range vals {
			bld.Add(nil, v, nil, 1_700_000_000_000+int64(i))
		}
		buf = bld.Finish()[:0]
	}
	perRecord(b)
}

// BenchmarkBuildKmsg encodes the same records with kmsg.Record.AppendTo,
// the library way: it needs each record's Length first, which kmsg can only
// learn by encoding the record once more.
func BenchmarkBuildKmsg(b *testing.B) {
	vals := benchValues()
	buf := make([]byte, 0, 128<<10)
	var scratch []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:HeaderSize]
		for i, v := range vals {
			kr := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: v}
			scratch = kr.AppendTo(scratch[:0])
			kr.Length = int32(len(scratch) - 1)
			buf = kr.AppendTo(buf)
		}
		SetCRC(buf)
	}
	perRecord(b)
}

func BenchmarkIter(b *testing.B) {
	for _, c := range []Compression{None, LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			batch := benchBatch(b, c)
			var it Iter
			var r Record
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if err := it.Reset(batch); err != nil {
					b.Fatal(err)
				}
				n := 0
				for it.Next(&r) {
					n += len(r.Value)
				}
				if it.Err() != nil || n != benchRecords*100 {
					b.Fatalf("read %d value bytes: %v", n, it.Err())
				}
			}
			perRecord(b)
		})
	}
}

// BenchmarkIterKmsg reads the same uncompressed records with
// kmsg.Record.UnsafeReadFrom.
func BenchmarkIterKmsg(b *testing.B) {
	batch := benchBatch(b, None)
	var kr kmsg.Record
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		recs := batch[HeaderSize:]
		n := 0
		for len(recs) > 0 {
			l, m := binary.Varint(recs)
			if err := kr.UnsafeReadFrom(recs[:m+int(l)]); err != nil {
				b.Fatal(err)
			}
			n += len(kr.Value)
			recs = recs[m+int(l):]
		}
		if n != benchRecords*100 {
			b.Fatalf("read %d value bytes", n)
		}
	}
	perRecord(b)
}

func BenchmarkValidate(b *testing.B) {
	for _, c := range []Compression{None, LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			batch := benchBatch(b, c)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Validate(batch, 1<<20, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b)
		})
	}
}

// BenchmarkCopy is the baseline: a memcpy of the same batch bytes.
func BenchmarkCopy(b *testing.B) {
	for _, c := range []Compression{None, LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			batch := benchBatch(b, c)
			dst := make([]byte, len(batch))
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				copy(dst, batch)
			}
			perRecord(b)
		})
	}
}

// BenchmarkAppendReadBack is the Kafka-shaped path end to end, without
// re-encoding: the batch as the producer sent it is validated, its base
// offset set and copied into a log buffer, then read back record by record.
func BenchmarkAppendReadBack(b *testing.B) {
	for _, c := range []Compression{None, LZ4} {
		b.Run(c.String(), func(b *testing.B) {
			batch := benchBatch(b, c)
			log := make([]byte, len(batch))
			var it Iter
			var r Record
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			var base uint64
			for b.Loop() {
				if _, err := Validate(batch, 1<<20, 1<<20); err != nil {
					b.Fatal(err)
				}
				copy(log, batch)
				SetBaseOffset(log, base)
				base += benchRecords
				if err := it.Reset(log); err != nil {
					b.Fatal(err)
				}
				for it.Next(&r) {
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
			}
			perRecord(b)
		})
	}
}
