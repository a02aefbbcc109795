package server

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

func TestTopics(t *testing.T) {
	h := newHarness(t)
	ctx := testCtx(t)
	resp, err := h.client.CreateTopic(ctx, &pb.CreateTopicRequest{Name: "orders", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TopicMetadata{Name: "orders", Partitions: []uint32{0, 1, 2}}
	if !proto.Equal(resp.GetTopic(), want) {
		t.Errorf("CreateTopic = %v, want %v", resp.GetTopic(), want)
	}
	h.createTopic(t, "audit.log-v1", 1)

	list, err := h.client.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	wantList := &pb.ListTopicsResponse{Topics: []*pb.TopicMetadata{{Name: "audit.log-v1", Partitions: []uint32{0}}, want}}
	if !proto.Equal(list, wantList) {
		t.Errorf("ListTopics = %v, want %v", list, wantList)
	}

	if _, err := h.client.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "orders"}); err != nil {
		t.Fatal(err)
	}
	list, err = h.client.ListTopics(ctx, &pb.ListTopicsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetTopics()) != 1 || list.GetTopics()[0].GetName() != "audit.log-v1" {
		t.Errorf("ListTopics after delete = %v", list)
	}
}

func TestGetOffsets(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 2)
	h.produce(t, "t", 1, values("a", "b", "c")...)
	h.partition(t, "t", 1).truncateBefore(1)
	got, err := h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.GetOffsetsResponse{Partitions: []*pb.PartitionOffsets{
		{Partition: 0},
		{Partition: 1, LogStartOffset: 1, NextOffset: 3},
	}}
	if !proto.Equal(got, want) {
		t.Errorf("GetOffsets = %v, want %v", got, want)
	}
}

// TestGetOffsetsByTime asks each partition for the first offset at or
// after a time, with timestamps out of order in one partition and retention
// in the other, and answers next_offset past every record.
func TestGetOffsetsByTime(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 2)
	at := func(ts ...int64) []*pb.Record {
		out := make([]*pb.Record, len(ts))
		for i, v := range ts {
			out[i] = &pb.Record{Value: []byte("v"), TimestampMs: v}
		}
		return out
	}
	h.produce(t, "t", 0, at(100, 300, 200, 400)...)
	h.produce(t, "t", 1, at(100, 200, 300)...)
	h.partition(t, "t", 1).truncateBefore(1)
	for _, tt := range []struct {
		ts   int64
		want [2]uint64
	}{
		{0, [2]uint64{0, 0}}, // not asked: timestamp_offset stays 0
		{-5, [2]uint64{0, 1}},
		{100, [2]uint64{0, 1}},
		{150, [2]uint64{1, 1}},
		{250, [2]uint64{1, 2}},
		{300, [2]uint64{1, 2}},
		{301, [2]uint64{3, 3}},
		{401, [2]uint64{4, 3}},
	} {
		got, err := h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: "t", TimestampMs: tt.ts})
		if err != nil {
			t.Fatal(err)
		}
		want := &pb.GetOffsetsResponse{Partitions: []*pb.PartitionOffsets{
			{Partition: 0, NextOffset: 4, TimestampOffset: tt.want[0]},
			{Partition: 1, LogStartOffset: 1, NextOffset: 3, TimestampOffset: tt.want[1]},
		}}
		if !proto.Equal(got, want) {
			t.Errorf("GetOffsets at %d = %v, want %v", tt.ts, got, want)
		}
	}
}

func TestProduceOffsets(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	for _, tt := range []struct {
		acks               pb.Acks
		n                  int
		wantBase, wantLast uint64
	}{
		{pb.Acks_ACKS_UNSPECIFIED, 3, 0, 2},
		{pb.Acks_ACKS_LEADER, 1, 3, 3},
		{pb.Acks_ACKS_LEADER, 2, 4, 5},
	} {
		resp, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: values(make([]string, tt.n)...), Acks: tt.acks})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetBaseOffset() != tt.wantBase || resp.GetLastOffset() != tt.wantLast {
			t.Errorf("%s x%d: base, last = %d, %d, want %d, %d", tt.acks, tt.n, resp.GetBaseOffset(), resp.GetLastOffset(), tt.wantBase, tt.wantLast)
		}
	}
	if appends, async, _, _ := h.partition(t, "t", 0).stats(); appends != 3 || async != 0 {
		t.Errorf("Append calls %d, AppendAsync calls %d; want 3, 0", appends, async)
	}
}

func TestProduceAcksNone(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	h.produce(t, "t", 0, values("x", "y")...) // so that offsets would not be zero
	resp, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: values("a", "b"), Acks: pb.Acks_ACKS_NONE})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetBaseOffset() != 0 || resp.GetLastOffset() != 0 {
		t.Errorf("ACKS_NONE answered base %d, last %d; want zeros", resp.GetBaseOffset(), resp.GetLastOffset())
	}
	p := h.partition(t, "t", 0)
	if appends, async, _, _ := p.stats(); appends != 1 || async != 1 {
		t.Errorf("Append calls %d, AppendAsync calls %d; want 1, 1", appends, async)
	}
	entries := consumeAll(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: true})
	if len(entries) != 4 || string(entries[3].GetValue()) != "b" {
		t.Errorf("after ACKS_NONE the log holds %v", entries)
	}
}

// TestInvalidRequests sends bad input of every kind and checks the code, that
// the message names the bad value, and that storage was left unchanged.
func TestInvalidRequests(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxRecordBytes = 100 })
	h.createTopic(t, "t", 2)
	h.produce(t, "t", 0, values("a", "b", "c")...)
	h.partition(t, "t", 0).truncateBefore(1)
	big := strings.Repeat("x", 101)

	produce := func(req *pb.ProduceRequest) func() error {
		return func() error { _, err := h.client.Produce(testCtx(t), req); return err }
	}
	consume := func(req *pb.ConsumeRequest) func() error {
		return func() error { _, err := consumeEnd(t, h, req); return err }
	}
	consumeBatches := func(req *pb.ConsumeRequest) func() error {
		return func() error {
			s, err := h.client.ConsumeBatches(testCtx(t), req)
			if err != nil {
				return err
			}
			_, err = drain(t, s.Recv)
			return err
		}
	}
	create := func(name string, n uint32) func() error {
		return func() error {
			_, err := h.client.CreateTopic(testCtx(t), &pb.CreateTopicRequest{Name: name, Partitions: n})
			return err
		}
	}
	tests := []struct {
		name     string
		call     func() error
		wantCode codes.Code
		wantMsg  string
	}{
		{"create empty name", create("", 1), codes.InvalidArgument, `""`},
		{"create dot", create(".", 1), codes.InvalidArgument, `"."`},
		{"create dotdot", create("..", 1), codes.InvalidArgument, `".."`},
		{"create slash", create("a/b", 1), codes.InvalidArgument, `"a/b"`},
		{"create space", create("a b", 1), codes.InvalidArgument, `"a b"`},
		{"create too long", create(strings.Repeat("a", 250), 1), codes.InvalidArgument, "aaaa"},
		{"create 0 partitions", create("new", 0), codes.InvalidArgument, "partition count 0"},
		{"create too many partitions", create("new", 9), codes.InvalidArgument, "partition count 9"},
		{"create exists", create("t", 1), codes.AlreadyExists, `"t"`},
		{"delete bad name", func() error {
			_, err := h.client.DeleteTopic(testCtx(t), &pb.DeleteTopicRequest{Name: "a\x00"})
			return err
		}, codes.InvalidArgument, `"a\x00"`},
		{"delete unknown", func() error {
			_, err := h.client.DeleteTopic(testCtx(t), &pb.DeleteTopicRequest{Name: "nope"})
			return err
		}, codes.NotFound, `"nope"`},
		{"offsets bad name", func() error {
			_, err := h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: ".."})
			return err
		}, codes.InvalidArgument, `".."`},
		{"offsets unknown", func() error {
			_, err := h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: "nope"})
			return err
		}, codes.NotFound, `"nope"`},
		{"produce bad name", produce(&pb.ProduceRequest{Topic: "a*", Records: values("v")}), codes.InvalidArgument, `"a*"`},
		{"produce unknown topic", produce(&pb.ProduceRequest{Topic: "nope", Records: values("v")}), codes.NotFound, `"nope"`},
		{"produce unknown partition", produce(&pb.ProduceRequest{Topic: "t", Partition: 2, Records: values("v")}), codes.NotFound, "t/2"},
		{"produce no records", produce(&pb.ProduceRequest{Topic: "t"}), codes.InvalidArgument, "no records to produce to t/0"},
		{"produce record too large", produce(&pb.ProduceRequest{Topic: "t", Records: values("ok", big)}), codes.InvalidArgument, "record 1 is 101 bytes, over the maximum of 100"},
		{"produce headers too large", produce(&pb.ProduceRequest{Topic: "t", Records: []*pb.Record{{Value: []byte("v"), Headers: []*pb.Header{{Key: "h", Value: []byte(big)}}}}}), codes.InvalidArgument, "record 0 is 103 bytes"},
		{"produce acks all", produce(&pb.ProduceRequest{Topic: "t", Records: values("v"), Acks: pb.Acks_ACKS_ALL}), codes.InvalidArgument, "ACKS_ALL not supported"},
		{"produce unknown acks", produce(&pb.ProduceRequest{Topic: "t", Records: values("v"), Acks: 9}), codes.InvalidArgument, "acks value 9"},
		{"consume bad name", consume(&pb.ConsumeRequest{Topic: "", StopAtEnd: true}), codes.InvalidArgument, `""`},
		{"consume unknown topic", consume(&pb.ConsumeRequest{Topic: "nope", StopAtEnd: true}), codes.NotFound, `"nope"`},
		{"consume unknown partition", consume(&pb.ConsumeRequest{Topic: "t", Partition: 7}), codes.NotFound, "t/7"},
		{"consume unknown start", consume(&pb.ConsumeRequest{Topic: "t", Start: 7}), codes.InvalidArgument, "start value 7"},
		{"consume past next", consume(&pb.ConsumeRequest{Topic: "t", Offset: 4}), codes.OutOfRange, "offset 4"},
		{"consume below log start", consume(&pb.ConsumeRequest{Topic: "t", Offset: 0}), codes.OutOfRange, "offset 0"},
		{"consume batches past next", consumeBatches(&pb.ConsumeRequest{Topic: "t", Offset: 99, StopAtEnd: true}), codes.OutOfRange, "offset 99"},
		{"consume batches unknown start", consumeBatches(&pb.ConsumeRequest{Topic: "t", Start: -1}), codes.InvalidArgument, "start value -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, h)
			wantCode(t, tt.call(), tt.wantCode, tt.wantMsg)
			if after := snapshot(t, h); after != before {
				t.Errorf("storage changed:\n before %s\n after  %s", before, after)
			}
		})
	}
}

// snapshot describes everything stored, to check bad input changes nothing.
func snapshot(t *testing.T, h *harness) string {
	t.Helper()
	var b strings.Builder
	for _, ti := range h.reg.Topics() {
		for id := range ti.Partitions {
			p := h.partition(t, ti.Name, id)
			p.mu.Lock()
			fmt.Fprintf(&b, "%s/%d [%d,+%d) %x; ", ti.Name, id, p.logStart, len(p.entries), p.entries)
			p.mu.Unlock()
		}
	}
	return b.String()
}

// TestStorageErrors checks that each storage failure reaches the client as
// API.md's code, through every RPC that can meet it.
func TestStorageErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
	}{
		{"disk full", fmt.Errorf("%w: write t-0/00000000000000000000.log: no space left on device", partition.ErrDiskFull), codes.ResourceExhausted},
		{"too many open files", fmt.Errorf("%w: open t-0", partition.ErrTooManyOpenFiles), codes.ResourceExhausted},
		{"corrupt", fmt.Errorf("%w: crc mismatch at offset 7", partition.ErrCorrupt), codes.DataLoss},
		{"stopped", fmt.Errorf("%w: t/0", partition.ErrStopped), codes.Unavailable},
		{"failed", fmt.Errorf("%w: t/0 after EIO", partition.ErrFailed), codes.Unavailable},
		{"bug", fmt.Errorf("something odd at t/0"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.createTopic(t, "t", 1)
			h.produce(t, "t", 0, values("a")...)
			h.partition(t, "t", 0).setErr(tt.err)
			for _, acks := range []pb.Acks{pb.Acks_ACKS_LEADER, pb.Acks_ACKS_NONE} {
				_, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: values("v"), Acks: acks})
				wantCode(t, err, tt.wantCode, tt.err.Error())
			}
			for _, stop := range []bool{true, false} {
				_, err := consumeEnd(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: stop})
				wantCode(t, err, tt.wantCode, tt.err.Error())
			}
			h.reg.setErr(tt.err)
			_, err := h.client.CreateTopic(testCtx(t), &pb.CreateTopicRequest{Name: "u", Partitions: 1})
			wantCode(t, err, tt.wantCode, tt.err.Error())
			_, err = h.client.DeleteTopic(testCtx(t), &pb.DeleteTopicRequest{Name: "t"})
			wantCode(t, err, tt.wantCode, tt.err.Error())
			_, err = h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: "t"})
			wantCode(t, err, tt.wantCode, tt.err.Error())
		})
	}
}
