package test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// BenchmarkProduceToTail is the live-tail path one record at a time: a
// one-record acked Produce, and a Consume stream already waiting at the end
// that receives it. It reports the round trip's p50 and p99, in process over
// loopback gRPC, with --fsync never.
func BenchmarkProduceToTail(b *testing.B) {
	br := startInproc(b, func(c *partition.Config, _ *server.Options) { c.Fsync = partition.FsyncNever })
	br.createTopic("lat", 1)
	c := br.Client()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.Consume(ctx, &pb.ConsumeRequest{Topic: "lat"}) // from offset 0: the topic is empty
	if err != nil {
		b.Fatal(err)
	}
	recs := []*pb.Record{{Value: make([]byte, 100)}}
	if _, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "lat", Records: recs}); err != nil {
		b.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "lat", Records: recs}); err != nil {
			b.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
