// Package fakebroker is an in-memory pb.BrokerServiceServer on 127.0.0.1 for
// tests of code that talks to a broker (the client, cmd/lb), in the spirit
// of net/http/httptest. It is not internal because cmd/lb's tests use it
// too. It keeps every partition as a slice of entries, serves
// ConsumeBatches and Consume with a live tail, and can inject faults: dropped streams, a
// hook before each Produce, a stream that starts off the requested offset.
//
// Concurrency: a *Broker is safe for concurrent use; one mutex guards its
// state (simplicity over speed: it is a test double). Stop (or the test's
// cleanup) stops the gRPC server; no goroutine outlives it.
package fakebroker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// ProduceHook runs before a Produce is applied, outside the lock; a non-nil
// error is returned to the client instead of appending.
type ProduceHook func(ctx context.Context, req *pb.ProduceRequest) error

type partition struct {
	logStart uint64
	entries  []*pb.LogEntry // entries[i].Offset == logStart+i
}

func (p *partition) next() uint64 { return p.logStart + uint64(len(p.entries)) }

// Broker is the fake. Create it with Start.
type Broker struct {
	mu        sync.Mutex
	topics    map[string][]*partition
	changed   chan struct{} // closed and replaced on every append
	drops     []int         // entries to send before dropping; one per new stream
	shift     int64         // start streams this many entries off (a misbehaving broker)
	hook      ProduceHook
	produced  []*pb.ProduceRequest
	consumes  []*pb.ConsumeRequest
	inflight  map[string]int // "topic/partition" -> Produce calls in progress
	maxInfl   int
	noStream  bool // ProduceStream answers UNIMPLEMENTED, as an older broker would
	streams   int  // ProduceStreams served
	srv       *grpc.Server
	addr      string
	serveDone chan struct{}
}

type server struct {
	pb.UnimplementedBrokerServiceServer
	b *Broker
}

// Start serves a new fake on 127.0.0.1:0 and stops it when tb ends.
func Start(tb testing.TB) *Broker {
	tb.Helper()
	b := &Broker{
		topics:   map[string][]*partition{},
		changed:  make(chan struct{}),
		inflight: map[string]int{},
	}
	if err := b.listen("127.0.0.1:0"); err != nil {
		tb.Fatalf("fakebroker: %v", err)
	}
	tb.Cleanup(b.Stop)
	return b
}

func (b *Broker) listen(addr string) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	pb.RegisterBrokerServiceServer(srv, &server{b: b})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	b.mu.Lock()
	b.srv, b.addr, b.serveDone = srv, lis.Addr().String(), done
	b.mu.Unlock()
	return nil
}

// Addr is the "127.0.0.1:port" the fake listens on; it survives Restart.
func (b *Broker) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// Stop closes every connection and stream at once, like a crash. Data stays.
func (b *Broker) Stop() {
	b.mu.Lock()
	srv, done := b.srv, b.serveDone
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	srv.Stop()
	<-done
}

// Restart stops the server and serves the same data again on the same
// address, as a broker restart would.
func (b *Broker) Restart() error {
	b.Stop()
	addr := b.Addr()
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not released it yet.
	var err error
	for i := 0; i < 50; i++ {
		if err = b.listen(addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("fakebroker: relisten on %s: %w", addr, err)
}

// CreateTopic creates a topic directly (no RPC).
func (b *Broker) CreateTopic(name string, partitions uint32) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := make([]*partition, partitions)
	for i := range ps {
		ps[i] = &partition{}
	}
	b.topics[name] = ps
}

// Append stores records directly (no RPC) and returns the first offset.
func (b *Broker) Append(topic string, part uint32, records ...*pb.Record) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.topics[topic][part]
	first := p.next()
	b.appendLocked(p, records)
	return first
}

// SetLogStart drops entries below off, as retention would.
func (b *Broker) SetLogStart(topic string, part uint32, off uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.topics[topic][part]
	for p.logStart < off && len(p.entries) > 0 {
		p.entries = p.entries[1:]
		p.logStart++
	}
	if len(p.entries) == 0 && p.logStart < off {
		p.logStart = off
	}
}

// Entries returns a copy of what a partition holds.
func (b *Broker) Entries(topic string, part uint32) []*pb.LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*pb.LogEntry(nil), b.topics[topic][part].entries...)
}

// DropNextStreams makes each of the next len(after) ConsumeBatches streams
// end with codes.Unavailable once it has sent after[i] entries (cutting a
// batch short if needed), as a lost connection would.
func (b *Broker) DropNextStreams(after ...int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drops = append(b.drops, after...)
}

// SetShift makes streams that start at an offset start n entries off it,
// kept within the log: n < 0 repeats entries the client has seen, n > 0
// skips some. A misbehaving broker, for testing the client's guards.
func (b *Broker) SetShift(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shift = n
}

// SetProduceHook installs h (nil removes it).
func (b *Broker) SetProduceHook(h ProduceHook) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hook = h
}

// ProduceRequests returns the Produce requests seen, in arrival order.
func (b *Broker) ProduceRequests() []*pb.ProduceRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*pb.ProduceRequest(nil), b.produced...)
}

// ConsumeRequests returns the Consume and ConsumeBatches requests seen, in
// arrival order.
func (b *Broker) ConsumeRequests() []*pb.ConsumeRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*pb.ConsumeRequest(nil), b.consumes...)
}

// MaxInflight is the most Produce calls ever in progress at once for one
// partition.
func (b *Broker) MaxInflight() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.maxInfl
}

func (b *Broker) appendLocked(p *partition, records []*pb.Record) {
	now := time.Now().UnixMilli()
	for _, r := range records {
		ts := r.GetTimestampMs()
		if ts == 0 {
			ts = now
		}
		p.entries = append(p.entries, &pb.LogEntry{
			Offset:      p.next(),
			Key:         r.GetKey(),
			Value:       r.GetValue(),
			Headers:     r.GetHeaders(),
			TimestampMs: ts,
		})
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Broker) partitionLocked(topic string, part uint32) (*partition, error) {
	ps, ok := b.topics[topic]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "topic %q not found", topic)
	}
	if int(part) >= len(ps) {
		return nil, status.Errorf(codes.NotFound, "partition %d not in topic %q (%d partitions)", part, topic, len(ps))
	}
	return ps[part], nil
}

func metadata(name string, n int) *pb.TopicMetadata {
	md := &pb.TopicMetadata{Name: name}
	for i := range n {
		md.Partitions = append(md.Partitions, uint32(i))
	}
	return md
}

func (s *server) CreateTopic(_ context.Context, req *pb.CreateTopicRequest) (*pb.CreateTopicResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "topic name \"\" is invalid: want 1-249 of [a-zA-Z0-9._-]")
	}
	if req.GetPartitions() == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "topic %q: 0 partitions, want at least 1", req.GetName())
	}
	b := s.b
	b.mu.Lock()
	_, exists := b.topics[req.GetName()]
	b.mu.Unlock()
	if exists {
		return nil, status.Errorf(codes.AlreadyExists, "topic %q already exists", req.GetName())
	}
	b.CreateTopic(req.GetName(), req.GetPartitions())
	return &pb.CreateTopicResponse{Topic: metadata(req.GetName(), int(req.GetPartitions()))}, nil
}

func (s *server) ListTopics(context.Context, *pb.ListTopicsRequest) (*pb.ListTopicsResponse, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	resp := &pb.ListTopicsResponse{}
	for name, ps := range b.topics {
		resp.Topics = append(resp.Topics, metadata(name, len(ps)))
	}
	sort.Slice(resp.Topics, func(i, j int) bool { return resp.Topics[i].Name < resp.Topics[j].Name })
	return resp, nil
}

func (s *server) DeleteTopic(_ context.Context, req *pb.DeleteTopicRequest) (*pb.DeleteTopicResponse, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.topics[req.GetName()]; !ok {
		return nil, status.Errorf(codes.NotFound, "topic %q not found", req.GetName())
	}
	delete(b.topics, req.GetName())
	return &pb.DeleteTopicResponse{}, nil
}

func (s *server) GetOffsets(_ context.Context, req *pb.GetOffsetsRequest) (*pb.GetOffsetsResponse, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, ok := b.topics[req.GetTopic()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "topic %q not found", req.GetTopic())
	}
	resp := &pb.GetOffsetsResponse{}
	for i, p := range ps {
		po := &pb.PartitionOffsets{Partition: uint32(i), LogStartOffset: p.logStart, NextOffset: p.next()}
		if ts := req.GetTimestampMs(); ts != 0 {
			po.TimestampOffset = p.next()
			for _, e := range p.entries {
				if e.GetTimestampMs() >= ts {
					po.TimestampOffset = e.GetOffset()
					break
				}
			}
		}
		resp.Partitions = append(resp.Partitions, po)
	}
	return resp, nil
}

func (s *server) Produce(ctx context.Context, req *pb.ProduceRequest) (*pb.ProduceResponse, error) {
	b := s.b
	key := fmt.Sprintf("%s/%d", req.GetTopic(), req.GetPartition())
	b.mu.Lock()
	b.produced = append(b.produced, proto.Clone(req).(*pb.ProduceRequest))
	b.inflight[key]++
	b.maxInfl = max(b.maxInfl, b.inflight[key])
	hook := b.hook
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inflight[key]--
		b.mu.Unlock()
	}()

	if hook != nil {
		if err := hook(ctx, req); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.partitionLocked(req.GetTopic(), req.GetPartition())
	if err != nil {
		return nil, err
	}
	if len(req.GetRecords()) == 0 {
		return nil, status.Errorf(codes.InvalidArgument, "produce to %s: no records", key)
	}
	first := p.next()
	b.appendLocked(p, req.GetRecords())
	if req.GetAcks() == pb.Acks_ACKS_NONE {
		return &pb.ProduceResponse{}, nil
	}
	return &pb.ProduceResponse{BaseOffset: first, LastOffset: p.next() - 1}, nil
}

// DisableProduceStream makes ProduceStream answer UNIMPLEMENTED, as a
// broker from before it would.
func (b *Broker) DisableProduceStream() {
	b.mu.Lock()
	b.noStream = true
	b.mu.Unlock()
}

// ProduceStreams is how many ProduceStreams the fake has served.
func (b *Broker) ProduceStreams() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.streams
}

// ProduceStream answers each request as Produce would, in order, and ends
// the stream at the first that fails, as the broker does.
func (s *server) ProduceStream(stream pb.BrokerService_ProduceStreamServer) error {
	s.b.mu.Lock()
	off := s.b.noStream
	if !off {
		s.b.streams++
	}
	s.b.mu.Unlock()
	if off {
		return status.Error(codes.Unimplemented, "unknown method ProduceStream")
	}
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		resp, err := s.Produce(stream.Context(), req)
		if err != nil {
			return err
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// defaultMaxBytes is the batch size when the request says 0.
const defaultMaxBytes = 1 << 20

func (s *server) ConsumeBatches(req *pb.ConsumeRequest, stream pb.BrokerService_ConsumeBatchesServer) error {
	b := s.b
	ctx := stream.Context()
	b.mu.Lock()
	b.consumes = append(b.consumes, proto.Clone(req).(*pb.ConsumeRequest))
	drop := -1
	if len(b.drops) > 0 {
		drop, b.drops = b.drops[0], b.drops[1:]
	}
	p, err := b.partitionLocked(req.GetTopic(), req.GetPartition())
	if err != nil {
		b.mu.Unlock()
		return err
	}
	var pos uint64
	switch req.GetStart() {
	case pb.Start_START_EARLIEST:
		pos = p.logStart
	case pb.Start_START_LATEST:
		pos = p.next()
	default:
		pos = req.GetOffset()
		if pos < p.logStart || pos > p.next() {
			b.mu.Unlock()
			return status.Errorf(codes.OutOfRange, "offset %d out of range [%d, %d] for %s/%d",
				pos, p.logStart, p.next(), req.GetTopic(), req.GetPartition())
		}
		if b.shift < 0 {
			pos -= min(uint64(-b.shift), pos-p.logStart)
		} else {
			pos += min(uint64(b.shift), p.next()-pos)
		}
	}
	b.mu.Unlock()

	maxBytes := int(req.GetMaxBytes())
	if maxBytes == 0 {
		maxBytes = defaultMaxBytes
	}
	sent := 0
	for {
		b.mu.Lock()
		p, err := b.partitionLocked(req.GetTopic(), req.GetPartition())
		if err != nil {
			b.mu.Unlock()
			return err
		}
		if pos < p.logStart {
			b.mu.Unlock()
			return status.Errorf(codes.OutOfRange, "offset %d removed by retention", pos)
		}
		batch := &pb.EntryBatch{}
		size := 0
		for i := pos - p.logStart; i < uint64(len(p.entries)); i++ {
			e := p.entries[i]
			n := proto.Size(e)
			if len(batch.Entries) > 0 && size+n > maxBytes {
				break
			}
			if drop >= 0 && sent+len(batch.Entries) >= drop {
				break
			}
			batch.Entries = append(batch.Entries, e)
			size += n
		}
		changed := b.changed
		b.mu.Unlock()

		if len(batch.Entries) > 0 {
			if err := stream.Send(batch); err != nil {
				return err
			}
			sent += len(batch.Entries)
			pos += uint64(len(batch.Entries))
			continue
		}
		if drop >= 0 && sent >= drop {
			return status.Error(codes.Unavailable, "fakebroker: stream dropped")
		}
		if req.GetStopAtEnd() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}

// Consume is ConsumeBatches sending one stream message per entry, as the
// API's per-entry stream does.
func (s *server) Consume(req *pb.ConsumeRequest, stream grpc.ServerStreamingServer[pb.LogEntry]) error {
	return s.ConsumeBatches(req, perEntry{ServerStream: stream, out: stream})
}

// perEntry turns the batches ConsumeBatches sends into single entries.
type perEntry struct {
	grpc.ServerStream
	out grpc.ServerStreamingServer[pb.LogEntry]
}

func (p perEntry) Send(b *pb.EntryBatch) error {
	for _, e := range b.GetEntries() {
		if err := p.out.Send(e); err != nil {
			return err
		}
	}
	return nil
}

// ErrInjected is a convenient error for hooks.
var ErrInjected = errors.New("fakebroker: injected failure")
