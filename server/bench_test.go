package server

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/partition"
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

// BenchmarkSendEntries is the broker's side of both Consume RPCs after a
// read: one stored batch of 1,000 100-byte records decoded and encoded as
// LogEntry messages, sent as one EntryBatch (batches) or one message per
// entry (entries).
func BenchmarkSendEntries(b *testing.B) {
	const n = 1000
	var bb batch.Builder
	bb.Reset(nil)
	for range n {
		bb.Add(nil, make([]byte, 100), nil, 1)
	}
	data := bb.Finish()
	read := partition.Batch{Data: data, First: 0, Next: n, Count: n}
	for _, perEntry := range []bool{false, true} {
		name := "batches"
		if perEntry {
			name = "entries"
		}
		b.Run(name, func(b *testing.B) {
			s := &marshalStream{c: newCodec()}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var cur cursor
			for range b.N {
				cur.reset(read)
				buf := batchBuffers.Get(len(data) + 4096)
				out, count, _, err := cur.fill((*buf)[:0], 1<<20)
				if err != nil || count != n {
					b.Fatalf("fill: %d records, %v", count, err)
				}
				*buf = out
				if perEntry {
					err = sendEntries(s, buf, count)
				} else {
					err = s.SendMsg(pooledMessage{data: buf})
				}
				if err != nil {
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
