package partition

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
)

// Header is one application header of a record; a nil Value is null.
type Header = batch.RecordHeader

// Record is one record as a producer sends it.
type Record struct {
	Key, Value  []byte
	Headers     []Header
	TimestampMs int64 // 0: stamped with the append time
}

// Offsets bounds the readable range of one partition.
type Offsets struct {
	Partition uint32
	LogStart  uint64
	Next      uint64
}

// Batch is the result of one read: stored RecordBatch v2 batches, whole,
// as a Kafka fetch sends them.
type Batch struct {
	// Data is whole batches back to back, checked. The first holds First;
	// its records below First are the reader's to skip.
	Data  []byte
	First uint64 // the first offset the read asked for
	Next  uint64 // offset after the last record in Data
	Count int    // records from First to Next; 0 when caught up
}

// Partition is the handle to one partition's actor: the only goroutine that
// touches the partition's Log and core. Safe for concurrent use.
//
// The actor feeds the core (core.go) with requests and timer ends and
// carries out what it decides: it writes and syncs the Log, answers, wakes
// subscribers, runs timers. The decisions are the core's.
type Partition struct {
	topic  string
	id     uint32
	cfg    *Config
	logger zerolog.Logger
	loop   *actor.Loop

	appendc chan *appendReq
	readc   chan readReq
	offsetc chan offsetReq
	timec   chan timeReq
	subc    chan *Subscription
	unsubc  chan *Subscription
	syncc   chan chan error
	retainc *actor.Signal // nudged by the registry's retention ticker

	// Owned by the actor goroutine (run and handle*); nothing else touches them.
	plog      *Log
	core      *core
	syncTimer *time.Timer // armed when the core asks (fsync interval)

	closeErr error // set by the actor as it ends; read after Done

	stats stats // written by the actor, read by anyone through Stats

	// tail holds the records of the last group commit, published after
	// they are durable, for live-tail readers (Tail).
	tail atomic.Pointer[tailBatch]
}

// tailBatch is an immutable copy of the last committed batches.
type tailBatch struct {
	data        []byte // stored batches back to back
	first, next uint64
}

// maxTailBytes bounds what each commit copies for Tail: live tails of small
// appends are served from memory; larger catch-up reads go to the file.
const maxTailBytes = 64 << 10

type appendReq struct {
	frame []byte // one RecordBatch v2, base offset 0 until the actor sets it
	count int
	reply chan appendResult // nil for ACKS_NONE
	// idem says prod holds the producer fields of an idempotent producer's
	// batch, which the core checks (producer.go).
	idem bool
	prod producerAppend
	// skip is set by the core for a batch it answers without storing (a
	// duplicate, or refused by the producer checks), with res.
	skip bool
	res  appendResult
}

type appendResult struct {
	base, last uint64
	err        error
}

type readReq struct {
	offset uint64
	reply  chan readResult
}

type readResult struct {
	view *segment.View // nil when caught up or on error
	next uint64
	err  error
}

type offsetReq struct{ reply chan Offsets }

// timeReq asks where a lookup of ts starts: the reply's view (nil when the
// log is empty) is walked by the caller up to next, the durable end.
type timeReq struct {
	ts    int64
	reply chan readResult
}

// Subscription is a coalescing wake-up that fires after appends.
type Subscription struct {
	p   *Partition
	sig *actor.Signal
}

// C receives after one or more appends since the last receive.
func (s *Subscription) C() <-chan struct{} { return s.sig.C() }

// Close unregisters the subscription; it never blocks on a stopped actor.
func (s *Subscription) Close() {
	_ = actor.Send(context.Background(), s.p.loop, s.p.unsubc, s)
}

const mailboxSize = 1024

// startPartition starts the actor that owns l, whose producer state is ps.
func startPartition(topic string, id uint32, l *Log, cfg *Config, ps *producers) *Partition {
	p := newPartition(topic, id, l, cfg)
	p.core.producers = ps
	p.loop = actor.Start(p.run)
	return p
}

// newPartition builds the actor's state without starting its goroutine.
func newPartition(topic string, id uint32, l *Log, cfg *Config) *Partition {
	p := &Partition{
		topic:   topic,
		id:      id,
		cfg:     cfg,
		logger:  cfg.Logger.With().Str("topic", topic).Uint32("partition", id).Logger(),
		appendc: make(chan *appendReq, mailboxSize),
		readc:   make(chan readReq), // unbuffered: ReadInto relies on it
		offsetc: make(chan offsetReq),
		timec:   make(chan timeReq), // unbuffered, as readc
		subc:    make(chan *Subscription),
		unsubc:  make(chan *Subscription),
		syncc:   make(chan chan error),
		retainc: actor.NewSignal(),
		plog:    l,
	}
	p.core = newCore(cfg, p.logger, l.Next())
	p.stats.publish(l, p.core.durable)
	return p
}

// Topic is the partition's topic name.
func (p *Partition) Topic() string { return p.topic }

// ID is the partition's index in its topic.
func (p *Partition) ID() uint32 { return p.id }

// Done is closed once the actor has stopped.
func (p *Partition) Done() <-chan struct{} { return p.loop.Done() }

// stop ends the actor; it syncs and closes the log first.
func (p *Partition) stop() { p.loop.Stop() }

// encode builds the frame for recs on the caller's goroutine, off the actor.
func encode(recs []Record) *Frame {
	size := 0
	for i := range recs {
		r := &recs[i]
		// The timestamp delta is not known yet: allow its widest varint.
		size += batch.RecordSize(r.Key, r.Value, r.Headers, 0, int32(i)) + 10
	}
	f := NewFrame(size)
	for i := range recs {
		r := &recs[i]
		f.Add(r.Key, r.Value, r.Headers, r.TimestampMs)
	}
	return f
}

// Append stores recs atomically at consecutive offsets and returns once they
// are in the log, and synced when the fsync mode is always.
func (p *Partition) Append(ctx context.Context, recs []Record) (base, last uint64, err error) {
	return p.AppendFrame(ctx, encode(recs))
}

// AppendAsync validates recs and hands them to the actor without waiting for
// the write (acks none). A later write error is logged, not returned.
func (p *Partition) AppendAsync(ctx context.Context, recs []Record) error {
	return p.AppendFrameAsync(ctx, encode(recs))
}

// AppendFrame is Append for records already encoded in f; it takes f over.
func (p *Partition) AppendFrame(ctx context.Context, f *Frame) (base, last uint64, err error) {
	if err := f.check(p.cfg.MaxRecordBytes); err != nil {
		f.Release()
		return 0, 0, err
	}
	req := f.request()
	req.reply = make(chan appendResult, 1)
	res, err := actor.Ask(ctx, p.loop, p.appendc, req, req.reply)
	if err != nil {
		// The actor may hold the frame yet; it is left to the GC.
		return 0, 0, p.wrap(err)
	}
	return res.base, res.last, res.err
}

// AppendFrameAsync is AppendAsync for records already encoded in f; it
// takes f over.
func (p *Partition) AppendFrameAsync(ctx context.Context, f *Frame) error {
	if err := f.check(p.cfg.MaxRecordBytes); err != nil {
		f.Release()
		return err
	}
	return p.wrap(actor.Send(ctx, p.loop, p.appendc, f.request()))
}

// Read returns stored records from offset: at most maxBytes (<= 0: 1 MiB) but
// at least one record. Count is 0 when offset is the next offset (caught up).
// The file read happens here, on the caller's goroutine, not in the actor.
func (p *Partition) Read(ctx context.Context, offset uint64, maxBytes int) (Batch, error) {
	return p.ReadInto(ctx, nil, offset, maxBytes)
}

// ReadInto is Read into buf's capacity: Data aliases buf when the read fits
// it, so a caller can recycle read buffers.
func (p *Partition) ReadInto(ctx context.Context, buf []byte, offset uint64, maxBytes int) (Batch, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultReadBytes
	}
	reply := make(chan readResult, 1)
	if err := actor.Send(ctx, p.loop, p.readc, readReq{offset: offset, reply: reply}); err != nil {
		return Batch{}, p.wrap(err)
	}
	// readc is unbuffered: the actor has taken the request and answers it
	// at once. Wait for that answer even if ctx ends meanwhile, since a
	// view left in reply would hold its file open for good.
	res := <-reply
	if err := ctx.Err(); err != nil {
		if res.view != nil {
			res.view.Release()
		}
		return Batch{}, p.wrap(err)
	}
	if res.err != nil || res.view == nil {
		return Batch{First: offset, Next: offset}, res.err
	}
	defer res.view.Release()
	data, first, next, err := res.view.Read(buf, offset, maxBytes)
	if err != nil {
		return Batch{}, fmt.Errorf("partition %s-%d: read at offset %d: %w", p.topic, p.id, offset, Classify(err))
	}
	if next > res.next {
		// Only durable records are served; trim what a failed sync left behind.
		data, next = trimTo(data, first, res.next)
	}
	return Batch{Data: data, First: first, Next: next, Count: int(next - first)}, nil
}

// Tail serves a live tail without the actor: if the last group commit holds
// offset and what it holds from there fits maxBytes, it returns those
// records (an immutable batch the caller may keep and send as they are)
// and true. With offset at the end of the last commit it returns an empty
// batch and true: caught up, and the next commit signals subscribers after
// it is published here. Otherwise the caller reads with ReadInto.
func (p *Partition) Tail(offset uint64, maxBytes int) (Batch, bool) {
	t := p.tail.Load()
	if t == nil || offset < t.first || offset > t.next {
		return Batch{}, false
	}
	if offset == t.next {
		return Batch{First: offset, Next: offset}, true
	}
	data := t.data
	for len(data) > 0 {
		h, err := batch.ParseHeader(data, len(data))
		if err != nil {
			return Batch{}, false
		}
		if h.Next() > offset {
			break
		}
		data = data[h.Size():]
	}
	if maxBytes <= 0 {
		maxBytes = DefaultReadBytes
	}
	if len(data) > maxBytes {
		return Batch{}, false
	}
	return Batch{Data: data, First: offset, Next: t.next, Count: int(t.next - offset)}, true
}

// trimTo cuts data (whole batches, checked, the first holding first) to
// the batches below end. A group commit is synced whole, so end falls
// between batches.
func trimTo(data []byte, first, end uint64) ([]byte, uint64) {
	n, next := 0, first
	for n < len(data) {
		h, err := batch.ParseHeader(data[n:], len(data)-n)
		if err != nil || h.Next() > end {
			break
		}
		n += int(h.Size())
		next = h.Next()
	}
	return data[:n], next
}

// wrap names the partition in an error that does not already.
func (p *Partition) wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("partition %s-%d: %w", p.topic, p.id, err)
}

// Offsets reports the log start and next offset.
func (p *Partition) Offsets(ctx context.Context) (Offsets, error) {
	reply := make(chan Offsets, 1)
	o, err := actor.Ask(ctx, p.loop, p.offsetc, offsetReq{reply: reply}, reply)
	return o, p.wrap(err)
}

// OffsetForTime is the first offset whose record timestamp is at or after
// ts (Kafka's ListOffsets rule, also when timestamps are not in order), and
// the next offset when no record is; only durable records count. The actor
// picks the segment and the start from its time index; the walk of batch
// headers from there, which producers' timestamps can make long (a stretch
// of older times after a peak is crossed whole), happens here, on the
// caller's goroutine, so that it never holds up appends.
func (p *Partition) OffsetForTime(ctx context.Context, ts int64) (uint64, error) {
	reply := make(chan readResult, 1)
	if err := actor.Send(ctx, p.loop, p.timec, timeReq{ts: ts, reply: reply}); err != nil {
		return 0, p.wrap(err)
	}
	// As in ReadInto: the actor took the request and answers at once, and
	// a view left unreceived would pin its file.
	res := <-reply
	if err := ctx.Err(); err != nil {
		if res.view != nil {
			res.view.Release()
		}
		return 0, p.wrap(err)
	}
	if res.err != nil || res.view == nil {
		return res.next, p.wrap(res.err)
	}
	defer res.view.Release()
	off, err := offsetIn(res.view, nil, ts, res.next)
	if err != nil {
		return 0, fmt.Errorf("partition %s-%d: offset for time %d: %w", p.topic, p.id, ts, err)
	}
	return off, nil
}

// Subscribe registers a wake-up that fires after appends. Subscribe before
// reading so that no append between the read and the wait is missed.
func (p *Partition) Subscribe(ctx context.Context) (*Subscription, error) {
	s := &Subscription{p: p, sig: actor.NewSignal()}
	if err := actor.Send(ctx, p.loop, p.subc, s); err != nil {
		return nil, p.wrap(err)
	}
	return s, nil
}

// Sync makes every appended record durable, whatever the fsync mode.
func (p *Partition) Sync(ctx context.Context) error {
	reply := make(chan error, 1)
	err, askErr := actor.Ask(ctx, p.loop, p.syncc, reply, reply)
	if askErr != nil {
		return p.wrap(askErr)
	}
	return err
}

// run is the actor goroutine.
func (p *Partition) run(stop <-chan struct{}) {
	defer p.shutdown()
	for {
		var syncC <-chan time.Time
		if p.syncTimer != nil {
			syncC = p.syncTimer.C
		}
		select {
		case r := <-p.appendc:
			p.handleAppends(r)
		case r := <-p.readc:
			p.handleRead(r)
		case r := <-p.offsetc:
			r.reply <- Offsets{Partition: p.id, LogStart: p.plog.LogStart(), Next: p.core.durable}
		case r := <-p.timec:
			p.handleTime(r)
		case s := <-p.subc:
			p.core.subscribe(s)
		case s := <-p.unsubc:
			p.core.unsubscribe(s)
		case reply := <-p.syncc:
			p.core.requestSync(reply)
			p.step()
		case <-syncC:
			p.syncTimer = nil
			p.core.syncTimerFired()
			p.step()
		case <-p.retainc.C():
			p.handleRetain()
		case <-stop:
			return
		}
	}
}

// handleAppends is the group commit: hand the core first and whatever else
// is queued, up to its group limits, then carry out what it decides.
func (p *Partition) handleAppends(first *appendReq) {
	if p.core.groupWasShared() {
		// The callers answered by the last group commit are about to send
		// again; yield once so that their requests join this group rather
		// than the next one, which would cost a sync each.
		runtime.Gosched()
	}
	p.core.propose(first)
drain:
	for !p.core.groupFull() {
		select {
		case r := <-p.appendc:
			p.core.propose(r)
		default:
			break drain
		}
	}
	p.step()
}

// step runs the core's Ready loop until it has nothing left to do: persist,
// carry out the rest, advance.
func (p *Partition) step() {
	for p.core.hasReady() {
		rd := p.core.ready()
		o := persist(p.plog, &rd, time.Now)
		if o.rolled {
			// The core's producer state is still that of the new
			// segment's base: this round's batches are not in it yet.
			p.snapshotProducers(p.plog.active().Base())
		}
		p.apply(&rd)
		p.core.advance(o)
	}
}

// persist carries out the I/O of rd on l: the write, then the sync if rd
// asks for it and the write went well, timed with now.
func persist(l *Log, rd *ready, now func() time.Time) outcome {
	var o outcome
	if rd.write != nil {
		segs := l.Segments()
		if o.writeErr = l.Append(rd.write, rd.records); o.writeErr != nil {
			return o
		}
		o.rolled = l.Segments() > segs
	}
	if rd.sync {
		start := now()
		o.syncErr = l.Sync()
		o.syncTook = now().Sub(start)
	}
	return o
}

// apply carries out the rest of rd, in the core's order: publish what is
// durable (stats first, so that they already count what a producer sees
// acked, then Tail), answer, wake, and only then the housekeeping.
func (p *Partition) apply(rd *ready) {
	if rd.committed {
		c := &rd.commit
		p.stats.records.Add(uint64(c.records))
		p.stats.bytes.Add(uint64(c.bytes))
		p.stats.publish(p.plog, p.core.durable)
		if c.frames > 0 {
			p.tail.Store(c.tail) // nil when too big: readers go to the file
		}
		if p.cfg.Observer != nil {
			p.cfg.Observer.ObserveCommit(c.frames, c.records, c.bytes, c.syncTook)
		}
	}
	for _, r := range rd.replies {
		r.to <- r.res
	}
	for _, r := range rd.syncReplies {
		r.to <- r.err
	}
	for _, s := range rd.wake {
		s.sig.Notify()
	}
	if rd.armSync > 0 {
		p.syncTimer = time.NewTimer(rd.armSync)
	}
	if rd.retain {
		p.handleRetain()
	}
	if rd.preallocate && len(p.appendc) == 0 {
		// Nobody else waits: the next group is not due yet.
		p.plog.PreallocateAhead()
	}
}

func (p *Partition) handleRead(r readReq) {
	l := p.plog
	end := p.core.durable
	switch {
	case r.offset < l.LogStart() || r.offset > end:
		r.reply <- readResult{err: &OffsetError{Offset: r.offset, LogStart: l.LogStart(), Next: end}}
	case r.offset == end:
		r.reply <- readResult{next: end}
	default:
		v, err := l.View(r.offset)
		r.reply <- readResult{view: v, next: end, err: err}
	}
}

func (p *Partition) handleTime(r timeReq) {
	end := p.core.durable
	if p.plog.LogStart() == end {
		r.reply <- readResult{next: end}
		return
	}
	v, err := p.plog.TimeView(r.ts)
	r.reply <- readResult{view: v, next: end, err: err}
}

// snapshotProducers writes the core's producer state as of offset; a
// failure only makes the next start replay more of the log.
func (p *Partition) snapshotProducers(offset uint64) {
	if err := writeProducerSnap(p.plog, p.core.producers, offset); err != nil {
		p.logger.Warn().Err(err).Uint64("offset", offset).Msg("producer state snapshot failed; the next start replays more batch headers")
	}
}

func (p *Partition) handleRetain() {
	now := time.Now()
	if n := p.core.expireProducers(now.UnixMilli()); n > 0 {
		p.logger.Info().Int("producers", n).Dur("expiration", p.cfg.ProducerIDExpiration).Msg("expired idle producer ids")
	}
	n, err := p.plog.Retain(now)
	if err != nil {
		p.logger.Error().Err(err).Msg("retention failed")
	}
	if n > 0 {
		p.stats.publish(p.plog, p.core.durable)
		p.logger.Info().Int("segments_deleted", n).Uint64("log_start_offset", p.plog.LogStart()).Msg("retention deleted segments")
	}
}

// shutdown answers what is queued, then syncs and closes the log.
func (p *Partition) shutdown() {
	for {
		select {
		case r := <-p.appendc:
			p.handleAppends(r)
			continue
		default:
		}
		break
	}
	if p.syncTimer != nil {
		p.syncTimer.Stop()
	}
	if err := p.core.err(); err != nil {
		// No clean stop after a failure: the next start scans and checks
		// this partition's active segment rather than trust it.
		p.closeErr = err
		if err := p.plog.CloseFailed(); err != nil {
			p.logger.Error().Err(err).Msg("close failed")
		}
		return
	}
	if err := p.plog.Close(); err != nil {
		p.closeErr = err
		p.logger.Error().Err(err).Msg("close failed")
		return
	}
	// Everything is synced: the next clean start replays no batch header.
	p.snapshotProducers(p.plog.Next())
}
