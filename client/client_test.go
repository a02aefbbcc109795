package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

// testCtx bounds a test generously: reaching it means a hang, not slowness.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialFake(t *testing.T, fb *fakebroker.Broker) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), fb.Addr())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestDialEmptyAddr(t *testing.T) {
	if _, err := Dial(testCtx(t), ""); !errors.Is(err, ErrBadOption) {
		t.Fatalf("Dial(\"\") = %v, want ErrBadOption", err)
	}
}

func TestDialBlockReady(t *testing.T) {
	fb := fakebroker.Start(t)
	c, err := Dial(testCtx(t), fb.Addr(), WithBlock())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if c.Addr() != fb.Addr() {
		t.Errorf("Addr() = %q, want %q", c.Addr(), fb.Addr())
	}
}

func TestDialBlockUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Dial(ctx, testutil.ClosedAddr(t), WithBlock())
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want ErrUnreachable wrapping DeadlineExceeded", err)
	}
}

func TestUnreachableCallIsUnavailable(t *testing.T) {
	c, err := Dial(testCtx(t), testutil.ClosedAddr(t))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	_, err = c.ListTopics(testCtx(t))
	if got := status.Code(err); got != codes.Unavailable {
		t.Fatalf("ListTopics code = %v (%v), want Unavailable", got, err)
	}
}

func TestTopicCalls(t *testing.T) {
	fb := fakebroker.Start(t)
	c := dialFake(t, fb)
	ctx := testCtx(t)

	md, err := c.CreateTopic(ctx, "orders", 3)
	if err != nil || md.GetName() != "orders" || len(md.GetPartitions()) != 3 {
		t.Fatalf("CreateTopic = %v, %v", md, err)
	}
	if _, err := c.CreateTopic(ctx, "orders", 3); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("CreateTopic again: %v, want AlreadyExists", err)
	}
	if _, err := c.CreateTopic(ctx, "audit", 1); err != nil {
		t.Fatal(err)
	}
	topics, err := c.ListTopics(ctx)
	if err != nil || len(topics) != 2 || topics[0].GetName() != "audit" || topics[1].GetName() != "orders" {
		t.Fatalf("ListTopics = %v, %v", topics, err)
	}
	n, err := c.PartitionCount(ctx, "orders")
	if err != nil || n != 3 {
		t.Fatalf("PartitionCount = %d, %v; want 3", n, err)
	}
	if _, err := c.PartitionCount(ctx, "nope"); status.Code(err) != codes.NotFound {
		t.Fatalf("PartitionCount(nope): %v, want NotFound", err)
	}
	fb.Append("orders", 1, rec("", "a"), rec("", "b"))
	offs, err := c.GetOffsets(ctx, "orders")
	if err != nil || len(offs) != 3 || offs[1].GetNextOffset() != 2 || offs[0].GetNextOffset() != 0 {
		t.Fatalf("GetOffsets = %v, %v", offs, err)
	}
	fb.Append("orders", 2, &pb.Record{Value: []byte("x"), TimestampMs: 500}, &pb.Record{Value: []byte("y"), TimestampMs: 700})
	offs, err = c.GetOffsetsForTime(ctx, "orders", 600)
	if err != nil || len(offs) != 3 || offs[2].GetTimestampOffset() != 1 {
		t.Fatalf("GetOffsetsForTime(600) = %v, %v; want partition 2 at 1", offs, err)
	}
	offs, err = c.GetOffsetsForTime(ctx, "orders", 1<<62)
	if err != nil || len(offs) != 3 || offs[2].GetTimestampOffset() != 2 || offs[1].GetTimestampOffset() != 2 {
		t.Fatalf("GetOffsetsForTime(far future) = %v, %v; want every partition at its next offset 2", offs, err)
	}
	if _, err := c.GetOffsetsForTime(ctx, "orders", 0); err == nil {
		t.Fatal("GetOffsetsForTime(0): no error")
	}
	if err := c.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, "orders"); status.Code(err) != codes.NotFound {
		t.Fatalf("DeleteTopic again: %v, want NotFound", err)
	}
}
