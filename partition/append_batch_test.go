package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/logbroker/logbroker/batch"
)

// kafkaBatch builds a batch as a Kafka producer sends it: n records, the
// producer's own leader epoch (-1), compressed with c.
func kafkaBatch(t testing.TB, n, size int, c batch.Compression) []byte {
	t.Helper()
	var bb batch.Builder
	bb.Reset(nil)
	for i := range n {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		bb.Add([]byte(fmt.Sprintf("key-%d", i%10)), v, []batch.RecordHeader{{Key: "h", Value: []byte("v")}}, int64(1764900000000+i))
	}
	b := bb.Finish()
	batch.SetLeaderEpoch(b, -1)
	if c == batch.None {
		return append([]byte(nil), b...)
	}
	out, err := batch.Compress(b, c)
	if err != nil {
		t.Fatal(err)
	}
	batch.SetLeaderEpoch(out, -1)
	return out
}

// TestAppendBatch: a producer's batch, compressed or not, is stored byte for
// byte (the base offset and leader epoch set, the CRC untouched) and read
// back as it was sent; a bad one is refused and stores nothing.
func TestAppendBatch(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.MaxRecordBytes = 4096
	_, p := newTestPartition(t, cfg)
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("grpc first")}}); err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for _, c := range []batch.Compression{batch.None, batch.Gzip, batch.Snappy, batch.LZ4, batch.Zstd} {
		b := kafkaBatch(t, 100, 100, c)
		sent := append([]byte(nil), b...)
		base, last, err := p.AppendBatch(ctx, b)
		if err != nil || base != next || last != next+99 {
			t.Fatalf("%s: AppendBatch = [%d, %d], %v; want [%d, %d]", c, base, last, err, next, next+99)
		}
		got, err := p.Read(ctx, base, 1)
		if err != nil {
			t.Fatal(err)
		}
		batch.SetBaseOffset(sent, base)
		batch.SetLeaderEpoch(sent, 0)
		if !bytes.Equal(got.Data, sent) {
			t.Fatalf("%s: stored %d bytes differ from the %d sent", c, len(got.Data), len(sent))
		}
		recs := decodeBatches(t, got.Data, base)
		if len(recs) != 100 || string(recs[99].Key) != "key-9" || recs[99].Offset != last || recs[5].TimestampMs != 1764900000005 {
			t.Fatalf("%s: decoded %d records, last %+v", c, len(recs), recs[len(recs)-1])
		}
		next = last + 1
	}
	bad := kafkaBatch(t, 3, 10, batch.None)
	bad[len(bad)-1] ^= 1
	big := kafkaBatch(t, 2, 5000, batch.LZ4)
	for name, b := range map[string][]byte{"crc": bad, "record over the limit": big, "empty": nil, "garbage": []byte("not a batch at all, just some bytes long enough to look like a header, almost")} {
		if _, _, err := p.AppendBatch(ctx, b); !errors.Is(err, ErrInvalidBatch) {
			t.Errorf("%s: AppendBatch: %v, want ErrInvalidBatch", name, err)
		}
	}
	if o, _ := p.Offsets(ctx); o.Next != next {
		t.Fatalf("next offset %d after refused batches, want %d", o.Next, next)
	}
}
