package server

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/logbroker/logbroker/pb"
)

// BenchmarkConsume reads 10,000 stored 100-byte records over loopback gRPC
// per iteration, one message per entry (Consume) or per read (ConsumeBatches).
// Stored bytes are sent as they are in both.
func BenchmarkConsume(b *testing.B) {
	const n, size = 10_000, 100
	for _, batches := range []bool{false, true} {
		name := "Consume"
		if batches {
			name = "ConsumeBatches"
		}
		b.Run(name, func(b *testing.B) {
			h := newHarness(b)
			h.createTopic(b, "t", 1)
			recs := make([]*pb.Record, 1000)
			for i := range recs {
				recs[i] = &pb.Record{Value: make([]byte, size), TimestampMs: 1}
			}
			for range n / len(recs) {
				if _, err := h.client.Produce(context.Background(), &pb.ProduceRequest{Topic: "t", Records: recs}); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(n * size)
			b.ResetTimer()
			for range b.N {
				req := &pb.ConsumeRequest{Topic: "t", StopAtEnd: true}
				got := 0
				if batches {
					s, err := h.client.ConsumeBatches(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					for {
						m, err := s.Recv()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						got += len(m.GetEntries())
					}
				} else {
					s, err := h.client.Consume(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					for {
						_, err := s.Recv()
						if errors.Is(err, io.EOF) {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
						got++
					}
				}
				if got != n {
					b.Fatalf("read %d records, want %d", got, n)
				}
			}
		})
	}
}
