package server

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/segment"
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

// marshalStream is a grpc.ServerStream whose SendMsg does what gRPC's does
// with the message on the sender's goroutine: marshal it with the server's
// codec; the transport's later write is stood in for by freeing the buffers.
type marshalStream struct {
	grpc.ServerStream
	c    codec
	sent int
}

func (s *marshalStream) Context() context.Context { return context.Background() }

func (s *marshalStream) SendMsg(m any) error {
	bs, err := s.c.Marshal(m)
	if err != nil {
		return err
	}
	s.sent += bs.Len()
	bs.Free()
	return nil
}

// BenchmarkSendEntries is the broker's side of per-entry Consume: one read
// batch of 1,000 stored 100-byte records split into one message per entry.
func BenchmarkSendEntries(b *testing.B) {
	const n = 1000
	var data []byte
	for range n {
		data = segment.AppendRecord(data, nil, make([]byte, 100), nil, 1)
	}
	if _, err := segment.SetOffsets(data, 0); err != nil {
		b.Fatal(err)
	}
	batch := partition.Batch{Data: data, First: 0, Next: n, Count: n}
	for _, pooled := range []bool{false, true} {
		name := "slice"
		if pooled {
			name = "pooled"
		}
		b.Run(name, func(b *testing.B) {
			s := &marshalStream{c: newCodec()}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for range b.N {
				var buf *[]byte
				if pooled {
					buf = batchBuffers.Get(len(data))
					*buf = append((*buf)[:0], data...)
				}
				if err := sendEntries(s, batch, buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
			if s.sent == 0 {
				b.Fatal("nothing sent")
			}
		})
	}
}
