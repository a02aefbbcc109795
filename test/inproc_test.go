package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/server"
)

// inprocWait bounds every wait of the in-process tests. It is generous
// because the machine is shared and -race is slow; nothing sleeps for it.
const inprocWait = 30 * time.Second

// inproc is a broker running in the test process: partition.Open and
// server.New on a 127.0.0.1:0 listener, reached by a real gRPC client. Its
// methods are for the test goroutine only (Client may be used anywhere).
type inproc struct {
	t    testing.TB
	dir  string
	cfg  partition.Config
	opts server.Options

	reg    *partition.Registry
	srv    *server.Server
	served chan error
	addr   string
	conn   *grpc.ClientConn
	client pb.BrokerServiceClient
	up     bool

	logs *logCapture // every warning and error the broker logged
}

// logCapture keeps the log lines written to it. Safe for concurrent use.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// take returns the lines logged since the last take.
func (l *logCapture) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.lines
	l.lines = nil
	return out
}

// inprocConfig adjusts a broker before it starts.
type inprocConfig func(*partition.Config, *server.Options)

// startInproc starts a broker on a fresh t.TempDir() (or on cfg.FS, under
// "/data", when a config sets one) and stops it when the test ends.
func startInproc(t testing.TB, configs ...inprocConfig) *inproc {
	t.Helper()
	b := &inproc{t: t, logs: &logCapture{}}
	for _, c := range configs {
		c(&b.cfg, &b.opts)
	}
	if b.cfg.FS == nil {
		b.dir = t.TempDir()
	} else {
		b.dir = "/data"
	}
	// Warnings and errors of the broker land in the test's log.
	w := zerolog.MultiLevelWriter(zerolog.NewTestWriter(t), b.logs)
	b.cfg.Logger = zerolog.New(w).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	b.start()
	t.Cleanup(b.stop)
	return b
}

// Client is the gRPC client of the running broker; it changes on Restart.
func (b *inproc) Client() pb.BrokerServiceClient { return b.client }

func (b *inproc) start() {
	t := b.t
	t.Helper()
	reg, err := partition.Open(b.dir, b.cfg)
	if err != nil {
		t.Fatalf("partition.Open(%s): %v", b.dir, err)
	}
	eff := reg.Config()
	opts := b.opts
	opts.Registry = server.FromRegistry(reg)
	opts.Logger = b.cfg.Logger
	opts.MaxRecordBytes = eff.MaxRecordBytes
	opts.MaxPartitions = eff.MaxPartitions
	srv, err := server.New(opts)
	if err != nil {
		reg.Close()
		t.Fatalf("server.New: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		reg.Close()
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	b.reg, b.srv, b.served, b.addr, b.conn, b.client, b.up = reg, srv, served, lis.Addr().String(), conn, pb.NewBrokerServiceClient(conn), true
}

// stopServer stops serving gRPC (streams end with UNAVAILABLE) and closes
// the client; storage stays open.
func (b *inproc) stopServer() {
	t := b.t
	t.Helper()
	if b.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), inprocWait)
	defer cancel()
	if err := b.srv.Stop(ctx); err != nil {
		t.Errorf("server Stop: %v", err)
	}
	if err := <-b.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	b.conn.Close()
	b.srv = nil
}

// stop stops the server, then closes storage cleanly. Safe to call twice.
func (b *inproc) stop() {
	t := b.t
	t.Helper()
	if !b.up {
		return
	}
	b.up = false
	b.stopServer()
	if err := b.reg.Close(); err != nil {
		t.Errorf("registry Close: %v", err)
	}
}

// Restart stops the broker cleanly and starts it again on the same data
// directory and configuration, on a new port with a new client.
func (b *inproc) Restart() pb.BrokerServiceClient {
	b.t.Helper()
	b.stop()
	b.start()
	return b.client
}

// --- helpers shared by the in-process tests ---

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), inprocWait)
	t.Cleanup(cancel)
	return ctx
}

func (b *inproc) createTopic(name string, partitions uint32) {
	b.t.Helper()
	if _, err := b.client.CreateTopic(testContext(b.t), &pb.CreateTopicRequest{Name: name, Partitions: partitions}); err != nil {
		b.t.Fatalf("CreateTopic(%q, %d): %v", name, partitions, err)
	}
}

// produce appends recs with ACKS_LEADER and returns the response.
func (b *inproc) produce(topic string, p uint32, recs ...*pb.Record) *pb.ProduceResponse {
	b.t.Helper()
	resp, err := b.client.Produce(testContext(b.t), &pb.ProduceRequest{Topic: topic, Partition: p, Records: recs, Acks: pb.Acks_ACKS_LEADER})
	if err != nil {
		b.t.Fatalf("Produce(%s/%d, %d records): %v", topic, p, len(recs), err)
	}
	return resp
}

// readAll reads topic/p from offset to the end (stop_at_end) with Consume.
func (b *inproc) readAll(topic string, p uint32, offset uint64) []*pb.LogEntry {
	b.t.Helper()
	got, err := consumeToEnd(testContext(b.t), b.client, &pb.ConsumeRequest{Topic: topic, Partition: p, Offset: offset, StopAtEnd: true})
	if err != nil {
		b.t.Fatalf("Consume(%s/%d from %d): %v", topic, p, offset, err)
	}
	return got
}

// offsets returns one partition's offsets from GetOffsets.
func (b *inproc) offsets(topic string, p uint32) *pb.PartitionOffsets {
	b.t.Helper()
	resp, err := b.client.GetOffsets(testContext(b.t), &pb.GetOffsetsRequest{Topic: topic})
	if err != nil {
		b.t.Fatalf("GetOffsets(%s): %v", topic, err)
	}
	for _, o := range resp.GetPartitions() {
		if o.GetPartition() == p {
			return o
		}
	}
	b.t.Fatalf("GetOffsets(%s) has no partition %d: %v", topic, p, resp)
	return nil
}

// consumeToEnd drains a Consume stream; the error is the stream's end
// (nil for a clean end).
func consumeToEnd(ctx context.Context, c pb.BrokerServiceClient, req *pb.ConsumeRequest) ([]*pb.LogEntry, error) {
	s, err := c.Consume(ctx, req)
	if err != nil {
		return nil, err
	}
	return drainStream[*pb.LogEntry](s)
}

// consumeBatchesToEnd drains a ConsumeBatches stream.
func consumeBatchesToEnd(ctx context.Context, c pb.BrokerServiceClient, req *pb.ConsumeRequest) ([]*pb.EntryBatch, error) {
	s, err := c.ConsumeBatches(ctx, req)
	if err != nil {
		return nil, err
	}
	return drainStream[*pb.EntryBatch](s)
}

// drainStream receives until the stream ends; the error is its end (nil for
// a clean end).
func drainStream[T any](s interface{ Recv() (T, error) }) ([]T, error) {
	var got []T
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}

// requireCode fails unless err is a status with code want whose message
// contains every one of wantInMsg.
func requireCode(t testing.TB, what string, err error, want codes.Code, wantInMsg ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != want {
		t.Fatalf("%s: got %v, want code %s", what, err, want)
	}
	for _, s := range wantInMsg {
		if !strings.Contains(st.Message(), s) {
			t.Errorf("%s: message %q does not name %q", what, st.Message(), s)
		}
	}
}

// vals makes records holding only the given values.
func vals(vs ...string) []*pb.Record {
	out := make([]*pb.Record, len(vs))
	for i, v := range vs {
		out[i] = &pb.Record{Value: []byte(v)}
	}
	return out
}

// valuesOf returns the values of entries as strings.
func valuesOf(entries []*pb.LogEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = string(e.GetValue())
	}
	return out
}

// offsetsOf returns the offsets of entries.
func offsetsOf(entries []*pb.LogEntry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.GetOffset()
	}
	return out
}

// tailStream is an open Consume or ConsumeBatches stream whose entries a
// goroutine pumps into a channel, so that a test can wait for the next entry
// with a deadline. The stream is cancelled and its goroutine waited for when
// the test ends.
type tailStream struct {
	entries chan *pb.LogEntry
	done    chan struct{} // closed when the stream has ended
	err     error         // how it ended; read after done
	cancel  context.CancelFunc
}

// openTail opens a stream with req: ConsumeBatches when batches is set.
func openTail(t testing.TB, c pb.BrokerServiceClient, req *pb.ConsumeRequest, batches bool) *tailStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &tailStream{entries: make(chan *pb.LogEntry, 1<<16), done: make(chan struct{}), cancel: cancel}
	var recv func() ([]*pb.LogEntry, error)
	if batches {
		st, err := c.ConsumeBatches(ctx, req)
		if err != nil {
			cancel()
			t.Fatalf("ConsumeBatches(%v): %v", req, err)
		}
		recv = func() ([]*pb.LogEntry, error) {
			b, err := st.Recv()
			return b.GetEntries(), err
		}
	} else {
		st, err := c.Consume(ctx, req)
		if err != nil {
			cancel()
			t.Fatalf("Consume(%v): %v", req, err)
		}
		recv = func() ([]*pb.LogEntry, error) {
			e, err := st.Recv()
			if err != nil {
				return nil, err
			}
			return []*pb.LogEntry{e}, nil
		}
	}
	go func() {
		defer close(s.done)
		for {
			es, err := recv()
			if err != nil {
				s.err = err
				return
			}
			for _, e := range es {
				select {
				case s.entries <- e:
				case <-ctx.Done():
					s.err = ctx.Err()
					return
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	return s
}

// next waits for the stream's next entry.
func (s *tailStream) next(t testing.TB) *pb.LogEntry {
	t.Helper()
	select {
	case e := <-s.entries:
		return e
	case <-s.done:
		select {
		case e := <-s.entries:
			return e
		default:
		}
		t.Fatalf("stream ended while waiting for an entry: %v", s.err)
	case <-time.After(inprocWait):
		t.Fatalf("no entry within %s", inprocWait)
	}
	return nil
}

// end waits for the stream to end and returns how it ended.
func (s *tailStream) end(t testing.TB) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(inprocWait):
		t.Fatalf("stream did not end within %s", inprocWait)
	}
	return nil
}

// markerPrefix starts the values syncTails produces.
const markerPrefix = "\x00marker-"

func isMarker(e *pb.LogEntry) bool { return bytes.HasPrefix(e.GetValue(), []byte(markerPrefix)) }

// syncTails makes sure live streams on topic/p are serving: it produces
// marker records until every stream has delivered one, then reads every
// stream up to the last marker. It returns what each stream delivered
// meanwhile, and the partition's next offset. Stream start-up is invisible
// to a client; this makes tests that need a started stream (START_LATEST)
// deterministic without sleeping. Only the number of markers depends on
// timing.
func (b *inproc) syncTails(topic string, p uint32, tails ...*tailStream) ([][]*pb.LogEntry, uint64) {
	t := b.t
	t.Helper()
	got := make([][]*pb.LogEntry, len(tails))
	seen := make([]bool, len(tails))
	var last uint64
	deadline := time.Now().Add(inprocWait)
	for i := 0; slices.Contains(seen, false); i++ {
		if time.Now().After(deadline) {
			t.Fatalf("streams on %s/%d did not start within %s", topic, p, inprocWait)
		}
		last = b.produce(topic, p, &pb.Record{Value: fmt.Appendf(nil, "%s%d", markerPrefix, i)}).GetLastOffset()
		for j, s := range tails {
			for !seen[j] {
				select {
				case e := <-s.entries:
					got[j] = append(got[j], e)
					seen[j] = isMarker(e)
					continue
				case <-s.done:
					t.Fatalf("stream %d ended while starting: %v", j, s.err)
				case <-time.After(5 * time.Millisecond): // not yet: produce another marker
				}
				break
			}
		}
	}
	for j, s := range tails {
		for got[j][len(got[j])-1].GetOffset() < last {
			got[j] = append(got[j], s.next(t))
		}
	}
	return got, last + 1
}
