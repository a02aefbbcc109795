package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The tests in this file drive the listener with franz-go's own client
// (kgo) and admin client (kadm), as a user would.

// newClient is a franz-go client of b, idempotent as kgo is by default;
// it closes when the test ends.
func (b *testBroker) newClient(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(cl.Close)
	return cl
}

func (b *testBroker) admin() *kadm.Client { return kadm.NewClient(b.newClient()) }

// testRecords makes n records with keys, values, headers (one null-valued)
// and timestamps that the round trip must keep.
func testRecords(topic string, partition int32, n int) []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Topic: topic, Partition: partition,
			Key:       []byte(fmt.Sprintf("key-%d", i)),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 10+i%50),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}, {Key: "null"}},
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
	}
	if n > 0 {
		recs[0].Key = nil // a null key stays null
	}
	return recs
}

// consume reads n records of topic's partition from offset with a fresh
// consumer and returns them.
func (b *testBroker) consume(topic string, partition int32, offset int64, n int, opts ...kgo.Opt) []*kgo.Record {
	b.t.Helper()
	ctx := testContext(b.t)
	opts = append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(offset)}})}, opts...)
	cl := b.newClient(opts...)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.t.Fatalf("consumed %d of %d records of %s/%d: %v", len(out), n, topic, partition, err)
		}
		fs.EachError(func(t string, p int32, err error) { b.t.Fatalf("fetch %s/%d: %v", t, p, err) })
		out = append(out, fs.Records()...)
	}
	cl.Close()
	return out
}

func sameRecords(t *testing.T, got, want []*kgo.Record, firstOffset int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Offset != firstOffset+int64(i) || !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
			!bytes.Equal(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("record %d = offset %d key %q value %q ts %v headers %v; want offset %d key %q value %q ts %v headers %v",
				i, g.Offset, g.Key, g.Value, g.Timestamp, g.Headers, firstOffset+int64(i), w.Key, w.Value, w.Timestamp, w.Headers)
		}
		for j, h := range g.Headers {
			if h.Key != w.Headers[j].Key || !bytes.Equal(h.Value, w.Headers[j].Value) || (h.Value == nil) != (w.Headers[j].Value == nil) {
				t.Fatalf("record %d header %d = %q:%q, want %q:%q", i, j, h.Key, h.Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

// TestKgoCodecsAndAcks produces with every codec and every acks setting
// and consumes the records back, equal and at consecutive offsets.
func TestKgoCodecsAndAcks(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t)
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	acks := map[string]kgo.Acks{"0": kgo.NoAck(), "1": kgo.LeaderAck(), "all": kgo.AllISRAcks()}
	if _, err := b.admin().CreateTopic(ctx, 1, -1, nil, "codecs"); err != nil {
		t.Fatal(err)
	}
	var next int64
	for cname, codec := range codecs {
		for aname, ack := range acks {
			t.Run(cname+"/acks="+aname, func(t *testing.T) {
				recs := testRecords("codecs", 0, 200)
				opts := []kgo.Opt{kgo.ProducerBatchCompression(codec), kgo.RequiredAcks(ack), kgo.RecordPartitioner(kgo.ManualPartitioner())}
				if aname != "all" {
					opts = append(opts, kgo.DisableIdempotentWrite()) // kgo's idempotence wants acks=all
				}
				cl := b.newClient(opts...)
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				cl.Close()
				sameRecords(t, b.consume("codecs", 0, next, len(recs)), recs, next)
				next += int64(len(recs))
			})
		}
	}
}

// TestKgoConsumeFromOffset starts a consumer in the middle of a batch.
func TestKgoConsumeFromOffset(t *testing.T) {
	b := startBroker(t)
	b.createTopic("mid", 1)
	recs := testRecords("mid", 0, 50)
	cl := b.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := cl.ProduceSync(testContext(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, b.consume("mid", 0, 17, 33), recs[17:], 17)
}

// TestKgoLiveTail: a consumer at the end of the log gets records produced
// after it started waiting. Its fetches wait longer than the test's
// deadline, so only the append's wake-up can answer them in time.
func TestKgoLiveTail(t *testing.T) {
	b := startBroker(t)
	b.createTopic("tail", 1)
	ctx := testContext(t)
	cons := b.newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"tail": {0: kgo.NewOffset().At(0)}}),
		kgo.FetchMaxWait(2*testWait))
	got := make(chan []*kgo.Record, 1)
	go func() {
		var out []*kgo.Record
		for len(out) < 5 && ctx.Err() == nil {
			out = append(out, cons.PollFetches(ctx).Records()...)
		}
		got <- out
	}()
	recs := testRecords("tail", 0, 5)
	prod := b.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, r := range recs {
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sameRecords(t, <-got, recs, 0)
}

// TestKgoListOffsets: earliest, latest, by time and the largest timestamp.
func TestKgoListOffsets(t *testing.T) {
	b := startBroker(t)
	b.createTopic("lo", 2)
	ctx := testContext(t)
	adm := b.admin()
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("lo", 1); o.Offset != 0 || o.Err != nil {
		t.Fatalf("empty partition's end = %+v", o)
	}
	recs := testRecords("lo", 1, 30)
	recs[12].Timestamp = recs[29].Timestamp.Add(time.Hour) // the largest, out of order
	cl := b.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	for i := 0; i < len(recs); i += 10 { // three batches
		if err := cl.ProduceSync(ctx, recs[i:i+10]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, l kadm.ListedOffsets, err error, wantOffset, wantTs int64) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o, ok := l.Lookup("lo", 1)
		if !ok || o.Err != nil || o.Offset != wantOffset || (wantTs != -1 && o.Timestamp != wantTs) {
			t.Errorf("%s = %+v, want offset %d timestamp %d", name, o, wantOffset, wantTs)
		}
	}
	l, err := adm.ListStartOffsets(ctx, "lo")
	check("start", l, err, 0, -1)
	l, err = adm.ListEndOffsets(ctx, "lo")
	check("end", l, err, 30, -1)
	l, err = adm.ListOffsetsAfterMilli(ctx, recs[15].Timestamp.UnixMilli(), "lo")
	check("after record 15's time", l, err, 12, recs[12].Timestamp.UnixMilli()) // record 12 is later still
	l, err = adm.ListOffsetsAfterMilli(ctx, recs[3].Timestamp.UnixMilli(), "lo")
	check("after record 3's time", l, err, 3, recs[3].Timestamp.UnixMilli())
	l, err = adm.ListMaxTimestampOffsets(ctx, "lo")
	check("max timestamp", l, err, 12, recs[12].Timestamp.UnixMilli())
	// After every record's time: none; kadm answers with the end offset.
	l, err = adm.ListOffsetsAfterMilli(ctx, recs[12].Timestamp.UnixMilli()+1, "lo")
	check("after the last time", l, err, 30, -1)
}

// TestKgoTopicsAdmin: create, describe, delete, and topic IDs.
func TestKgoTopicsAdmin(t *testing.T) {
	b := startBroker(t)
	ctx := testContext(t)
	adm := b.admin()
	resp, err := adm.CreateTopics(ctx, 4, 1, nil, "t1", "t2")
	if err != nil || resp.Error() != nil {
		t.Fatalf("CreateTopics = %v, %v", resp, err)
	}
	if r, err := adm.CreateTopic(ctx, 1, 1, nil, "t1"); !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		t.Errorf("create t1 again = %+v, %v; want TOPIC_ALREADY_EXISTS", r, err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3"); !errors.Is(r.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("replication factor 3 = %v, want INVALID_REPLICATION_FACTOR", r.Err)
	}
	if r, _ := adm.ValidateCreateTopics(ctx, 2, 1, nil, "dry"); r.Error() != nil {
		t.Errorf("validate-only create = %v", r.Error())
	}
	if _, err := b.reg.Partition("dry", 0); err == nil {
		t.Error("validate-only create made the topic")
	}
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 1 || md.Brokers[0].NodeID != NodeID || md.Controller != NodeID {
		t.Errorf("brokers %+v controller %d", md.Brokers, md.Controller)
	}
	t1 := md.Topics["t1"]
	if len(t1.Partitions) != 4 || t1.ID == [16]byte{} || md.Topics["t2"].ID == t1.ID {
		t.Fatalf("t1 = %+v; t2 id %v", t1, md.Topics["t2"].ID)
	}
	for _, p := range t1.Partitions {
		if p.Leader != NodeID || len(p.Replicas) != 1 || len(p.ISR) != 1 || p.Err != nil {
			t.Errorf("t1 partition %+v", p)
		}
	}
	dr, err := adm.DeleteTopics(ctx, "t1")
	if err != nil || dr.Error() != nil {
		t.Fatalf("DeleteTopics = %v, %v", dr, err)
	}
	// A new client each time: kgo answers Metadata from its cache for a while.
	adm = b.admin()
	if md, _ := adm.Metadata(ctx, "t1"); !errors.Is(md.Topics["t1"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleted t1's metadata err = %v", md.Topics["t1"].Err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "t1"); err != nil {
		t.Fatal(err)
	}
	md2, _ := b.admin().Metadata(ctx, "t1", "t2")
	if md2.Topics["t1"].ID == t1.ID || md2.Topics["t2"].ID != md.Topics["t2"].ID {
		t.Errorf("ids after recreating t1: t1 %v (was %v), t2 %v (was %v); want t1 new, t2 the same",
			md2.Topics["t1"].ID, t1.ID, md2.Topics["t2"].ID, md.Topics["t2"].ID)
	}
}

// TestKgoAutoCreate: with the option on, producing to a topic that does
// not exist makes it; with it off, the producer is told it is unknown.
func TestKgoAutoCreate(t *testing.T) {
	on := startBroker(t, func(o *Options) { o.AutoCreateTopics = true })
	ctx := testContext(t)
	cl := on.newClient(kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := on.reg.Partition("auto", 0); err != nil {
		t.Errorf("auto topic: %v", err)
	}

	off := startBroker(t)
	cl = off.newClient(kgo.AllowAutoTopicCreation(), kgo.RecordDeliveryTimeout(time.Second))
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "auto", Value: []byte("v")}).FirstErr()
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("produce to an unknown topic with auto-create off = %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}
