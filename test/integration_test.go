package test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// TestTopicLifecycle: CreateTopic, ListTopics (sorted), GetOffsets and
// DeleteTopic, and a topic created again after a delete starts empty.
func TestTopicLifecycle(t *testing.T) {
	b := startInproc(t)
	c := b.Client()
	ctx := testContext(t)

	empty, err := c.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil || len(empty.GetTopics()) != 0 {
		t.Fatalf("ListTopics of a new broker = %v, %v; want none", empty.GetTopics(), err)
	}
	resp, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: "orders", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TopicMetadata{Name: "orders", Partitions: []uint32{0, 1, 2}}
	if !proto.Equal(resp.GetTopic(), want) {
		t.Errorf("CreateTopic = %v, want %v", resp.GetTopic(), want)
	}
	b.createTopic("audit", 1)
	b.createTopic("Zeta", 2)

	list, err := c.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range list.GetTopics() {
		names = append(names, tp.GetName())
		if tp.GetName() == "orders" && !proto.Equal(tp, want) {
			t.Errorf("ListTopics has %v, want %v", tp, want)
		}
	}
	if wantNames := []string{"Zeta", "audit", "orders"}; !slices.Equal(names, wantNames) {
		t.Errorf("ListTopics names = %q, want %q (sorted)", names, wantNames)
	}

	b.produce("orders", 1, vals("a", "b")...)
	offs, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	wantOffs := []*pb.PartitionOffsets{
		{Partition: 0, LogStartOffset: 0, NextOffset: 0},
		{Partition: 1, LogStartOffset: 0, NextOffset: 2},
		{Partition: 2, LogStartOffset: 0, NextOffset: 0},
	}
	if !slices.EqualFunc(offs.GetPartitions(), wantOffs, func(a, b *pb.PartitionOffsets) bool { return proto.Equal(a, b) }) {
		t.Errorf("GetOffsets = %v, want %v", offs.GetPartitions(), wantOffs)
	}

	if _, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	list, err = c.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetTopics()) != 2 {
		t.Errorf("ListTopics after delete = %v, want Zeta and audit", list.GetTopics())
	}
	_, err = c.Produce(ctx, &pb.ProduceRequest{Topic: "orders", Partition: 1, Records: vals("x")})
	requireCode(t, "Produce to a deleted topic", err, codes.NotFound, "orders")
	_, err = c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "orders"})
	requireCode(t, "DeleteTopic twice", err, codes.NotFound, "orders")

	// Created again, it holds nothing of the old data.
	b.createTopic("orders", 2)
	if o := b.offsets("orders", 1); o.GetNextOffset() != 0 || o.GetLogStartOffset() != 0 {
		t.Errorf("recreated topic has offsets %v, want 0/0", o)
	}
	if got := b.readAll("orders", 1, 0); len(got) != 0 {
		t.Errorf("recreated topic holds %q", valuesOf(got))
	}
	if r := b.produce("orders", 1, vals("new")...); r.GetBaseOffset() != 0 {
		t.Errorf("first produce to the recreated topic got offset %d, want 0", r.GetBaseOffset())
	}
}

// TestCreateTopicRace: of many concurrent creates of one name exactly one
// wins and the others get ALREADY_EXISTS.
func TestCreateTopicRace(t *testing.T) {
	b := startInproc(t)
	c := b.Client()
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.CreateTopic(testContext(t), &pb.CreateTopicRequest{Name: "race", Partitions: uint32(i%4 + 1)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		requireCode(t, "losing CreateTopic", err, codes.AlreadyExists, "race")
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want exactly 1", ok)
	}
}

// TestProduceAcks: ACKS_LEADER (and UNSPECIFIED, which behaves as it)
// answers with the offsets of records already readable; ACKS_NONE answers
// 0/0 once the request is handed to the partition, so a later acknowledged
// request from the same client lands after it.
func TestProduceAcks(t *testing.T) {
	for _, mode := range []partition.FsyncMode{partition.FsyncAlways, partition.FsyncInterval, partition.FsyncNever} {
		t.Run(mode.String(), func(t *testing.T) {
			testProduceAcks(t, startInproc(t, func(c *partition.Config, _ *server.Options) { c.Fsync = mode }))
		})
	}
}

func testProduceAcks(t *testing.T, b *inproc) {
	b.createTopic("acks", 1)
	c := b.Client()
	ctx := testContext(t)

	var next uint64
	for i, acks := range []pb.Acks{pb.Acks_ACKS_LEADER, pb.Acks_ACKS_UNSPECIFIED, pb.Acks_ACKS_LEADER} {
		recs := vals(fmt.Sprintf("l%d-0", i), fmt.Sprintf("l%d-1", i), fmt.Sprintf("l%d-2", i))
		resp, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "acks", Records: recs, Acks: acks})
		if err != nil {
			t.Fatalf("Produce %s: %v", acks, err)
		}
		if resp.GetBaseOffset() != next || resp.GetLastOffset() != next+2 {
			t.Fatalf("Produce %s = [%d, %d], want [%d, %d]", acks, resp.GetBaseOffset(), resp.GetLastOffset(), next, next+2)
		}
		next += 3
		// Acknowledged means readable now: no wait.
		got := b.readAll("acks", 0, resp.GetBaseOffset())
		if len(got) != 3 || string(got[2].GetValue()) != fmt.Sprintf("l%d-2", i) {
			t.Fatalf("right after an acknowledged produce, read %q", valuesOf(got))
		}
	}

	const none = 50
	for i := range none {
		resp, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "acks", Records: vals(fmt.Sprintf("n%d", i)), Acks: pb.Acks_ACKS_NONE})
		if err != nil {
			t.Fatalf("Produce ACKS_NONE %d: %v", i, err)
		}
		if resp.GetBaseOffset() != 0 || resp.GetLastOffset() != 0 {
			t.Fatalf("Produce ACKS_NONE answered [%d, %d], want [0, 0]", resp.GetBaseOffset(), resp.GetLastOffset())
		}
	}
	resp := b.produce("acks", 0, vals("last")...)
	if want := next + none; resp.GetBaseOffset() != want {
		t.Fatalf("acknowledged produce after %d ACKS_NONE requests got offset %d, want %d", none, resp.GetBaseOffset(), want)
	}
	got := b.readAll("acks", 0, next)
	for i := range none {
		if v := string(got[i].GetValue()); v != fmt.Sprintf("n%d", i) {
			t.Fatalf("offset %d holds %q, want n%d (ACKS_NONE requests in order)", next+uint64(i), v, i)
		}
	}

	// ACKS_NONE alone becomes visible without any acknowledged request.
	if _, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "acks", Records: vals("lonely"), Acks: pb.Acks_ACKS_NONE}); err != nil {
		t.Fatal(err)
	}
	want := resp.GetBaseOffset() + 2
	testutil.WaitFor(t, "the ACKS_NONE record to be visible", func() bool { return b.offsets("acks", 0).GetNextOffset() == want })
	if got := b.readAll("acks", 0, want-1); len(got) != 1 || string(got[0].GetValue()) != "lonely" {
		t.Fatalf("read %q, want [lonely]", valuesOf(got))
	}
}

// TestProduceIsAtomicAndOrdered: concurrent multi-record requests each land
// at consecutive offsets, in request order, at the offsets acknowledged.
func TestProduceIsAtomicAndOrdered(t *testing.T) {
	b := startInproc(t)
	b.createTopic("atomic", 1)
	c := b.Client()
	const producers, requests, per = 4, 25, 7
	type ack struct {
		base, last uint64
		vals       []string
	}
	acks := make(chan ack, producers*requests)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range requests {
				var vs []string
				for i := range per {
					vs = append(vs, fmt.Sprintf("p%d-r%d-%d", p, r, i))
				}
				resp, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "atomic", Records: vals(vs...)})
				if err != nil {
					t.Errorf("Produce: %v", err)
					return
				}
				acks <- ack{resp.GetBaseOffset(), resp.GetLastOffset(), vs}
			}
		}()
	}
	wg.Wait()
	close(acks)
	got := valuesOf(b.readAll("atomic", 0, 0))
	if len(got) != producers*requests*per {
		t.Fatalf("read %d records, want %d", len(got), producers*requests*per)
	}
	for a := range acks {
		if a.last-a.base != per-1 {
			t.Fatalf("acknowledged [%d, %d] for %d records", a.base, a.last, per)
		}
		if !slices.Equal(got[a.base:a.last+1], a.vals) {
			t.Fatalf("offsets [%d, %d] hold %q, want %q", a.base, a.last, got[a.base:a.last+1], a.vals)
		}
	}
}

// TestStopAtEnd: stop_at_end ends the stream once caught up, on an empty
// log, at the end and in the middle; starting at the end is "caught up",
// not OUT_OF_RANGE.
func TestStopAtEnd(t *testing.T) {
	b := startInproc(t)
	b.createTopic("s", 2)
	b.produce("s", 0, vals("a", "b", "c", "d")...)
	c := b.Client()
	tests := []struct {
		name string
		req  *pb.ConsumeRequest
		want []string
	}{
		{"empty partition", &pb.ConsumeRequest{Topic: "s", Partition: 1}, nil},
		{"empty partition, earliest", &pb.ConsumeRequest{Topic: "s", Partition: 1, Start: pb.Start_START_EARLIEST}, nil},
		{"from 0", &pb.ConsumeRequest{Topic: "s"}, []string{"a", "b", "c", "d"}},
		{"from the middle", &pb.ConsumeRequest{Topic: "s", Offset: 2}, []string{"c", "d"}},
		{"from the end", &pb.ConsumeRequest{Topic: "s", Offset: 4}, nil},
		{"earliest", &pb.ConsumeRequest{Topic: "s", Start: pb.Start_START_EARLIEST, Offset: 3}, []string{"a", "b", "c", "d"}},
		{"latest", &pb.ConsumeRequest{Topic: "s", Start: pb.Start_START_LATEST}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.StopAtEnd = true
			got, err := consumeToEnd(testContext(t), c, tt.req)
			if err != nil {
				t.Fatalf("Consume: %v", err)
			}
			if !slices.Equal(valuesOf(got), tt.want) {
				t.Errorf("Consume = %q, want %q", valuesOf(got), tt.want)
			}
			batches, err := consumeBatchesToEnd(testContext(t), c, tt.req)
			if err != nil {
				t.Fatalf("ConsumeBatches: %v", err)
			}
			var flat []*pb.LogEntry
			for _, bt := range batches {
				if len(bt.GetEntries()) == 0 {
					t.Errorf("ConsumeBatches sent an empty batch")
				}
				flat = append(flat, bt.GetEntries()...)
			}
			if !slices.Equal(valuesOf(flat), tt.want) {
				t.Errorf("ConsumeBatches = %q, want %q", valuesOf(flat), tt.want)
			}
		})
	}
}

// TestMaxBytesBatching: each ConsumeBatches message is one read of at most
// max_bytes, yet always at least one record, even a record larger than
// max_bytes; both stream kinds deliver everything in order.
func TestMaxBytesBatching(t *testing.T) {
	b := startInproc(t)
	b.createTopic("mb", 1)
	var want []string
	for i := range 200 {
		v := fmt.Sprintf("%03d-%s", i, bytes.Repeat([]byte{'v'}, 90))
		if i%50 == 7 {
			v = fmt.Sprintf("%03d-%s", i, bytes.Repeat([]byte{'L'}, 5000)) // larger than every max_bytes below
		}
		want = append(want, v)
	}
	for i := 0; i < len(want); i += 10 {
		b.produce("mb", 0, vals(want[i:i+10]...)...)
	}
	c := b.Client()
	// Requests hold 10 records each: 13 and 57 start inside one.
	for _, from := range []uint64{0, 13, 57} {
		for _, maxBytes := range []uint32{1, 100, 1000, 4096, 0, 1 << 31} {
			t.Run(fmt.Sprintf("from=%d/max_bytes=%d", from, maxBytes), func(t *testing.T) {
				want, wantOffsets := want[from:], seq(from, uint64(len(want)))
				req := &pb.ConsumeRequest{Topic: "mb", Offset: from, MaxBytes: maxBytes, StopAtEnd: true}
				batches, err := consumeBatchesToEnd(testContext(t), c, req)
				if err != nil {
					t.Fatal(err)
				}
				var flat []*pb.LogEntry
				multi := 0
				for _, bt := range batches {
					n := len(bt.GetEntries())
					if n == 0 {
						t.Fatal("an empty batch")
					}
					if size := proto.Size(bt); maxBytes > 0 && n > 1 && size > int(maxBytes) {
						t.Errorf("a batch of %d entries is %d bytes, over max_bytes %d", n, size, maxBytes)
					}
					if n > 1 {
						multi++
					}
					flat = append(flat, bt.GetEntries()...)
				}
				if !slices.Equal(valuesOf(flat), want) || !slices.Equal(offsetsOf(flat), wantOffsets) {
					t.Fatalf("ConsumeBatches delivered %d records from %d, not the %d produced, densely and in order", len(flat), from, len(want))
				}
				switch {
				case maxBytes == 1 && len(batches) != len(want):
					t.Errorf("max_bytes 1 gave %d batches, want one per record (%d)", len(batches), len(want))
				case maxBytes == 1000 && (len(batches) < 15 || multi == 0):
					t.Errorf("max_bytes 1000 over ~20 KB gave %d batches (%d with several entries)", len(batches), multi)
				case (maxBytes == 0 || maxBytes == 1<<31) && len(batches) != 1:
					t.Errorf("max_bytes %d over ~40 KB gave %d batches, want 1", maxBytes, len(batches))
				}
				t.Logf("from %d, max_bytes %d: %d batches", from, maxBytes, len(batches))

				entries, err := consumeToEnd(testContext(t), c, req)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(valuesOf(entries), want) || !slices.Equal(offsetsOf(entries), wantOffsets) {
					t.Fatalf("Consume delivered %d records from %d, not the %d produced, densely and in order", len(entries), from, len(want))
				}
			})
		}
	}
}

// seq is [from, to).
func seq(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from)
	for o := from; o < to; o++ {
		out = append(out, o)
	}
	return out
}

// TestStartPositions: START_AT_OFFSET, START_EARLIEST and START_LATEST on
// live streams; LATEST delivers only what is appended after it started.
func TestStartPositions(t *testing.T) {
	b := startInproc(t)
	c := b.Client()
	tests := []struct {
		name    string
		req     *pb.ConsumeRequest
		wantOld []string // delivered before anything new
	}{
		{"at offset 0", &pb.ConsumeRequest{}, []string{"a", "b", "c"}},
		{"at offset 1", &pb.ConsumeRequest{Offset: 1}, []string{"b", "c"}},
		{"at the end", &pb.ConsumeRequest{Offset: 3}, nil},
		{"earliest ignores offset", &pb.ConsumeRequest{Start: pb.Start_START_EARLIEST, Offset: 2}, []string{"a", "b", "c"}},
		{"latest ignores offset", &pb.ConsumeRequest{Start: pb.Start_START_LATEST, Offset: 1}, nil},
		{"latest ignores an offset past the end", &pb.ConsumeRequest{Start: pb.Start_START_LATEST, Offset: 99}, nil},
	}
	for i, tt := range tests {
		for _, batches := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s batches=%v", tt.name, batches), func(t *testing.T) {
				topic := fmt.Sprintf("pos-%d-%v", i, batches)
				b.createTopic(topic, 1)
				b.produce(topic, 0, vals("a", "b", "c")...)
				req := proto.Clone(tt.req).(*pb.ConsumeRequest)
				req.Topic = topic
				tail := openTail(t, c, req, batches)
				var old []string
				for range tt.wantOld {
					old = append(old, string(tail.next(t).GetValue()))
				}
				if !slices.Equal(old, tt.wantOld) {
					t.Fatalf("delivered %q first, want %q", old, tt.wantOld)
				}
				got, next := b.syncTails(topic, 0, tail)
				if !isMarker(got[0][0]) || got[0][0].GetOffset() < 3 {
					t.Fatalf("after %q the stream delivered %q at offset %d, want only new records", old, got[0][0].GetValue(), got[0][0].GetOffset())
				}
				b.produce(topic, 0, vals("new")...)
				if e := tail.next(t); string(e.GetValue()) != "new" || e.GetOffset() != next {
					t.Fatalf("got %q at %d, want \"new\" at %d", e.GetValue(), e.GetOffset(), next)
				}
			})
		}
	}
}

// TestLiveTail: consumers waiting at the end of the log are woken by each
// append. The wake latency (from sending Produce to receiving the entry) is
// logged; it is asserted only against a bound no healthy run comes near.
func TestLiveTail(t *testing.T) {
	b := startInproc(t)
	b.createTopic("tail", 1)
	c := b.Client()
	const tails, rounds = 4, 30
	streams := make([]*tailStream, tails)
	for i := range streams {
		streams[i] = openTail(t, c, &pb.ConsumeRequest{Topic: "tail", Start: pb.Start_START_LATEST}, i%2 == 1)
	}
	b.syncTails("tail", 0, streams...)
	var lat []time.Duration
	for r := range rounds {
		v := fmt.Sprintf("r%d", r)
		start := time.Now()
		off := b.produce("tail", 0, &pb.Record{Value: []byte(v)}).GetBaseOffset()
		for i, s := range streams {
			e := s.next(t)
			if i == 0 {
				lat = append(lat, time.Since(start))
			}
			if string(e.GetValue()) != v || e.GetOffset() != off {
				t.Fatalf("tail %d got %q at %d, want %q at %d", i, e.GetValue(), e.GetOffset(), v, off)
			}
		}
	}
	// An ACKS_NONE append wakes them as well.
	if _, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "tail", Records: vals("unacked"), Acks: pb.Acks_ACKS_NONE}); err != nil {
		t.Fatal(err)
	}
	for i, s := range streams {
		if e := s.next(t); string(e.GetValue()) != "unacked" {
			t.Fatalf("tail %d got %q after an ACKS_NONE append", i, e.GetValue())
		}
	}
	slices.Sort(lat)
	t.Logf("live tail, produce sent (acks leader, fsync always) to entry received, %d rounds: min %s, median %s, max %s",
		rounds, lat[0], lat[len(lat)/2], lat[len(lat)-1])
	if lat[len(lat)/2] > 2*time.Second {
		t.Errorf("median wake latency %s: consumers are not woken by appends", lat[len(lat)/2])
	}
}

// TestTailOfDeletedTopic: live tails on a topic that is deleted end with
// NOT_FOUND naming it, rather than hanging.
func TestTailOfDeletedTopic(t *testing.T) {
	b := startInproc(t)
	b.createTopic("doomed", 1)
	c := b.Client()
	tails := []*tailStream{
		openTail(t, c, &pb.ConsumeRequest{Topic: "doomed"}, false),
		openTail(t, c, &pb.ConsumeRequest{Topic: "doomed"}, true),
	}
	b.syncTails("doomed", 0, tails...)
	if _, err := c.DeleteTopic(testContext(t), &pb.DeleteTopicRequest{Name: "doomed"}); err != nil {
		t.Fatal(err)
	}
	for i, s := range tails {
		requireCode(t, fmt.Sprintf("tail %d of a deleted topic", i), s.end(t), codes.NotFound, "doomed")
	}
}

// TestRecordsRoundTrip: keys, headers and timestamps come back identical
// through Consume and ConsumeBatches; timestamp 0 is stamped with the append
// time.
func TestRecordsRoundTrip(t *testing.T) {
	b := startInproc(t)
	b.createTopic("rt", 1)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	recs := []*pb.Record{
		{Value: []byte("plain"), TimestampMs: 1},
		{Key: []byte("k"), Value: []byte("v"), TimestampMs: 1_700_000_000_123},
		{Key: all, Value: all, TimestampMs: math.MaxInt64},
		{Key: []byte{}, Value: []byte{}, TimestampMs: 42},
		{Value: bytes.Repeat([]byte("big"), 100_000), TimestampMs: 7},
		{Key: []byte("h"), Headers: []*pb.Header{
			{Key: "trace-id", Value: []byte("abc")},
			{Key: "trace-id", Value: []byte("dup key, kept in order")},
			{Key: "", Value: []byte("empty key")},
			{Key: "empty-value"},
			{Key: "ключ ✓", Value: all},
		}, TimestampMs: 9},
		{Value: []byte("negative time"), TimestampMs: -1000},
		{Value: []byte("stamped")}, // timestamp 0: the broker stamps it
	}
	before := time.Now().UnixMilli()
	resp := b.produce("rt", 0, recs[:4]...)
	b.produce("rt", 0, recs[4:]...)
	after := time.Now().UnixMilli()
	if resp.GetBaseOffset() != 0 {
		t.Fatalf("base offset %d", resp.GetBaseOffset())
	}

	c := b.Client()
	req := &pb.ConsumeRequest{Topic: "rt", StopAtEnd: true}
	entries, err := consumeToEnd(testContext(t), c, req)
	if err != nil {
		t.Fatal(err)
	}
	batches, err := consumeBatchesToEnd(testContext(t), c, req)
	if err != nil {
		t.Fatal(err)
	}
	var flat []*pb.LogEntry
	for _, bt := range batches {
		flat = append(flat, bt.GetEntries()...)
	}
	for name, got := range map[string][]*pb.LogEntry{"Consume": entries, "ConsumeBatches": flat} {
		if len(got) != len(recs) {
			t.Fatalf("%s: %d entries, want %d", name, len(got), len(recs))
		}
		for i, r := range recs {
			want := &pb.LogEntry{Offset: uint64(i), Key: r.GetKey(), Value: r.GetValue(), Headers: r.GetHeaders(), TimestampMs: r.GetTimestampMs()}
			if r.GetTimestampMs() == 0 {
				ts := got[i].GetTimestampMs()
				if ts < before || ts > after {
					t.Errorf("%s: stamped timestamp %d outside the produce window [%d, %d]", name, ts, before, after)
				}
				want.TimestampMs = ts
			}
			if !proto.Equal(got[i], want) {
				t.Errorf("%s: offset %d:\n got %v\nwant %v", name, i, abbrev(got[i]), abbrev(want))
			}
		}
	}
}

// abbrev prints an entry with long payloads cut short.
func abbrev(e *pb.LogEntry) string {
	cut := func(b []byte) string {
		if len(b) > 40 {
			return fmt.Sprintf("%q...(%d bytes)", b[:40], len(b))
		}
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("{offset %d key %s value %s headers %v ts %d}", e.GetOffset(), cut(e.GetKey()), cut(e.GetValue()), e.GetHeaders(), e.GetTimestampMs())
}

// TestOffsetsAreReadable: while producers append, every next offset that
// GetOffsets reports is readable at once: the record before it is served,
// and starting at it is "caught up", never OUT_OF_RANGE.
func TestOffsetsAreReadable(t *testing.T) {
	b := startInproc(t)
	b.createTopic("readable", 1)
	c := b.Client()
	ctx, cancel := context.WithCancel(testContext(t))
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "readable", Records: vals(fmt.Sprintf("p%d-%d", p, i), "x"),
					Acks: []pb.Acks{pb.Acks_ACKS_LEADER, pb.Acks_ACKS_NONE}[i%2]})
				if err != nil && ctx.Err() == nil {
					t.Errorf("Produce: %v", err)
					return
				}
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	var last uint64
	for checked := 0; checked < 50; {
		next := b.offsets("readable", 0).GetNextOffset()
		if next < last {
			t.Fatalf("next offset went back from %d to %d", last, next)
		}
		last = next
		if next == 0 {
			continue
		}
		checked++
		got, err := consumeToEnd(testContext(t), c, &pb.ConsumeRequest{Topic: "readable", Offset: next - 1, StopAtEnd: true})
		if err != nil || len(got) == 0 || got[0].GetOffset() != next-1 {
			t.Fatalf("GetOffsets said next %d, but reading from %d gave %d entries, %v", next, next-1, len(got), err)
		}
		if _, err := consumeBatchesToEnd(testContext(t), c, &pb.ConsumeRequest{Topic: "readable", Offset: next, StopAtEnd: true}); err != nil {
			t.Fatalf("reading from the reported next offset %d: %v", next, err)
		}
	}
}

// TestBatchesFitADefaultClient: however large a max_bytes a consumer asks
// for, a batch fits a gRPC client left at its default 4 MiB receive limit.
func TestBatchesFitADefaultClient(t *testing.T) {
	b := startInproc(t)
	b.createTopic("wide", 1)
	// 5 MiB in records of odd sizes near 100 KB, so that batches end
	// close to any limit.
	total := 0
	for i := 0; total < 5<<20; i++ {
		var recs []*pb.Record
		for j := range 8 {
			n := 100_000 + (i*8+j)*7919%4096
			recs = append(recs, &pb.Record{Key: []byte(strconv.Itoa(i*8 + j)), Value: bytes.Repeat([]byte{byte(j)}, n)})
			total += n
		}
		b.produce("wide", 0, recs...)
	}
	t.Logf("produced %d bytes", total)
	want := b.offsets("wide", 0).GetNextOffset()
	conn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	plain := pb.NewBrokerServiceClient(conn)
	for _, maxBytes := range []uint32{0, 4 << 20, 1<<32 - 1} {
		batches, err := consumeBatchesToEnd(testContext(t), plain, &pb.ConsumeRequest{Topic: "wide", MaxBytes: maxBytes, StopAtEnd: true})
		if err != nil {
			t.Fatalf("max_bytes %d: %v", maxBytes, err)
		}
		var n uint64
		largest := 0
		for _, bt := range batches {
			n += uint64(len(bt.GetEntries()))
			largest = max(largest, proto.Size(bt))
		}
		if n != want {
			t.Fatalf("max_bytes %d: %d entries, want %d", maxBytes, n, want)
		}
		t.Logf("max_bytes %d: %d batches, largest %d bytes", maxBytes, len(batches), largest)
	}
}

// TestLargeRequest: one request of 20,000 records is stored atomically at
// consecutive offsets, and a read may start anywhere inside it, also with a
// max_bytes far smaller than the request.
func TestLargeRequest(t *testing.T) {
	b := startInproc(t)
	b.createTopic("large", 1)
	b.produce("large", 0, vals("before")...)
	const n = 20_000
	recs := make([]*pb.Record, n)
	for i := range recs {
		recs[i] = &pb.Record{Value: []byte(strconv.Itoa(i))}
	}
	resp := b.produce("large", 0, recs...)
	if resp.GetBaseOffset() != 1 || resp.GetLastOffset() != n {
		t.Fatalf("acknowledged [%d, %d], want [1, %d]", resp.GetBaseOffset(), resp.GetLastOffset(), n)
	}
	// A smaller request after it, read record by record (max_bytes 1): one
	// read of its batch serves every message (BenchmarkConsumeInsideLargeRequest).
	const small = 300
	b.produce("large", 0, recs[:small]...)
	end := uint64(n + small + 1)
	for _, tt := range []struct {
		from     uint64
		maxBytes uint32
	}{{1, 0}, {2, 0}, {12_345, 0}, {n, 0}, {2, 64 << 10}, {12_345, 4096}, {n + 1, 1}, {n + 1 + small/2, 1}} {
		got, err := consumeBatchesToEnd(testContext(t), b.Client(), &pb.ConsumeRequest{Topic: "large", Offset: tt.from, MaxBytes: tt.maxBytes, StopAtEnd: true})
		if err != nil {
			t.Fatal(err)
		}
		var flat []*pb.LogEntry
		for _, bt := range got {
			flat = append(flat, bt.GetEntries()...)
		}
		if !slices.Equal(offsetsOf(flat), seq(tt.from, end)) {
			t.Fatalf("from %d (max_bytes %d): %d entries, not offsets %d to %d", tt.from, tt.maxBytes, len(flat), tt.from, end-1)
		}
		want := int(tt.from) - 1
		if tt.from > n {
			want -= n
		}
		if v := string(flat[0].GetValue()); v != strconv.Itoa(want) {
			t.Fatalf("offset %d holds %q, want %d", tt.from, v, want)
		}
	}
}

// BenchmarkConsumeInsideLargeRequest reads one produce request of N small
// records with max_bytes 1, one record per batch: it shows what a read that
// starts inside a stored request costs as the request grows (per record
// read; flat would mean no rescanning).
func BenchmarkConsumeInsideLargeRequest(b *testing.B) {
	for _, n := range []int{500, 1000, 2000, 4000} {
		b.Run(fmt.Sprintf("records=%d", n), func(bb *testing.B) {
			br := startInproc(bb)
			br.createTopic("large", 1)
			recs := make([]*pb.Record, n)
			for i := range recs {
				recs[i] = &pb.Record{Value: []byte(strconv.Itoa(i))}
			}
			br.produce("large", 0, recs...)
			bb.ResetTimer()
			for range bb.N {
				got, err := consumeBatchesToEnd(testContext(bb), br.Client(), &pb.ConsumeRequest{Topic: "large", MaxBytes: 1, StopAtEnd: true})
				if err != nil || len(got) != n {
					bb.Fatalf("%d batches, %v", len(got), err)
				}
			}
			bb.ReportMetric(float64(bb.Elapsed().Nanoseconds())/float64(bb.N*n), "ns/record")
		})
	}
}
