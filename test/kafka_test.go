package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logbroker/logbroker/kafka"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/pb"
)

// startKafka serves the Kafka protocol on b's storage, on a loopback port,
// until the test ends, and returns its address.
func (b *inproc) startKafka() string {
	t := b.t
	t.Helper()
	groups, err := group.Open(b.dir, group.Config{Topics: b.reg, Logger: b.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kafka.New(kafka.Options{Registry: kafka.FromRegistry(b.reg), Groups: groups, Logger: b.cfg.Logger})
	if err != nil {
		groups.Close()
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	// Registered after startInproc's cleanup, so it runs first: the Kafka
	// server stops before storage closes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), inprocWait)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("kafka Stop: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("kafka Serve: %v", err)
		}
		groups.Close()
	})
	return lis.Addr().String()
}

func kafkaClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestCrossProtocol: records produced over gRPC are fetched by a Kafka
// consumer at the same offsets with the same keys, values, headers and
// timestamps, and records produced by a Kafka producer (compressed) are
// read over gRPC Consume the same way.
func TestCrossProtocol(t *testing.T) {
	b := startInproc(t)
	addr := b.startKafka()
	b.createTopic("x", 2)
	ctx := testContext(t)
	base := time.UnixMilli(1_700_000_000_000)

	// gRPC → Kafka, partition 0, in three produce calls.
	var sent []*pb.Record
	for i := range 30 {
		sent = append(sent, &pb.Record{
			Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("value-", i)),
			Headers:     []*pb.Header{{Key: "h", Value: []byte(fmt.Sprint(i))}},
			TimestampMs: base.Add(time.Duration(i) * time.Millisecond).UnixMilli(),
		})
	}
	for i := 0; i < len(sent); i += 10 {
		b.produce("x", 0, sent[i:i+10]...)
	}
	cons := kafkaClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"x": {0: kgo.NewOffset().At(0)}}))
	var got []*kgo.Record
	for len(got) < len(sent) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kafka consumer got %d of %d records: %v", len(got), len(sent), ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatal(err) })
		got = append(got, fs.Records()...)
	}
	for i, r := range got {
		w := sent[i]
		if r.Offset != int64(i) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || r.Timestamp.UnixMilli() != w.TimestampMs ||
			len(r.Headers) != 1 || r.Headers[0].Key != "h" || !bytes.Equal(r.Headers[0].Value, w.Headers[0].Value) {
			t.Fatalf("kafka record %d = %d %q %q %v %v; gRPC sent %q %q %d %v", i, r.Offset, r.Key, r.Value, r.Timestamp, r.Headers, w.Key, w.Value, w.TimestampMs, w.Headers)
		}
	}

	// Kafka → gRPC, partition 1, zstd-compressed batches.
	prod := kafkaClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	var recs []*kgo.Record
	for i := range 25 {
		recs = append(recs, &kgo.Record{Topic: "x", Partition: 1, Key: []byte(fmt.Sprint("kk", i)), Value: bytes.Repeat([]byte{'z'}, 100+i),
			Headers: []kgo.RecordHeader{{Key: "from", Value: []byte("kafka")}}, Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	stream, err := b.client.Consume(ctx, &pb.ConsumeRequest{Topic: "x", Partition: 1, Start: pb.Start_START_EARLIEST, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for ; ; n++ {
		e, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		w := recs[n]
		if e.GetOffset() != uint64(n) || !bytes.Equal(e.GetKey(), w.Key) || !bytes.Equal(e.GetValue(), w.Value) || e.GetTimestampMs() != w.Timestamp.UnixMilli() ||
			len(e.GetHeaders()) != 1 || e.GetHeaders()[0].GetKey() != "from" || string(e.GetHeaders()[0].GetValue()) != "kafka" {
			t.Fatalf("gRPC entry %d = %v; kafka sent %q %q %v", n, e, w.Key, w.Value, w.Timestamp)
		}
	}
	if n != len(recs) {
		t.Fatalf("gRPC Consume read %d records, kafka produced %d", n, len(recs))
	}
}
