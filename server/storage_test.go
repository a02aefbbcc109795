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

var (
	_ Registry     = registryAdapter{}
	_ Partition    = partitionAdapter{}
	_ Subscription = (*partition.Subscription)(nil)
)

// newRealHarness serves the real storage on a temporary directory. Small
// segments make reads cross segment boundaries.
func newRealHarness(t *testing.T, cfg partition.Config) (*harness, *partition.Registry) {
	t.Helper()
	cfg.Logger = testLogger(t)
	if cfg.SegmentBytes == 0 {
		cfg.SegmentBytes = 4096
	}
	reg, err := partition.Open(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the server stops before storage closes.
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	h := serve(t, Options{Registry: FromRegistry(reg), MaxRecordBytes: cfg.MaxRecordBytes, MaxPartitions: cfg.MaxPartitions})
	return h, reg
}

// TestStorageEncodingDecodesWithPB is the cross-check of the storage format:
// records written by the real storage reach clients untouched, and the
// generated pb types must decode every field of them.
func TestStorageEncodingDecodesWithPB(t *testing.T) {
	h, _ := newRealHarness(t, partition.Config{})
	h.createTopic(t, "t", 2)
	var want []*pb.LogEntry
	for i := range 60 {
		r := &pb.Record{Value: []byte(fmt.Sprintf("value-%d-%s", i, strings.Repeat("v", i*7))), TimestampMs: int64(1_700_000_000_000 + i)}
		switch i % 4 {
		case 1:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
		case 2:
			r.Headers = []*pb.Header{{Key: "trace-id", Value: []byte{byte(i), 0, 0xff}}, {Key: "ключ", Value: nil}}
		case 3:
			r.Key, r.Value, r.TimestampMs = []byte{0}, nil, 1<<62
		}
		resp := h.produce(t, "t", 1, r)
		if resp.GetBaseOffset() != uint64(i) || resp.GetLastOffset() != uint64(i) {
			t.Fatalf("record %d stored at [%d, %d]", i, resp.GetBaseOffset(), resp.GetLastOffset())
		}
		want = append(want, &pb.LogEntry{Offset: uint64(i), Key: r.Key, Value: r.Value, Headers: r.Headers, TimestampMs: r.TimestampMs})
	}
	check := func(name string, got []*pb.LogEntry) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d entries, want %d", name, len(got), len(want))
		}
		for i := range want {
			if !proto.Equal(got[i], want[i]) {
				t.Fatalf("%s: entry %d =\n %v\nwant\n %v", name, i, got[i], want[i])
			}
		}
	}
	for _, maxBytes := range []uint32{0, 1, 700} {
		req := &pb.ConsumeRequest{Topic: "t", Partition: 1, MaxBytes: maxBytes, StopAtEnd: true}
		check(fmt.Sprintf("Consume max_bytes=%d", maxBytes), consumeAll(t, h, req))
		batches := consumeBatchesAll(t, h, req)
		check(fmt.Sprintf("ConsumeBatches max_bytes=%d", maxBytes), flatten(batches))
		if maxBytes == 1 && len(batches) != len(want) {
			t.Errorf("max_bytes=1 gave %d batches, want one per record", len(batches))
		}
	}
}

// TestStorageLiveTail: the real partition's wake-up reaches a waiting stream,
// including for ACKS_NONE appends.
func TestStorageLiveTail(t *testing.T) {
	h, _ := newRealHarness(t, partition.Config{})
	h.createTopic(t, "t", 1)
	for _, batches := range []bool{false, true} {
		offs, err := h.client.GetOffsets(testCtx(t), &pb.GetOffsetsRequest{Topic: "t"})
		if err != nil {
			t.Fatal(err)
		}
		next := offs.GetPartitions()[0].GetNextOffset()
		tl := openTail(t, h, batches, &pb.ConsumeRequest{Topic: "t", Offset: next})
		for i := range 6 {
			acks := pb.Acks_ACKS_LEADER
			if i%2 == 1 {
				acks = pb.Acks_ACKS_NONE
			}
			if _, err := h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: values(fmt.Sprint(i)), Acks: acks}); err != nil {
				t.Fatal(err)
			}
			got, err := tl.recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].GetOffset() != next || string(got[0].GetValue()) != fmt.Sprint(i) {
				t.Fatalf("woke with %v, want offset %d value %d", got, next, i)
			}
			next++
		}
		tl.cancel()
	}
}

// TestStorageErrorsReachClients: storage's own refusals keep their codes.
func TestStorageErrorsReachClients(t *testing.T) {
	h, reg := newRealHarness(t, partition.Config{MaxRecordBytes: 200})
	// The server's own limit is looser here, so storage is the one to refuse.
	h2 := serve(t, Options{Registry: FromRegistry(reg), MaxRecordBytes: 1 << 20})
	h.createTopic(t, "t", 1)
	h.produce(t, "t", 0, values("a", "b")...)

	_, err := h2.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Records: values(strings.Repeat("x", 300))})
	wantCode(t, err, codes.InvalidArgument, "record 0 is")
	_, err = consumeEnd(t, h, &pb.ConsumeRequest{Topic: "t", Offset: 3, StopAtEnd: true})
	wantCode(t, err, codes.OutOfRange, "offset 3")
	_, err = h.client.CreateTopic(testCtx(t), &pb.CreateTopicRequest{Name: "t", Partitions: 1})
	wantCode(t, err, codes.AlreadyExists, `"t"`)
	_, err = h.client.Produce(testCtx(t), &pb.ProduceRequest{Topic: "t", Partition: 1, Records: values("v")})
	wantCode(t, err, codes.NotFound, `"t"`)

	tl := openTail(t, h, false, &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_LATEST})
	if _, err := h.client.DeleteTopic(testCtx(t), &pb.DeleteTopicRequest{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	_, err = tl.recv()
	wantCode(t, err, codes.NotFound, `"t"`)
	_, err = consumeEnd(t, h, &pb.ConsumeRequest{Topic: "t", StopAtEnd: true})
	wantCode(t, err, codes.NotFound, `"t"`)
}
