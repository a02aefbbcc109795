package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

// consumeEnd runs a Consume stream to its end.
func consumeEnd(t *testing.T, h *harness, req *pb.ConsumeRequest) ([]*pb.LogEntry, error) {
	t.Helper()
	s, err := h.client.Consume(testCtx(t), req)
	if err != nil {
		return nil, err
	}
	return drain(t, s.Recv)
}

func consumeAll(t *testing.T, h *harness, req *pb.ConsumeRequest) []*pb.LogEntry {
	t.Helper()
	got, err := consumeEnd(t, h, req)
	if err != nil {
		t.Fatalf("Consume(%v): %v", req, err)
	}
	return got
}

func consumeBatchesAll(t *testing.T, h *harness, req *pb.ConsumeRequest) []*pb.EntryBatch {
	t.Helper()
	s, err := h.client.ConsumeBatches(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := drain(t, s.Recv)
	if err != nil {
		t.Fatalf("ConsumeBatches(%v): %v", req, err)
	}
	return got
}

func flatten(batches []*pb.EntryBatch) []*pb.LogEntry {
	var out []*pb.LogEntry
	for _, b := range batches {
		out = append(out, b.GetEntries()...)
	}
	return out
}

// TestConsumeDecodesWithPB decodes what clients receive with the generated pb
// types and checks every field: the stored bytes are sent untouched, so this
// cross-checks the storage encoding against the protobuf library.
func TestConsumeDecodesWithPB(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	recs := []*pb.Record{
		{Key: []byte("k1"), Value: []byte("v1"), TimestampMs: 1_700_000_000_123},
		{Value: []byte("only value"), TimestampMs: 1},
		{Key: []byte("k3"), Headers: []*pb.Header{{Key: "trace", Value: []byte{0, 1, 2}}, {Key: "empty"}}, TimestampMs: 1 << 50},
		{Key: []byte{0xff, 0x00}, Value: []byte(strings.Repeat("z", 300)), TimestampMs: 5},
	}
	h.produce(t, "t", 0, recs...)
	want := make([]*pb.LogEntry, len(recs))
	for i, r := range recs {
		want[i] = &pb.LogEntry{Offset: uint64(i), Key: r.Key, Value: r.Value, Headers: r.Headers, TimestampMs: r.TimestampMs}
	}
	check := func(name string, got []*pb.LogEntry) {
		if len(got) != len(want) {
			t.Fatalf("%s: got %d entries, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Errorf("%s: entry %d = %v, want %v", name, i, got[i], want[i])
			}
		}
	}
	check("Consume", consumeAll(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: true}))
	check("ConsumeBatches", flatten(consumeBatchesAll(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: true})))
}

func TestConsumeStampsZeroTimestamp(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	h.produce(t, "t", 0, values("v")...)
	got := consumeAll(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: true})
	if len(got) != 1 || got[0].GetTimestampMs() == 0 {
		t.Errorf("got %v, want one entry with the append time", got)
	}
}

func TestConsumeStart(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	h.produce(t, "t", 0, values("a", "b", "c", "d")...)
	h.partition(t, "t", 0).truncateBefore(1)
	tests := []struct {
		name       string
		req        *pb.ConsumeRequest
		wantValues string
	}{
		{"earliest", &pb.ConsumeRequest{Start: pb.Start_START_EARLIEST, Offset: 3}, "bcd"},
		{"latest", &pb.ConsumeRequest{Start: pb.Start_START_LATEST}, ""},
		{"at offset", &pb.ConsumeRequest{Offset: 2}, "cd"},
		{"at log start", &pb.ConsumeRequest{Offset: 1}, "bcd"},
		{"at next: caught up", &pb.ConsumeRequest{Offset: 4}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Topic, tt.req.StopAtEnd = "t", true
			var got strings.Builder
			for _, e := range consumeAll(t, h, tt.req) {
				got.Write(e.GetValue())
			}
			if got.String() != tt.wantValues {
				t.Errorf("got %q, want %q", got.String(), tt.wantValues)
			}
		})
	}
}

// TestOutOfRangeVersusCaughtUp: the next offset is "caught up"; one past it,
// or one below the log start, is OUT_OF_RANGE and names the offset.
func TestOutOfRangeVersusCaughtUp(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	h.produce(t, "t", 0, values("a", "b", "c")...)
	h.partition(t, "t", 0).truncateBefore(2)
	tests := []struct {
		offset   uint64
		wantCode codes.Code
		wantN    int
	}{
		{1, codes.OutOfRange, 0},
		{2, codes.OK, 1},
		{3, codes.OK, 0},
		{4, codes.OutOfRange, 0},
		{1 << 60, codes.OutOfRange, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.offset), func(t *testing.T) {
			got, err := consumeEnd(t, h, &pb.ConsumeRequest{Topic: "t", Offset: tt.offset, StopAtEnd: true})
			if tt.wantCode == codes.OK && err != nil {
				t.Fatalf("err = %v, want caught up", err)
			}
			if tt.wantCode != codes.OK {
				wantCode(t, err, tt.wantCode, fmt.Sprintf("offset %d", tt.offset))
			}
			if len(got) != tt.wantN {
				t.Errorf("got %d entries, want %d", len(got), tt.wantN)
			}
		})
	}
}

func TestConsumeBatchesMaxBytes(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxReadBytes = 600 })
	h.createTopic(t, "t", 1)
	for i := range 10 {
		h.produce(t, "t", 0, &pb.Record{Value: []byte(fmt.Sprintf("%03d%s", i, strings.Repeat("x", 97))), TimestampMs: 1})
	}
	p := h.partition(t, "t", 0)
	p.mu.Lock()
	entrySize := len(p.entries[0]) // as stored: every entry has the same size
	p.mu.Unlock()
	tests := []struct {
		maxBytes  uint32
		wantBatch int // entries per batch (the last one may hold fewer)
	}{
		{0, 600 / entrySize},         // default, capped by MaxReadBytes
		{1, 1},                       // smaller than a record: still one record
		{uint32(entrySize), 1},       // exactly one
		{uint32(2*entrySize + 1), 2}, // two fit, three do not
		{uint32(3 * entrySize), 3},   // exactly three
		{1 << 31, 600 / entrySize},   // capped by MaxReadBytes
		{uint32(entrySize - 1), 1},   // just under one record
		{uint32(10 * entrySize), 600 / entrySize},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxBytes), func(t *testing.T) {
			batches := consumeBatchesAll(t, h, &pb.ConsumeRequest{Topic: "t", MaxBytes: tt.maxBytes, StopAtEnd: true})
			for i, b := range batches {
				n := len(b.GetEntries())
				if n != tt.wantBatch && !(i == len(batches)-1 && n < tt.wantBatch && n > 0) {
					t.Errorf("batch %d has %d entries, want %d", i, n, tt.wantBatch)
				}
			}
			for i, e := range flatten(batches) {
				if e.GetOffset() != uint64(i) || !strings.HasPrefix(string(e.GetValue()), fmt.Sprintf("%03d", i)) {
					t.Fatalf("entry %d is offset %d value %.3q: gap, duplicate or reorder", i, e.GetOffset(), e.GetValue())
				}
			}
			if got := len(flatten(batches)); got != 10 {
				t.Errorf("got %d entries, want 10", got)
			}
		})
	}
}

// tail is a live Consume or ConsumeBatches stream seen as a stream of entries.
type tail struct {
	recv   func() ([]*pb.LogEntry, error)
	cancel context.CancelFunc
}

func openTail(t *testing.T, h *harness, batches bool, req *pb.ConsumeRequest) tail {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	if batches {
		s, err := h.client.ConsumeBatches(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return tail{cancel: cancel, recv: func() ([]*pb.LogEntry, error) {
			b, err := s.Recv()
			return b.GetEntries(), err
		}}
	}
	s, err := h.client.Consume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return tail{cancel: cancel, recv: func() ([]*pb.LogEntry, error) {
		e, err := s.Recv()
		if err != nil {
			return nil, err
		}
		return []*pb.LogEntry{e}, nil
	}}
}

// waitCaughtUp waits until the partition has answered more than n caught-up
// reads: the tail has found nothing and is (about to be) waiting.
func waitCaughtUp(t *testing.T, p *fakePartition, n int) int {
	t.Helper()
	var got int
	testutil.WaitFor(t, "the tail to catch up", func() bool {
		_, _, got, _ = p.stats()
		return got > n
	})
	return got
}

// TestLiveTail checks that a waiting consumer is woken by an append: each
// record is produced only once the stream has caught up, and the wait is on
// receipt, bounded by the stream's deadline.
func TestLiveTail(t *testing.T) {
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprintf("batches=%v", batches), func(t *testing.T) {
			h := newHarness(t)
			h.createTopic(t, "t", 1)
			p := h.partition(t, "t", 0)
			tl := openTail(t, h, batches, &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_LATEST})
			seen := 0
			for i := range 5 {
				seen = waitCaughtUp(t, p, seen)
				h.produce(t, "t", 0, values(fmt.Sprint(i))...)
				got, err := tl.recv()
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0].GetOffset() != uint64(i) || string(got[0].GetValue()) != fmt.Sprint(i) {
					t.Fatalf("woke with %v, want offset %d", got, i)
				}
			}
			tl.cancel()
			testutil.WaitFor(t, "the subscription to close", func() bool { _, _, _, subs := p.stats(); return subs == 0 })
		})
	}
}

func TestTailEndsWhenPartitionStops(t *testing.T) {
	tests := []struct {
		name     string
		stop     func(h *harness, p *fakePartition)
		wantCode codes.Code
		wantMsg  string
	}{
		{"topic deleted", func(h *harness, p *fakePartition) {
			if _, err := h.client.DeleteTopic(context.Background(), &pb.DeleteTopicRequest{Name: "t"}); err != nil {
				t.Error(err)
			}
		}, codes.NotFound, `t/0 gone while consuming: partition: unknown topic: "t"`},
		{"partition stopped", func(h *harness, p *fakePartition) { p.stop() }, codes.Unavailable, "partition t/0 stopped: actor: stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.createTopic(t, "t", 1)
			p := h.partition(t, "t", 0)
			tl := openTail(t, h, false, &pb.ConsumeRequest{Topic: "t"})
			waitCaughtUp(t, p, 0)
			tt.stop(h, p)
			_, err := tl.recv()
			wantCode(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

// TestStopEndsStreams: Stop ends live tails with UNAVAILABLE and returns
// without waiting for its deadline.
func TestStopEndsStreams(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	p := h.partition(t, "t", 0)
	tails := []tail{
		openTail(t, h, false, &pb.ConsumeRequest{Topic: "t"}),
		openTail(t, h, true, &pb.ConsumeRequest{Topic: "t"}),
	}
	testutil.WaitFor(t, "both tails to subscribe and catch up", func() bool {
		_, _, caughtUp, subs := p.stats()
		return subs == 2 && caughtUp >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- h.srv.Stop(ctx) }()
	for _, tl := range tails {
		_, err := tl.recv()
		wantCode(t, err, codes.Unavailable, "shutting down")
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	testutil.WaitFor(t, "subscriptions to close", func() bool { _, _, _, subs := p.stats(); return subs == 0 })
}
