package client

import (
	"fmt"
	"time"

	"github.com/logbroker/logbroker/pb"
)

// op is one message in a partition worker's mailbox: a record, a flush
// marker or the stop marker. Markers travel behind the records sent before
// them, which is what makes Flush and Close see every earlier record.
type op struct {
	rec     *pb.Record
	fut     *Future
	size    int
	flushed chan struct{} // flush marker: closed once earlier records are done
	stop    bool
}

// batch is the records of one Produce request.
type batch struct {
	seq     uint64 // 1, 2, ... per partition
	created time.Time
	records []*pb.Record
	futs    []*Future
	size    int
}

type flushWaiter struct {
	seq uint64 // done when every batch up to seq is done
	ch  chan struct{}
}

// partWorker accumulates the batches of one partition. The fields below in
// are owned by run (the worker goroutine); sendLoop only sees the batch it is
// handed and hands it back on sent.
type partWorker struct {
	p         *Producer
	partition uint32
	in        chan op
	toSender  chan *batch // unbuffered: the sender takes a batch only when idle
	sent      chan *batch // cap 1: at most one batch is in flight
	exited    chan struct{}
	timer     *time.Timer

	// Owned by run.
	queue    []*batch // waiting batches; only the last one takes records
	inflight *batch
	buffered int // bytes of queue and inflight
	lastSeq  uint64
	doneSeq  uint64 // batches up to here are done
	forceSeq uint64 // batches up to here go without waiting for Linger
	flushes  []flushWaiter
	stopping bool
}

// run is the worker goroutine: it takes records, closes batches by size,
// Linger, Flush or Close, and hands them to the sender one at a time.
func (w *partWorker) run() {
	defer w.p.wg.Done()
	defer close(w.exited)
	defer close(w.toSender)
	defer w.timer.Stop()
	for {
		if w.stopping && w.inflight == nil && len(w.queue) == 0 {
			return
		}
		var toSender chan<- *batch
		var head *batch
		if w.inflight == nil && len(w.queue) > 0 && w.ready(w.queue[0]) {
			toSender, head = w.toSender, w.queue[0]
		}
		var in <-chan op
		if !w.stopping && w.buffered < w.p.opts.MaxBufferedBytes {
			in = w.in
		}
		select {
		case o := <-in:
			w.handleOp(o)
		case toSender <- head:
			w.queue = w.queue[1:]
			w.inflight = head
		case b := <-w.sent:
			w.handleSent(b)
		case <-w.timer.C:
			// The loop re-checks whether the head batch has lingered enough.
		case <-w.p.ctx.Done():
			w.abort()
			return
		}
	}
}

// abort fails everything not yet sent. It runs only after Close has set
// closed, so nothing new can enter the mailbox while it drains it.
func (w *partWorker) abort() {
	for _, b := range w.queue {
		for _, f := range b.futs {
			f.complete(Result{}, ErrClosed)
		}
	}
	for {
		select {
		case o := <-w.in:
			switch {
			case o.fut != nil:
				o.fut.complete(Result{}, ErrClosed)
			case o.flushed != nil:
				close(o.flushed)
			}
		default:
			for _, fw := range w.flushes {
				close(fw.ch)
			}
			return
		}
	}
}

func (w *partWorker) ready(head *batch) bool {
	o := w.p.opts
	// A full buffer stops reading the mailbox, where Flush and Close wait
	// too: no record can join head, so lingering would only hold them up.
	if len(w.queue) > 1 || head.size >= o.MaxBatchBytes || head.seq <= w.forceSeq || w.stopping || o.Linger == 0 ||
		w.buffered >= o.MaxBufferedBytes {
		return true
	}
	wait := time.Until(head.created.Add(o.Linger))
	if wait <= 0 {
		return true
	}
	w.timer.Reset(wait)
	return false
}

func (w *partWorker) handleOp(o op) {
	switch {
	case o.stop:
		w.stopping = true
	case o.flushed != nil:
		w.forceSeq = w.lastSeq
		if w.doneSeq >= w.lastSeq {
			close(o.flushed)
			return
		}
		w.flushes = append(w.flushes, flushWaiter{seq: w.lastSeq, ch: o.flushed})
	default:
		var b *batch
		if n := len(w.queue); n > 0 && w.queue[n-1].size < w.p.opts.MaxBatchBytes {
			b = w.queue[n-1]
		}
		if b == nil || (b.size+o.size > w.p.opts.MaxBatchBytes) {
			w.lastSeq++
			b = &batch{seq: w.lastSeq, created: time.Now()}
			w.queue = append(w.queue, b)
		}
		b.records = append(b.records, o.rec)
		b.futs = append(b.futs, o.fut)
		b.size += o.size
		w.buffered += o.size
	}
}

func (w *partWorker) handleSent(b *batch) {
	w.inflight = nil
	w.buffered -= b.size
	w.doneSeq = b.seq
	n := 0
	for _, fw := range w.flushes {
		if fw.seq <= w.doneSeq {
			close(fw.ch)
			continue
		}
		w.flushes[n] = fw
		n++
	}
	w.flushes = w.flushes[:n]
}

// sendLoop is the sender goroutine: one Produce request at a time, over
// the partition's ProduceStream (produceSender).
func (w *partWorker) sendLoop() {
	defer w.p.wg.Done()
	s := &produceSender{broker: w.p.c.broker, ctx: w.p.ctx, timeout: w.p.opts.RequestTimeout}
	defer s.close()
	for b := range w.toSender {
		w.produce(s, b)
		w.sent <- b
	}
}

func (w *partWorker) produce(s *produceSender, b *batch) {
	p := w.p
	resp, err := s.send(&pb.ProduceRequest{
		Topic: p.topic, Partition: w.partition, Records: b.records, Acks: p.opts.Acks,
	})
	n := uint64(len(b.records))
	switch {
	case err != nil && p.ctx.Err() != nil:
		err = fmt.Errorf("%w: request aborted: %w", ErrClosed, err)
	case err == nil && p.opts.Acks != pb.Acks_ACKS_NONE && resp.GetLastOffset()-resp.GetBaseOffset()+1 != n:
		err = fmt.Errorf("%w: broker stored %d records at offsets %d..%d",
			ErrOffsetGap, n, resp.GetBaseOffset(), resp.GetLastOffset())
	}
	if err != nil {
		p.opts.Logger.Warn().Err(err).Uint32("partition", w.partition).Int("records", len(b.records)).Msg("produce failed")
	}
	for i, f := range b.futs {
		res := Result{Partition: w.partition}
		if err == nil && p.opts.Acks != pb.Acks_ACKS_NONE {
			res.Offset = resp.GetBaseOffset() + uint64(i)
		}
		f.complete(res, err)
	}
}
