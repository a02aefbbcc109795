package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

// fastRetry keeps reconnect tests quick; retries are still bounded by ctx.
var fastRetry = ConsumeOptions{MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}

func TestPositionZeroIsEarliest(t *testing.T) {
	if (Position{}) != Earliest {
		t.Fatal("zero Position is not Earliest")
	}
}

func TestParsePosition(t *testing.T) {
	tests := []struct {
		in      string
		want    Position
		wantErr bool
	}{
		{"earliest", Earliest, false},
		{"latest", Latest, false},
		{"0", AtOffset(0), false},
		{"18446744073709551615", AtOffset(1<<64 - 1), false},
		{"-1", Earliest, true},
		{"first", Earliest, true},
		{"", Earliest, true},
	}
	for _, tt := range tests {
		got, err := ParsePosition(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePosition(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadOption) {
			t.Errorf("ParsePosition(%q) error %v is not ErrBadOption", tt.in, err)
		}
		if err != nil {
			continue
		}
		if off, ok := got.Offset(); ok != (tt.in != "earliest" && tt.in != "latest") || ok && fmt.Sprint(off) != tt.in {
			t.Errorf("Position(%q).Offset() = %d, %v", tt.in, off, ok)
		}
		if got.String() != tt.in {
			t.Errorf("Position(%q).String() = %q", tt.in, got.String())
		}
	}
}

func appendN(fb *fakebroker.Broker, topic string, n int) {
	for i := range n {
		fb.Append(topic, 0, rec("", fmt.Sprintf("v%d", i)))
	}
}

// collect consumes until Consume returns and gives the offsets seen.
func collect(t *testing.T, c *Client, topic string, from Position, opts ConsumeOptions) ([]uint64, error) {
	t.Helper()
	var got []uint64
	err := c.Consume(testCtx(t), topic, 0, from, opts, func(e *pb.LogEntry) error {
		got = append(got, e.GetOffset())
		return nil
	})
	return got, err
}

// wantRange checks that got is exactly from, from+1, ..., to-1.
func wantRange(t *testing.T, got []uint64, from, to uint64) {
	t.Helper()
	if uint64(len(got)) != to-from {
		t.Fatalf("got %d entries %v, want offsets %d..%d", len(got), got, from, to-1)
	}
	for i, off := range got {
		if off != from+uint64(i) {
			t.Fatalf("entry %d has offset %d, want %d (duplicate or gap): %v", i, off, from+uint64(i), got)
		}
	}
}

func TestConsumeStopAtEnd(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 10)
	fb.SetLogStart("t", 0, 2)
	c := dialFake(t, fb)
	tests := []struct {
		from     Position
		wantFrom uint64
	}{
		{Earliest, 2},
		{AtOffset(5), 5},
		{AtOffset(10), 10},
		{Latest, 10},
	}
	for _, tt := range tests {
		got, err := collect(t, c, "t", tt.from, ConsumeOptions{StopAtEnd: true, MaxBytes: 1})
		if err != nil {
			t.Fatalf("from %v: %v", tt.from, err)
		}
		wantRange(t, got, tt.wantFrom, 10)
	}
}

func TestConsumeBrokerErrorsAreNotRetried(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 3)
	c := dialFake(t, fb)
	tests := []struct {
		topic string
		from  Position
		want  codes.Code
	}{
		{"missing", Earliest, codes.NotFound},
		{"missing", Latest, codes.NotFound},
		{"t", AtOffset(4), codes.OutOfRange},
	}
	for _, tt := range tests {
		before := len(fb.ConsumeRequests())
		_, err := collect(t, c, tt.topic, tt.from, fastRetry)
		if status.Code(err) != tt.want {
			t.Errorf("%s from %v: %v, want %v", tt.topic, tt.from, err, tt.want)
		}
		if n := len(fb.ConsumeRequests()) - before; n > 1 {
			t.Errorf("%s from %v: %d attempts, want 1", tt.topic, tt.from, n)
		}
	}
}

// The stream drops mid-batch, at a batch boundary and before any entry; each
// time Consume resumes at the next undelivered offset.
func TestConsumeResumesAfterDroppedStreams(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 100)
	// Entries are ~10 bytes, so max_bytes 40 gives batches of a few entries
	// and the drops below fall inside batches.
	fb.DropNextStreams(7, 23, 0, 50)
	opts := fastRetry
	opts.StopAtEnd, opts.MaxBytes = true, 40
	got, err := collect(t, dialFake(t, fb), "t", Earliest, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, got, 0, 100)

	var starts []string
	for _, r := range fb.ConsumeRequests() {
		if r.GetStart() == pb.Start_START_EARLIEST {
			starts = append(starts, "earliest")
		} else {
			starts = append(starts, fmt.Sprint(r.GetOffset()))
		}
	}
	if want := "[earliest 7 30 30 80]"; fmt.Sprint(starts) != want {
		t.Errorf("stream starts = %v, want %s", starts, want)
	}
}

// A drop before the first entry of a Latest consumer resumes at the offset
// Latest stood for, so records appended meanwhile are not lost.
func TestConsumeLatestResolvedBeforeDrop(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 5)
	fb.DropNextStreams(0)
	c := dialFake(t, fb)
	got := make(chan uint64, 10)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "t", 0, Latest, fastRetry, func(e *pb.LogEntry) error {
			got <- e.GetOffset()
			return nil
		})
	}()
	testutil.WaitFor(t, "the first Consume request", func() bool { return len(fb.ConsumeRequests()) >= 1 })
	fb.Append("t", 0, rec("", "new"))
	if off := <-got; off != 5 {
		t.Fatalf("first entry at %d, want 5", off)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
	for _, r := range fb.ConsumeRequests() {
		if r.GetStart() != pb.Start_START_AT_OFFSET || r.GetOffset() != 5 {
			t.Errorf("stream request %v, want start at offset 5", r)
		}
	}
}

// The whole broker goes away and comes back on the same address while a
// consumer follows the log: it resumes with no duplicate and no gap.
func TestConsumeFollowsAcrossBrokerRestart(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 10)
	c := dialFake(t, fb)
	got := make(chan uint64, 100)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Consume(ctx, "t", 0, Earliest, fastRetry, func(e *pb.LogEntry) error {
			got <- e.GetOffset()
			return nil
		})
	}()
	var offs []uint64
	for len(offs) < 10 {
		offs = append(offs, <-got)
	}
	if err := fb.Restart(); err != nil {
		t.Fatal(err)
	}
	appendN(fb, "t", 10)
	for len(offs) < 20 {
		offs = append(offs, <-got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
	wantRange(t, offs, 0, 20)
	if n := len(fb.ConsumeRequests()); n < 2 {
		t.Errorf("%d streams, want a reconnect", n)
	}
}

func TestConsumeSkipsRepeatedEntries(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 20)
	fb.DropNextStreams(8)
	fb.SetShift(-3) // the resumed stream starts 3 entries early
	opts := fastRetry
	opts.StopAtEnd = true
	got, err := collect(t, dialFake(t, fb), "t", Earliest, opts)
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, got, 0, 20)
}

func TestConsumeRefusesGap(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 20)
	fb.DropNextStreams(8)
	fb.SetShift(2) // the resumed stream skips 2 entries
	opts := fastRetry
	opts.StopAtEnd = true
	got, err := collect(t, dialFake(t, fb), "t", Earliest, opts)
	if !errors.Is(err, ErrOffsetGap) {
		t.Fatalf("Consume = %v, want ErrOffsetGap", err)
	}
	wantRange(t, got, 0, 8)
}

// Retention removed the resume offset while the stream was down: that is an
// error, never a silent gap.
func TestConsumeResumeOutOfRange(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 20)
	fb.DropNextStreams(5)
	var got []uint64
	err := dialFake(t, fb).Consume(testCtx(t), "t", 0, Earliest, fastRetry, func(e *pb.LogEntry) error {
		got = append(got, e.GetOffset())
		if e.GetOffset() == 4 {
			fb.SetLogStart("t", 0, 10)
		}
		return nil
	})
	if status.Code(err) != codes.OutOfRange {
		t.Fatalf("Consume = %v, want OutOfRange", err)
	}
	wantRange(t, got, 0, 5)
}

func TestConsumeHandlerErrorStops(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 10)
	// The handler's error looks retryable; it must still not be retried.
	errStop := status.Error(codes.Unavailable, "handler is done")
	n := 0
	err := dialFake(t, fb).Consume(testCtx(t), "t", 0, Earliest, fastRetry, func(*pb.LogEntry) error {
		n++
		if n == 3 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || n != 3 {
		t.Fatalf("Consume = %v after %d entries, want errStop after 3", err, n)
	}
	if got := len(fb.ConsumeRequests()); got != 1 {
		t.Errorf("%d streams, want 1", got)
	}
}

func TestConsumeAfterBatch(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	appendN(fb, "t", 10)
	var seen, batches int
	errFull := errors.New("disk full")
	opts := ConsumeOptions{StopAtEnd: true, MaxBytes: 30}
	opts.AfterBatch = func() error {
		batches++
		if seen == 10 {
			return errFull
		}
		return nil
	}
	err := dialFake(t, fb).Consume(testCtx(t), "t", 0, Earliest, opts, func(*pb.LogEntry) error {
		seen++
		return nil
	})
	if !errors.Is(err, errFull) {
		t.Fatalf("Consume = %v, want the AfterBatch error", err)
	}
	if batches < 2 || batches == seen {
		t.Errorf("%d batches for %d entries, want several entries per batch", batches, seen)
	}
}

func TestConsumeGivesUpAfterMaxRetries(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	c := dialFake(t, fb)
	fb.Stop()
	opts := fastRetry
	opts.MaxRetries = 2
	_, err := collect(t, c, "t", Earliest, opts)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Consume = %v, want Unavailable after retries", err)
	}
}

// ConsumeEntries resumes across dropped streams as Consume does, handing
// over entries in place.
func TestConsumeEntriesResumes(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fillVaried(fb, "t", 60)
	fb.DropNextStreams(7, 0, 31)
	want := fb.Entries("t", 0)
	opts := fastRetry
	opts.StopAtEnd, opts.MaxBytes = true, 64
	var got []uint64
	err := dialFake(t, fb).ConsumeEntries(testCtx(t), "t", 0, Earliest, opts, func(e Entry) error {
		w := want[e.Offset()]
		if string(e.Key()) != string(w.GetKey()) || string(e.Value()) != string(w.GetValue()) || e.TimestampMs() != w.GetTimestampMs() || e.NumHeaders() != len(w.GetHeaders()) {
			t.Errorf("entry %d: key %q value %q ts %d headers %d; want %v", e.Offset(), e.Key(), e.Value(), e.TimestampMs(), e.NumHeaders(), w)
		}
		got = append(got, e.Offset())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRange(t, got, 0, 60)
}

// Consume's entries are the handler's to keep: they must not change when
// later batches reuse the receive buffer.
func TestConsumeEntriesAreKept(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fillVaried(fb, "t", 40)
	opts := fastRetry
	opts.StopAtEnd, opts.MaxBytes = true, 50
	var got []*pb.LogEntry
	err := dialFake(t, fb).Consume(testCtx(t), "t", 0, Earliest, opts, func(e *pb.LogEntry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := fb.Entries("t", 0)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("kept entry %d = %v, want %v", i, got[i], want[i])
		}
	}
}
