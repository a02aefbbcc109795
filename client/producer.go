package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/pb"
)

// Producer defaults, used where ProducerOptions leaves a field zero.
const (
	DefaultMaxBatchBytes  = 1 << 20
	DefaultRequestTimeout = 30 * time.Second
	// inQueue is how many records may wait in a partition's mailbox before
	// the worker picks them up; the byte limit is MaxBufferedBytes.
	inQueue = 1024
)

// ProducerOptions configures NewProducer.
type ProducerOptions struct {
	// Linger is how long a partial batch waits for more records. 0 sends as
	// soon as the partition has no request in flight; records that arrive
	// while one is in flight still form the next batch.
	Linger time.Duration
	// MaxBatchBytes closes a batch once its records reach this size
	// (estimated: key, value and headers). A larger record goes alone.
	// 0 means DefaultMaxBatchBytes; keep it under the broker's gRPC limit.
	MaxBatchBytes int
	// Acks is sent with every request; 0 (ACKS_UNSPECIFIED) means leader.
	Acks pb.Acks
	// Partitions is the topic's partition count, required: see
	// Client.PartitionCount.
	Partitions uint32
	// MaxBufferedBytes bounds the bytes waiting or in flight per partition;
	// Send blocks above it (backpressure). 0 means 4*MaxBatchBytes.
	MaxBufferedBytes int
	// RequestTimeout bounds each Produce request. 0 means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger receives failed batches at warn level. Zero value: no logs.
	Logger zerolog.Logger
}

// Result is where a record was stored. With ACKS_NONE the broker reports no
// offsets and Offset is 0.
type Result struct {
	Partition uint32
	Offset    uint64
}

// Future is the outcome of one Send, ready once Done is closed.
type Future struct {
	done chan struct{}
	res  Result
	err  error
}

func newFuture() *Future { return &Future{done: make(chan struct{})} }

func (f *Future) complete(res Result, err error) {
	f.res, f.err = res, err
	close(f.done)
}

// Done is closed when the outcome is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Wait blocks until the outcome is known or ctx ends. The error is the
// record's (a gRPC status error from the broker, or ErrClosed) or ctx's.
func (f *Future) Wait(ctx context.Context) (Result, error) {
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// Producer batches records per partition and sends them with at most one
// request in flight per partition, so records of one partition are stored in
// the order Send accepted them. Records are not retried: a failed request
// fails its records (with UNAVAILABLE or DEADLINE_EXCEEDED they may or may
// not have been stored), and later records are still sent.
//
// Safe for concurrent use. Order holds between the Sends of one goroutine;
// concurrent Sends are ordered as they happen to be accepted. Each partition
// is served by two goroutines started by NewProducer: a worker that owns the
// batches (no lock), and a sender that does the Produce call. Close stops
// both and waits for them.
type Producer struct {
	c       *Client
	topic   string
	opts    ProducerOptions
	workers []*partWorker
	wg      sync.WaitGroup

	// ctx is cancelled only when Close gives up: it aborts requests in flight.
	ctx    context.Context
	cancel context.CancelFunc

	// mu orders Send against Close: Send holds it shared while handing a
	// record over, Close takes it exclusively once to set closed, so no
	// record slips into a mailbox after the worker was told to stop.
	mu       sync.RWMutex
	closed   bool
	closing  chan struct{} // closed first by Close: unblocks waiting Sends
	stopOnce sync.Once
	stopped  chan struct{} // closed when Close is done
	closeErr error

	stickyMu    sync.Mutex
	sticky      uint32 // partition for keyless records
	stickyBytes int    // keyless bytes sent to sticky so far
}

// NewProducer starts a producer for topic. Close it to flush and stop it.
func NewProducer(c *Client, topic string, opts ProducerOptions) (*Producer, error) {
	if opts.Partitions == 0 {
		return nil, fmt.Errorf("%w: ProducerOptions.Partitions is 0 (see Client.PartitionCount)", ErrBadOption)
	}
	if opts.Linger < 0 || opts.MaxBatchBytes < 0 || opts.MaxBufferedBytes < 0 || opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("%w: negative ProducerOptions value", ErrBadOption)
	}
	if opts.MaxBatchBytes == 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.MaxBufferedBytes == 0 {
		opts.MaxBufferedBytes = 4 * opts.MaxBatchBytes
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	opts.Logger = opts.Logger.With().Str("topic", topic).Logger()
	ctx, cancel := context.WithCancel(context.Background())
	p := &Producer{
		c:       c,
		topic:   topic,
		opts:    opts,
		ctx:     ctx,
		cancel:  cancel,
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
		sticky:  rand.Uint32N(opts.Partitions),
	}
	p.workers = make([]*partWorker, opts.Partitions)
	for i := range p.workers {
		w := &partWorker{
			p:         p,
			partition: uint32(i),
			in:        make(chan op, inQueue),
			toSender:  make(chan *batch),
			sent:      make(chan *batch, 1),
			exited:    make(chan struct{}),
			timer:     time.NewTimer(time.Hour),
		}
		w.timer.Stop()
		p.workers[i] = w
		p.wg.Add(2)
		go w.run()
		go w.sendLoop()
	}
	return p, nil
}

// Send queues rec for the partition its key maps to (Partition), or, for a
// record without a key, for a partition that changes after each batch's worth
// of keyless bytes (Kafka's sticky partitioning). It blocks only while the
// partition's buffer is full. It fails at once with ErrClosed after Close
// began, or with ctx's error. The producer owns rec until the Future is done.
func (p *Producer) Send(ctx context.Context, rec *pb.Record) (*Future, error) {
	return p.send(ctx, p.pick(rec), rec)
}

// SendTo is Send to an explicit partition.
func (p *Producer) SendTo(ctx context.Context, partition uint32, rec *pb.Record) (*Future, error) {
	if partition >= p.opts.Partitions {
		return nil, fmt.Errorf("%w: partition %d of topic %q with %d partitions",
			ErrBadOption, partition, p.topic, p.opts.Partitions)
	}
	return p.send(ctx, partition, rec)
}

func (p *Producer) send(ctx context.Context, partition uint32, rec *pb.Record) (*Future, error) {
	f := newFuture()
	o := op{rec: rec, fut: f, size: recordSize(rec)}
	if err := p.enqueue(ctx, p.workers[partition], o); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *Producer) enqueue(ctx context.Context, w *partWorker, o op) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case w.in <- o:
		return nil
	case <-p.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pick chooses the partition for rec.
func (p *Producer) pick(rec *pb.Record) uint32 {
	if len(rec.GetKey()) > 0 {
		return Partition(rec.GetKey(), p.opts.Partitions)
	}
	p.stickyMu.Lock()
	defer p.stickyMu.Unlock()
	part := p.sticky
	p.stickyBytes += recordSize(rec)
	if p.stickyBytes >= p.opts.MaxBatchBytes {
		p.sticky = (p.sticky + 1) % p.opts.Partitions
		p.stickyBytes = 0
	}
	return part
}

// Flush sends every record accepted before the call and waits until each
// one's outcome is known, or ctx ends. Failed records report through their
// Futures; Flush itself fails only with ctx's error or ErrClosed.
func (p *Producer) Flush(ctx context.Context) error {
	waits := make([]chan struct{}, len(p.workers))
	for i, w := range p.workers {
		waits[i] = make(chan struct{})
		if err := p.enqueue(ctx, w, op{flushed: waits[i]}); err != nil {
			return err
		}
	}
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops taking records, sends everything accepted and waits for the
// outcomes, then stops the goroutines. If ctx ends first, requests in flight
// are cancelled, unsent records fail with ErrClosed, and Close returns ctx's
// error; the goroutines are stopped either way. Later calls wait for the
// first one and return its result.
func (p *Producer) Close(ctx context.Context) error {
	first := false
	p.stopOnce.Do(func() { first = true })
	if !first {
		select {
		case <-p.stopped:
			return p.closeErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(p.stopped)
	close(p.closing)
	p.mu.Lock() // Sends holding the read lock return at once: closing is closed
	p.closed = true
	p.mu.Unlock()

	err := p.drain(ctx)
	p.cancel() // aborts what is left when ctx ended; a no-op otherwise
	p.wg.Wait()
	p.closeErr = err
	return err
}

// drain tells every worker to stop behind the records it was given, and waits
// until they have all been sent.
func (p *Producer) drain(ctx context.Context) error {
	for _, w := range p.workers {
		select {
		case w.in <- op{stop: true}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, w := range p.workers {
		select {
		case <-w.exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// recordSize estimates the bytes a record adds to a request.
func recordSize(r *pb.Record) int {
	n := len(r.GetKey()) + len(r.GetValue()) + 16
	for _, h := range r.GetHeaders() {
		n += len(h.GetKey()) + len(h.GetValue()) + 4
	}
	return n
}
