package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// TestTooManyOpenFiles: when opening a segment file fails with EMFILE, the
// calls that needed it get RESOURCE_EXHAUSTED, nothing is half-created, and
// service resumes once descriptors are available again.
func TestTooManyOpenFiles(t *testing.T) {
	fsys := errorfs.NewFaultFS()
	b := startInproc(t, func(c *partition.Config, _ *server.Options) {
		c.FS = fsys
		c.MaxOpenFiles = 2 // four partitions: some handles are closed while idle
	})
	b.createTopic("fd", 4)
	for p := range uint32(4) {
		b.fill("fd", p, 0, 3, 1)
	}
	emfile := func(op errorfs.Op, name string) error {
		if op == errorfs.OpOpen {
			return syscall.EMFILE
		}
		return nil
	}
	fsys.SetHook(emfile)
	c := b.Client()

	_, err := c.CreateTopic(testContext(t), &pb.CreateTopicRequest{Name: "more", Partitions: 2})
	requireCode(t, "CreateTopic out of descriptors", err, codes.ResourceExhausted, "too many open files", "more-0")
	// Some partition's file was closed while idle: reading it needs an open.
	exhausted := 0
	for p := range uint32(4) {
		_, err := consumeToEnd(testContext(t), c, &pb.ConsumeRequest{Topic: "fd", Partition: p, StopAtEnd: true})
		if err != nil {
			requireCode(t, fmt.Sprintf("Consume fd/%d out of descriptors", p), err, codes.ResourceExhausted, "too many open files", fmt.Sprintf("fd-%d", p))
			exhausted++
		}
	}
	if exhausted == 0 {
		t.Fatalf("no read needed to open a file: the cache of 2 held 4 partitions' files")
	}
	// Appends to a partition whose file is closed fail the same way.
	appendFailed := map[uint32]bool{}
	for p := range uint32(4) {
		_, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "fd", Partition: p, Records: []*pb.Record{record100(3)}})
		if err != nil {
			requireCode(t, fmt.Sprintf("Produce fd/%d out of descriptors", p), err, codes.ResourceExhausted, "too many open files", fmt.Sprintf("fd-%d", p))
			appendFailed[p] = true
		}
	}
	t.Logf("out of descriptors: %d of 4 reads and %d of 4 appends refused", exhausted, len(appendFailed))

	fsys.SetHook(nil)
	if _, err := c.GetOffsets(testContext(t), &pb.GetOffsetsRequest{Topic: "more"}); status.Code(err) != codes.NotFound {
		t.Errorf("the failed CreateTopic left topic \"more\" behind: GetOffsets = %v", err)
	}
	b.createTopic("more", 2)
	for p := range uint32(4) {
		want := 3
		if !appendFailed[p] {
			want = 4
		}
		if got := b.readAll("fd", p, 0); len(got) != want {
			t.Errorf("fd/%d holds %d records, want %d", p, len(got), want)
		}
	}
}

// TestWritesResumeAfterTooManyOpenFiles: an append refused because its
// segment file could not be opened (EMFILE: the process, or the file cache
// with every handle busy, is out of descriptors) wrote nothing, so once
// descriptors are back the partition takes writes again, as it does after a
// full disk.
func TestWritesResumeAfterTooManyOpenFiles(t *testing.T) {
	fsys := errorfs.NewFaultFS()
	b := startInproc(t, func(c *partition.Config, _ *server.Options) {
		c.FS = fsys
		c.MaxOpenFiles = 1
	})
	b.createTopic("fd", 2)
	b.fill("fd", 0, 0, 1, 1)
	b.fill("fd", 1, 0, 1, 1) // fd-0's file is closed now: the cache holds one
	fsys.SetHook(func(op errorfs.Op, name string) error {
		if op == errorfs.OpOpen {
			return syscall.EMFILE
		}
		return nil
	})
	_, err := b.Client().Produce(testContext(t), &pb.ProduceRequest{Topic: "fd", Partition: 0, Records: []*pb.Record{record100(1)}})
	requireCode(t, "Produce out of descriptors", err, codes.ResourceExhausted)
	fsys.SetHook(nil)
	if r := b.produce("fd", 0, record100(1)); r.GetBaseOffset() != 1 {
		t.Errorf("append after descriptors came back got offset %d, want 1", r.GetBaseOffset())
	}
}

// TestConsumerOvertakenByRetention: a consumer that falls behind while
// retention deletes the segments it has yet to read gets every record it is
// sent intact, and then OUT_OF_RANGE naming its offset, never a gap or bytes
// of a deleted file. Its connection has small flow-control windows, so the
// broker can only run a bounded way ahead of it.
func TestConsumerOvertakenByRetention(t *testing.T) {
	b := startInproc(t, func(c *partition.Config, _ *server.Options) {
		c.SegmentBytes = 16 << 10
		c.RetentionBytes = 32 << 10
	})
	b.createTopic("overtaken", 1)
	conn, err := grpc.NewClient(b.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slow := pb.NewBrokerServiceClient(conn)

	value := func(i int) []byte { return fmt.Appendf(bytes.Repeat([]byte{'r'}, 1000), "%06d", i) }
	for _, batches := range []bool{false, true} {
		t.Run(fmt.Sprintf("batches=%v", batches), func(t *testing.T) {
			first := b.offsets("overtaken", 0).GetNextOffset()
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			req := &pb.ConsumeRequest{Topic: "overtaken", Offset: first, MaxBytes: 4096}
			var recv func() ([]*pb.LogEntry, error)
			if batches {
				s, err := slow.ConsumeBatches(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				recv = func() ([]*pb.LogEntry, error) { m, err := s.Recv(); return m.GetEntries(), err }
			} else {
				s, err := slow.Consume(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				recv = func() ([]*pb.LogEntry, error) {
					m, err := s.Recv()
					if err != nil {
						return nil, err
					}
					return []*pb.LogEntry{m}, nil
				}
			}
			// 400 KB while the consumer reads nothing: retention keeps 32 KB,
			// the flow-control windows hold 64 KB.
			const n = 400
			for i := 0; i < n; i += 10 {
				var recs []*pb.Record
				for j := i; j < i+10; j++ {
					recs = append(recs, &pb.Record{Value: value(int(first) + j)})
				}
				b.produce("overtaken", 0, recs...)
			}
			start := b.offsets("overtaken", 0).GetLogStartOffset()
			if start < first+200 {
				t.Fatalf("log start %d: retention did not overtake the consumer at %d", start, first)
			}
			next := first
			for {
				es, err := recv()
				if err != nil {
					requireCode(t, "consumer overtaken by retention", err, codes.OutOfRange, strconv.FormatUint(next, 10))
					break
				}
				for _, e := range es {
					if e.GetOffset() != next || !bytes.Equal(e.GetValue(), value(int(next))) {
						t.Fatalf("at %d got offset %d holding %q...", next, e.GetOffset(), e.GetValue()[:16])
					}
					next++
				}
			}
			t.Logf("consumer from %d got %d records before OUT_OF_RANGE; log start %d", first, next-first, start)
			if next >= start {
				t.Errorf("the consumer read up to %d, past the log start %d, so it was never overtaken", next, start)
			}
		})
	}
}

// TestDeleteUnderLoad: deleting and recreating a topic while producers and
// tails hammer it never crashes the broker nor answers with a code other
// than NOT_FOUND or UNAVAILABLE; afterwards the topic works from offset 0.
func TestDeleteUnderLoad(t *testing.T) {
	b := startInproc(t)
	b.createTopic("churn", 2)
	c := b.Client()
	ctx, cancel := context.WithCancel(testContext(t))
	var wg sync.WaitGroup
	var mu sync.Mutex
	codesSeen := map[codes.Code]int{}
	okSince := 0 // successes since the last change of the topic
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		codesSeen[status.Code(err)]++
		if err == nil {
			okSince++
		}
	}
	for p := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				_, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "churn", Partition: uint32(p % 2), Records: vals(strconv.Itoa(i)),
					Acks: []pb.Acks{pb.Acks_ACKS_LEADER, pb.Acks_ACKS_NONE}[i%2]})
				if ctx.Err() == nil {
					note(err)
				}
			}
		}()
	}
	for ci := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req := &pb.ConsumeRequest{Topic: "churn", Partition: uint32(ci), Start: pb.Start_START_EARLIEST}
				s, err := c.ConsumeBatches(ctx, req)
				if err != nil {
					continue
				}
				for {
					_, err = s.Recv()
					if err != nil {
						break
					}
				}
				if ctx.Err() == nil && !errors.Is(err, io.EOF) {
					note(err)
				}
			}
		}()
	}
	for range 10 {
		// Let some traffic land between changes; only how much depends on timing.
		testutil.WaitFor(t, "produce traffic", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return okSince > 0
		})
		mu.Lock()
		okSince = 0
		mu.Unlock()
		if _, err := c.DeleteTopic(testContext(t), &pb.DeleteTopicRequest{Name: "churn"}); err != nil {
			t.Fatal(err)
		}
		b.createTopic("churn", 2)
	}
	cancel()
	wg.Wait()
	t.Logf("codes seen: %v", codesSeen)
	for code := range codesSeen {
		switch code {
		case codes.OK, codes.NotFound, codes.Unavailable:
		default:
			t.Errorf("%d calls answered %s while the topic was deleted and recreated", codesSeen[code], code)
		}
	}
	if _, err := c.DeleteTopic(testContext(t), &pb.DeleteTopicRequest{Name: "churn"}); err != nil {
		t.Fatal(err)
	}
	b.createTopic("churn", 2)
	if r := b.produce("churn", 1, vals("fresh")...); r.GetBaseOffset() != 0 {
		t.Errorf("fresh topic's first record at %d", r.GetBaseOffset())
	}
	if got := valuesOf(b.readAll("churn", 1, 0)); len(got) != 1 || got[0] != "fresh" {
		t.Errorf("fresh topic holds %q", got)
	}
}
