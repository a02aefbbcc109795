package server

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/partition"
)

// fakeRegistry is an in-memory Registry with partition's semantics, for the
// server's unit tests. Safe for concurrent use (one mutex: test code).
type fakeRegistry struct {
	mu     sync.Mutex
	topics map[string][]*fakePartition
	err    error // returned by every registry call while set
	panics bool  // Topics panics while set
	// onCreate, when set, runs at the start of CreateTopic (outside the lock).
	onCreate func()
	creates  int // successful mutations, to check bad input changes nothing
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{topics: map[string][]*fakePartition{}}
}

func (r *fakeRegistry) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

func (r *fakeRegistry) CreateTopic(ctx context.Context, name string, n uint32) (partition.TopicInfo, error) {
	r.mu.Lock()
	hook := r.onCreate
	r.mu.Unlock()
	if hook != nil {
		hook()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return partition.TopicInfo{}, r.err
	}
	if _, ok := r.topics[name]; ok {
		return partition.TopicInfo{}, fmt.Errorf("%w: %q", partition.ErrTopicExists, name)
	}
	parts := make([]*fakePartition, n)
	for i := range parts {
		parts[i] = newFakePartition(name, uint32(i))
	}
	r.topics[name] = parts
	r.creates++
	return partition.TopicInfo{Name: name, Partitions: n}, nil
}

func (r *fakeRegistry) DeleteTopic(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	parts, ok := r.topics[name]
	if !ok {
		return fmt.Errorf("%w: %q", partition.ErrUnknownTopic, name)
	}
	delete(r.topics, name)
	r.creates++
	for _, p := range parts {
		p.stop()
	}
	return nil
}

func (r *fakeRegistry) Topics() []partition.TopicInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.panics {
		panic("fake: Topics panics")
	}
	out := make([]partition.TopicInfo, 0, len(r.topics))
	for name, parts := range r.topics {
		out = append(out, partition.TopicInfo{Name: name, Partitions: uint32(len(parts))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (r *fakeRegistry) Partition(topic string, id uint32) (Partition, error) {
	p, err := r.partition(topic, id)
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (r *fakeRegistry) partition(topic string, id uint32) (*fakePartition, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	parts, ok := r.topics[topic]
	if !ok {
		return nil, fmt.Errorf("%w: %q", partition.ErrUnknownTopic, topic)
	}
	if id >= uint32(len(parts)) {
		return nil, fmt.Errorf("%w: %s/%d (topic has %d)", partition.ErrUnknownPartition, topic, id, len(parts))
	}
	return parts[id], nil
}

func (r *fakeRegistry) Offsets(ctx context.Context, topic string) ([]partition.Offsets, error) {
	r.mu.Lock()
	parts, ok := r.topics[topic]
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %q", partition.ErrUnknownTopic, topic)
	}
	out := make([]partition.Offsets, len(parts))
	for i, p := range parts {
		o, err := p.Offsets(ctx)
		if err != nil {
			return nil, err
		}
		out[i] = o
	}
	return out, nil
}

// fakePartition keeps records in memory, each as a one-record stored batch.
type fakePartition struct {
	topic string
	id    uint32
	done  chan struct{}

	mu            sync.Mutex
	logStart      uint64
	entries       [][]byte // entries[i] holds offset logStart+i
	subs          map[*fakeSub]struct{}
	stopped       bool
	err           error // returned by every call while set
	appends       int   // Append calls that stored records
	asyncAppends  int   // AppendAsync calls that stored records
	caughtUpReads int   // Reads that found nothing: a tail is about to wait

	// onAppend, when set, runs at the start of AppendFrame (outside the
	// lock), ignoring ctx as a partition stuck in a slow sync does.
	onAppend func()
}

func newFakePartition(topic string, id uint32) *fakePartition {
	return &fakePartition{topic: topic, id: id, done: make(chan struct{}), subs: map[*fakeSub]struct{}{}}
}

func (p *fakePartition) check(ctx context.Context) error {
	if p.stopped {
		return fmt.Errorf("%w: %s/%d", partition.ErrStopped, p.topic, p.id)
	}
	if p.err != nil {
		return p.err
	}
	return ctx.Err()
}

func (p *fakePartition) AppendFrame(ctx context.Context, f *partition.Frame) (base, last uint64, err error) {
	defer f.Release()
	p.mu.Lock()
	hook := p.onAppend
	p.mu.Unlock()
	if hook != nil {
		hook()
	}
	recs, err := frameRecords(f)
	if err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return 0, 0, err
	}
	base, last = p.appendLocked(recs)
	p.appends++
	return base, last, nil
}

func (p *fakePartition) AppendFrameAsync(ctx context.Context, f *partition.Frame) error {
	defer f.Release()
	recs, err := frameRecords(f)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return err
	}
	p.appendLocked(recs)
	p.asyncAppends++
	return nil
}

// frameRecords decodes the batch the server built, as storage would store
// it, into records of their own.
func frameRecords(f *partition.Frame) ([]partition.Record, error) {
	if f.Len() == 0 {
		return nil, partition.ErrNoRecords
	}
	b := f.Bytes()
	if _, err := batch.Check(b, len(b)); err != nil {
		return nil, err
	}
	var it batch.Iter
	if err := it.Reset(b); err != nil {
		return nil, err
	}
	var recs []partition.Record
	var r batch.Record
	for it.Next(&r) {
		rec := partition.Record{Key: clone(r.Key), Value: clone(r.Value), TimestampMs: r.TimestampMs}
		for _, h := range r.Headers {
			rec.Headers = append(rec.Headers, partition.Header{Key: h.Key, Value: clone(h.Value)})
		}
		recs = append(recs, rec)
	}
	return recs, it.Err()
}

// clone copies b, keeping nil apart from empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func (p *fakePartition) appendLocked(recs []partition.Record) (base, last uint64) {
	base = p.logStart + uint64(len(p.entries))
	now := time.Now().UnixMilli()
	for i, r := range recs {
		if r.TimestampMs == 0 {
			r.TimestampMs = now
		}
		p.entries = append(p.entries, storedBatch(base+uint64(i), r))
	}
	for s := range p.subs {
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
	return base, base + uint64(len(recs)) - 1
}

// Tail never serves: the fake has no commit to serve from, so reads go
// through Read as they must whenever Tail declines.
func (p *fakePartition) Tail(uint64, int) (partition.Batch, bool) { return partition.Batch{}, false }

func (p *fakePartition) ReadInto(ctx context.Context, _ []byte, offset uint64, maxBytes int) (partition.Batch, error) {
	return p.Read(ctx, offset, maxBytes)
}

func (p *fakePartition) Read(ctx context.Context, offset uint64, maxBytes int) (partition.Batch, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return partition.Batch{}, err
	}
	next := p.logStart + uint64(len(p.entries))
	if offset < p.logStart || offset > next {
		return partition.Batch{}, fmt.Errorf("%w: offset %d not in [%d, %d]", partition.ErrOffsetOutOfRange, offset, p.logStart, next)
	}
	if offset == next {
		p.caughtUpReads++
		return partition.Batch{First: offset, Next: offset}, nil
	}
	if maxBytes <= 0 {
		maxBytes = 1 << 20
	}
	b := partition.Batch{First: offset, Next: offset}
	for _, e := range p.entries[offset-p.logStart:] {
		if b.Count > 0 && len(b.Data)+len(e) > maxBytes {
			break
		}
		b.Data = append(b.Data, e...)
		b.Next++
		b.Count++
	}
	return b, nil
}

func (p *fakePartition) Offsets(ctx context.Context) (partition.Offsets, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return partition.Offsets{}, err
	}
	return partition.Offsets{Partition: p.id, LogStart: p.logStart, Next: p.logStart + uint64(len(p.entries))}, nil
}

// OffsetForTime answers by brute force over the stored records.
func (p *fakePartition) OffsetForTime(ctx context.Context, ts int64) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return 0, err
	}
	for i, e := range p.entries {
		h, err := batch.ParseHeader(e, len(e))
		if err != nil {
			return 0, err
		}
		if h.MaxTimestamp >= ts {
			return p.logStart + uint64(i), nil
		}
	}
	return p.logStart + uint64(len(p.entries)), nil
}

func (p *fakePartition) Subscribe(ctx context.Context) (Subscription, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.check(ctx); err != nil {
		return nil, err
	}
	s := &fakeSub{p: p, c: make(chan struct{}, 1)}
	p.subs[s] = struct{}{}
	return s, nil
}

func (p *fakePartition) Done() <-chan struct{} { return p.done }

func (p *fakePartition) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		p.stopped = true
		close(p.done)
	}
}

func (p *fakePartition) setErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// truncateBefore drops records below offset, as retention does.
func (p *fakePartition) truncateBefore(offset uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = p.entries[offset-p.logStart:]
	p.logStart = offset
}

func (p *fakePartition) stats() (appends, asyncAppends, caughtUpReads, subs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.appends, p.asyncAppends, p.caughtUpReads, len(p.subs)
}

type fakeSub struct {
	p *fakePartition
	c chan struct{}
}

func (s *fakeSub) C() <-chan struct{} { return s.c }

func (s *fakeSub) Close() {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	delete(s.p.subs, s)
}

// storedBatch encodes one record as a one-record stored batch at offset.
func storedBatch(offset uint64, r partition.Record) []byte {
	var b batch.Builder
	b.Reset(nil)
	b.Add(r.Key, r.Value, r.Headers, r.TimestampMs)
	out := b.Finish()
	batch.SetBaseOffset(out, offset)
	return out
}
