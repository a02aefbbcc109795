package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client/fakebroker"
	"github.com/logbroker/logbroker/pb"
)

func rec(key, value string) *pb.Record {
	r := &pb.Record{Value: []byte(value)}
	if key != "" {
		r.Key = []byte(key)
	}
	return r
}

func newProducer(t *testing.T, c *Client, topic string, opts ProducerOptions) *Producer {
	t.Helper()
	p, err := NewProducer(c, topic, opts)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

func mustSend(t *testing.T, p *Producer, r *pb.Record) *Future {
	t.Helper()
	f, err := p.Send(testCtx(t), r)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return f
}

func wait(t *testing.T, f *Future) Result {
	t.Helper()
	res, err := f.Wait(testCtx(t))
	if err != nil {
		t.Fatalf("record failed: %v", err)
	}
	return res
}

// batchSizes lists the record count of each Produce request to a partition.
func batchSizes(fb *fakebroker.Broker, part uint32) []int {
	var sizes []int
	for _, r := range fb.ProduceRequests() {
		if r.GetPartition() == part {
			sizes = append(sizes, len(r.GetRecords()))
		}
	}
	return sizes
}

func TestNewProducerBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts ProducerOptions
	}{
		{"no partitions", ProducerOptions{}},
		{"negative linger", ProducerOptions{Partitions: 1, Linger: -1}},
		{"negative batch", ProducerOptions{Partitions: 1, MaxBatchBytes: -1}},
	}
	for _, tt := range tests {
		if _, err := NewProducer(nil, "t", tt.opts); !errors.Is(err, ErrBadOption) {
			t.Errorf("%s: err = %v, want ErrBadOption", tt.name, err)
		}
	}
}

func TestProducerKeysAndOrder(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("orders", 4)
	p := newProducer(t, dialFake(t, fb), "orders", ProducerOptions{Partitions: 4})

	const n = 400
	futs := make([]*Future, n)
	for i := range futs {
		futs[i] = mustSend(t, p, rec(fmt.Sprintf("user-%d", i%13), fmt.Sprintf("v%d", i)))
	}
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	var lastOffset [4]int64
	for i := range lastOffset {
		lastOffset[i] = -1
	}
	for i, f := range futs {
		select {
		case <-f.Done():
		default:
			t.Fatalf("record %d not done after Flush", i)
		}
		res := wait(t, f)
		key := fmt.Sprintf("user-%d", i%13)
		if want := Partition([]byte(key), 4); res.Partition != want {
			t.Fatalf("record %d (key %s) went to partition %d, want %d", i, key, res.Partition, want)
		}
		if int64(res.Offset) <= lastOffset[res.Partition] {
			t.Fatalf("record %d: offset %d not after %d: order broken", i, res.Offset, lastOffset[res.Partition])
		}
		lastOffset[res.Partition] = int64(res.Offset)
		got := fb.Entries("orders", res.Partition)[res.Offset]
		if string(got.GetValue()) != fmt.Sprintf("v%d", i) || string(got.GetKey()) != key {
			t.Fatalf("record %d stored as %q/%q", i, got.GetKey(), got.GetValue())
		}
	}
	if got := fb.MaxInflight(); got != 1 {
		t.Errorf("max requests in flight per partition = %d, want 1", got)
	}
}

func TestProducerBatching(t *testing.T) {
	size := recordSize(rec("", "0123456789"))
	tests := []struct {
		name      string
		maxBatch  int
		records   int
		wantSizes []int
	}{
		{"all in one flush", 0, 10, []int{10}},
		{"closed by size", 3 * size, 7, []int{3, 3, 1}},
		{"one record per batch", size, 3, []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := fakebroker.Start(t)
			fb.CreateTopic("t", 1)
			// Linger is far away: only size and Flush close a batch.
			p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{
				Partitions: 1, Linger: time.Hour, MaxBatchBytes: tt.maxBatch,
			})
			futs := make([]*Future, tt.records)
			for i := range futs {
				futs[i] = mustSend(t, p, rec("", "0123456789"))
			}
			if err := p.Flush(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			for i, f := range futs {
				if res := wait(t, f); res.Offset != uint64(i) {
					t.Errorf("record %d at offset %d", i, res.Offset)
				}
			}
			if got := batchSizes(fb, 0); fmt.Sprint(got) != fmt.Sprint(tt.wantSizes) {
				t.Errorf("batch sizes = %v, want %v", got, tt.wantSizes)
			}
		})
	}
}

func TestProducerLingerSendsWithoutFlush(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, Linger: 10 * time.Millisecond})
	a, b := mustSend(t, p, rec("", "a")), mustSend(t, p, rec("", "b"))
	if res := wait(t, b); res.Offset != 1 {
		t.Errorf("b at offset %d, want 1", res.Offset)
	}
	if res := wait(t, a); res.Offset != 0 {
		t.Errorf("a at offset %d, want 0", res.Offset)
	}
}

// While one request is in flight, later records wait and form the next batch.
func TestProducerOneInflightBatchesBehind(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	fb.SetProduceHook(func(ctx context.Context, _ *pb.ProduceRequest) error {
		entered <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1})
	first := mustSend(t, p, rec("", "first"))
	<-entered // first request is now in flight, alone
	var rest []*Future
	for i := range 20 {
		rest = append(rest, mustSend(t, p, rec("", fmt.Sprint(i))))
	}
	if got := len(fb.ProduceRequests()); got != 1 {
		t.Fatalf("%d requests while the first is in flight, want 1", got)
	}
	close(release)
	if err := p.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	wait(t, first)
	for i, f := range rest {
		if res := wait(t, f); res.Offset != uint64(i+1) {
			t.Fatalf("record %d at offset %d, want %d", i, res.Offset, i+1)
		}
	}
	sizes := batchSizes(fb, 0)
	if sizes[0] != 1 || len(sizes) > 21 {
		t.Errorf("batch sizes = %v, want [1 ...]", sizes)
	}
	if got := fb.MaxInflight(); got != 1 {
		t.Errorf("max in flight = %d, want 1", got)
	}
}

func TestProducerErrorsReachFutures(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fb.SetProduceHook(func(_ context.Context, req *pb.ProduceRequest) error {
		if string(req.GetRecords()[0].GetValue()) == "bad" {
			return status.Error(codes.InvalidArgument, "record too large")
		}
		return nil
	})
	c := dialFake(t, fb)
	p := newProducer(t, c, "t", ProducerOptions{Partitions: 1, MaxBatchBytes: 1})
	bad := mustSend(t, p, rec("", "bad"))
	good := mustSend(t, p, rec("", "good"))
	if _, err := bad.Wait(testCtx(t)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad record: %v, want InvalidArgument", err)
	}
	if res := wait(t, good); res.Offset != 0 {
		t.Errorf("good record at %d, want 0", res.Offset)
	}

	// A partition the broker does not know.
	p2 := newProducer(t, c, "missing", ProducerOptions{Partitions: 1})
	f := mustSend(t, p2, rec("", "x"))
	if _, err := f.Wait(testCtx(t)); status.Code(err) != codes.NotFound {
		t.Errorf("missing topic: %v, want NotFound", err)
	}
}

func TestProducerAcksNone(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	fb.Append("t", 0, rec("", "old"))
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, Acks: pb.Acks_ACKS_NONE})
	res := wait(t, mustSend(t, p, rec("", "x")))
	if res.Offset != 0 {
		t.Errorf("ACKS_NONE offset = %d, want 0 (not reported)", res.Offset)
	}
	if got := fb.ProduceRequests()[0].GetAcks(); got != pb.Acks_ACKS_NONE {
		t.Errorf("request acks = %v", got)
	}
}

func TestProducerSendTo(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 3)
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 3})
	f, err := p.SendTo(testCtx(t), 2, rec("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	if res := wait(t, f); res.Partition != 2 {
		t.Errorf("partition %d, want 2", res.Partition)
	}
	if _, err := p.SendTo(testCtx(t), 3, rec("", "v")); !errors.Is(err, ErrBadOption) {
		t.Errorf("SendTo(3) = %v, want ErrBadOption", err)
	}
}

func TestProducerKeylessSticky(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 3)
	size := recordSize(rec("", "v"))
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 3, MaxBatchBytes: 2 * size})
	var futs []*Future
	for range 12 {
		futs = append(futs, mustSend(t, p, rec("", "v")))
	}
	start := wait(t, futs[0]).Partition
	for i, f := range futs {
		if got, want := wait(t, f).Partition, (start+uint32(i/2))%3; got != want {
			t.Errorf("keyless record %d on partition %d, want %d", i, got, want)
		}
	}
}

func TestProducerCloseFlushesAndRejects(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 2)
	p, err := NewProducer(dialFake(t, fb), "t", ProducerOptions{Partitions: 2, Linger: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var futs []*Future
	for i := range 10 {
		futs = append(futs, mustSend(t, p, rec(fmt.Sprint(i), "v")))
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, f := range futs {
		wait(t, f)
	}
	if _, err := p.Send(testCtx(t), rec("", "late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
	if err := p.Flush(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
	if err := p.Close(testCtx(t)); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

// Close gives up when its ctx ends: the request in flight is cancelled, the
// queued records fail, and no goroutine is left (goleak checks).
func TestProducerCloseAbort(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	entered := make(chan struct{}, 1)
	fb.SetProduceHook(func(ctx context.Context, _ *pb.ProduceRequest) error {
		entered <- struct{}{}
		<-ctx.Done() // a broker that never answers
		return ctx.Err()
	})
	p, err := NewProducer(dialFake(t, fb), "t", ProducerOptions{Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	inflight := mustSend(t, p, rec("", "a"))
	<-entered
	queued := mustSend(t, p, rec("", "b"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want context.Canceled", err)
	}
	for name, f := range map[string]*Future{"in flight": inflight, "queued": queued} {
		if _, err := f.Wait(testCtx(t)); !errors.Is(err, ErrClosed) {
			t.Errorf("%s record: %v, want ErrClosed", name, err)
		}
	}
}

func TestProducerBackpressure(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	release := make(chan struct{})
	fb.SetProduceHook(func(ctx context.Context, _ *pb.ProduceRequest) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	size := recordSize(rec("", "v"))
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, MaxBufferedBytes: 4 * size})
	var futs []*Future
	var blocked error
	for range inQueue + 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		f, err := p.Send(ctx, rec("", "v"))
		cancel()
		if err != nil {
			blocked = err
			break
		}
		futs = append(futs, f)
	}
	if !errors.Is(blocked, context.DeadlineExceeded) {
		t.Fatalf("Send never blocked on a full buffer (err %v after %d records)", blocked, len(futs))
	}
	close(release)
	for _, f := range futs {
		wait(t, f)
	}
}

func TestProducerConcurrentSendAndClose(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 4)
	p, err := NewProducer(dialFake(t, fb), "t", ProducerOptions{Partitions: 4, Linger: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []*Future
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				f, err := p.Send(context.Background(), rec(fmt.Sprintf("%d-%d", g, i), "v"))
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Send: %v", err)
					}
					return
				}
				mu.Lock()
				accepted = append(accepted, f)
				n := len(accepted)
				mu.Unlock()
				if n == 200 {
					go func() { _ = p.Close(context.Background()) }()
				}
			}
		}()
	}
	wg.Wait()
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	// Every accepted record has an outcome: none was stranded by Close.
	for _, f := range accepted {
		wait(t, f)
	}
}

// BenchmarkProducerSend measures Send through a flushed round trip to the
// in-process fake: mostly the producer's own cost per record.
func BenchmarkProducerSend(b *testing.B) {
	fb := fakebroker.Start(b)
	fb.CreateTopic("t", 4)
	c, err := Dial(context.Background(), fb.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p, err := NewProducer(c, "t", ProducerOptions{Partitions: 4, Linger: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close(context.Background())
	value := make([]byte, 100)
	ctx := context.Background()
	b.SetBytes(int64(len(value)))
	for i := 0; b.Loop(); i++ {
		if _, err := p.Send(ctx, &pb.Record{Key: []byte{byte(i)}, Value: value}); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// TestProducerStream: a partition's requests go over one ProduceStream, one
// at a time; a broker without it gets unary calls, with the same results; a
// request unanswered within RequestTimeout fails alone, and the next goes
// out on a new stream.
func TestProducerStream(t *testing.T) {
	for _, tt := range []struct {
		name        string
		noStream    bool
		wantStreams int
	}{
		{"over ProduceStream", false, 1},
		{"broker without ProduceStream", true, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fb := fakebroker.Start(t)
			fb.CreateTopic("t", 1)
			if tt.noStream {
				fb.DisableProduceStream()
			}
			p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, MaxBatchBytes: 1})
			var futs []*Future
			for i := range 20 {
				futs = append(futs, mustSend(t, p, rec("", fmt.Sprint(i))))
			}
			for i, f := range futs {
				if res := wait(t, f); res.Offset != uint64(i) {
					t.Fatalf("record %d at offset %d", i, res.Offset)
				}
			}
			if n := len(fb.ProduceRequests()); n != 20 {
				t.Errorf("%d requests, want 20 (one record each)", n)
			}
			if got := fb.ProduceStreams(); got != tt.wantStreams {
				t.Errorf("%d streams served, want %d", got, tt.wantStreams)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		fb := fakebroker.Start(t)
		fb.CreateTopic("t", 1)
		fb.SetProduceHook(func(ctx context.Context, req *pb.ProduceRequest) error {
			if string(req.GetRecords()[0].GetValue()) == "slow" {
				<-ctx.Done() // until the client gives up on it
				return ctx.Err()
			}
			return nil
		})
		p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, MaxBatchBytes: 1, RequestTimeout: 50 * time.Millisecond})
		slow := mustSend(t, p, rec("", "slow"))
		next := mustSend(t, p, rec("", "next"))
		if _, err := slow.Wait(testCtx(t)); status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("unanswered request: %v, want DeadlineExceeded", err)
		}
		if res := wait(t, next); res.Offset != 0 {
			t.Errorf("next record at %d, want 0", res.Offset)
		}
		if got := fb.ProduceStreams(); got != 2 {
			t.Errorf("%d streams served, want 2 (a new one after the timeout)", got)
		}
	})
}

// TestProducerTimeoutCoversStreamOpen: RequestTimeout bounds a request
// whose stream cannot be opened (a listener that accepts and never speaks
// HTTP/2 keeps the connection connecting for gRPC's whole connect timeout).
func TestProducerTimeoutCoversStreamOpen(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	defer func() {
		lis.Close()
		<-accepted
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	c, err := Dial(context.Background(), lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := newProducer(t, c, "t", ProducerOptions{Partitions: 1, RequestTimeout: 200 * time.Millisecond})
	f := mustSend(t, p, rec("", "v"))
	// Well under gRPC's connect timeout (20 s), far above RequestTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = f.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("the record is still pending 5 s after a 200 ms RequestTimeout")
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("record error %v, want DeadlineExceeded", err)
	}
}

// TestProducerFlushWithFullBuffer: with MaxBufferedBytes below one batch, a
// full buffer stops the worker reading Flush's request; the batch goes out
// at once rather than after Linger.
func TestProducerFlushWithFullBuffer(t *testing.T) {
	fb := fakebroker.Start(t)
	fb.CreateTopic("t", 1)
	p := newProducer(t, dialFake(t, fb), "t", ProducerOptions{Partitions: 1, Linger: time.Minute, MaxBufferedBytes: 100})
	f := mustSend(t, p, rec("", string(make([]byte, 200))))
	// Far below Linger: before the fix Flush waited the minute out.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("Flush with the buffer full: %v (Linger 1m)", err)
	}
	wait(t, f)
}
