package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

// latencyStampBytes is the head of every latency record's value: the
// scheduled send time, the sequence number and the actual send time, each a
// little-endian int64 (times in nanoseconds on the run's monotonic clock).
const latencyStampBytes = 24

// latencyStamp is what a latency record carries.
type latencyStamp struct {
	due  time.Duration // when the schedule said to send it
	seq  int64
	sent time.Duration // when the sender actually sent it
}

func (st latencyStamp) put(value []byte) {
	binary.LittleEndian.PutUint64(value[0:8], uint64(st.due))
	binary.LittleEndian.PutUint64(value[8:16], uint64(st.seq))
	binary.LittleEndian.PutUint64(value[16:24], uint64(st.sent))
}

func readStamp(value []byte) (latencyStamp, bool) {
	if len(value) < latencyStampBytes {
		return latencyStamp{}, false
	}
	le := binary.LittleEndian
	return latencyStamp{
		due:  time.Duration(le.Uint64(value[0:8])),
		seq:  int64(le.Uint64(value[8:16])),
		sent: time.Duration(le.Uint64(value[16:24])),
	}, true
}

// drainWait bounds the wait, after the last send, for consumers to receive
// every acknowledged record.
const drainWait = 10 * time.Second

// latencySenders is how many goroutines send, each with one request in
// flight: more than are ever busy at once at the rates this measures, so a
// due send finds a free sender.
const latencySenders = 64

// wireCall makes a call use wireCodec.
var wireCall = grpc.ForceCodecV2(wireCodec{})

// latencyRun is what one latency workload's goroutines share: the senders
// (see runSenders) and one live-tail consumer per partition. Samples are
// per goroutine; the sets and counters are atomic; r is guarded by mu.
type latencyRun struct {
	b       *bencher
	topic   string
	clk     realClock
	warmEnd time.Duration
	m       *meter

	acked, received   *seqSet // by seq; bounded by the most sends the run can make
	ackedN, receivedN atomic.Int64

	// interrupted is the run's own context (Ctrl-C): a request cut short by
	// it is not counted, one cut short because its --timeout ran out after
	// the schedule ended is an error.
	interrupted func() bool

	mu sync.Mutex
	r  *benchResult
}

func (lr *latencyRun) fail(err error) {
	lr.mu.Lock()
	lr.r.fail(err)
	lr.mu.Unlock()
}

// latencyWorkload measures end-to-end latency at a fixed open-loop rate.
func (b *bencher) latencyWorkload(ctx context.Context) ([]*benchResult, error) {
	cfg := b.cfg
	topic := cfg.Topic + "-latency"
	if err := b.recreate(ctx, topic, cfg.Partitions); err != nil {
		return nil, err
	}
	offs, err := b.offsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	defer latencyProcs(cfg.Rate)()
	name := fmt.Sprintf("latency@%s/s", group(int64(cfg.Rate)))
	r := &benchResult{Name: name, TargetRate: cfg.Rate}
	clk := realClock{base: time.Now(), spin: cfg.Pacer == "spin"}
	// At most rate × duration + 1 sends fall due before the end.
	maxSends := int64(cfg.Rate*time.Duration(cfg.Duration).Seconds()) + 2
	lr := &latencyRun{
		b: b, topic: topic, clk: clk, m: &meter{}, r: r,
		warmEnd: clk.now() + time.Duration(cfg.Warmup),
		acked:   newSeqSet(maxSends), received: newSeqSet(maxSends),
		interrupted: func() bool { return ctx.Err() != nil },
	}
	end := clk.now() + time.Duration(cfg.Duration)
	cpu0 := selfCPU()
	w := b.startWatch(name, lr.m)

	// Consumers: one live-tail stream per partition.
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	e2e := make([]*samples, len(offs))
	fromSend := make([]*samples, len(offs))
	cerrs := make([]error, len(offs))
	var cwg sync.WaitGroup
	for i, o := range offs {
		e2e[i], fromSend[i] = &samples{}, &samples{}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			err := lr.tail(cctx, b.conns[i%len(b.conns)], o, e2e[i], fromSend[i])
			if err != nil && cctx.Err() == nil {
				cerrs[i] = err
			}
		}()
	}

	// Senders. Once the schedule ends, every request has --timeout to be
	// answered; then the rest are cancelled and count as errors.
	sctx, stopSends := context.WithCancel(ctx)
	defer stopSends()
	acks := make([]*samples, latencySenders)
	lags := make([]*samples, latencySenders)
	for k := range acks {
		acks[k], lags[k] = &samples{}, &samples{}
	}
	sent, swg := lr.runSenders(sctx, end, maxSends, acks, lags)
	if !waitTimeout(swg, b.e.timeout) {
		stopSends()
		swg.Wait()
	}

	// Wait for the consumers to catch up with everything acknowledged.
	deadline := time.Now().Add(drainWait)
	for lr.receivedN.Load() < lr.ackedN.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stopConsumers()
	cwg.Wait()

	r.Records = sent
	r.ClientCPUSecs = (selfCPU() - cpu0).Seconds()
	w.stop(r) // broker CPU per million over every record sent, warm-up included
	r.Records, r.Bytes = lr.m.records.Load(), lr.m.bytes.Load()
	r.finish(time.Duration(cfg.Duration - cfg.Warmup))
	r.Missing = lr.acked.countNotIn(lr.received)
	e2eSum, ackSum, lagSum := summarize(merge(e2e...)), summarize(merge(acks...)), summarize(merge(lags...))
	sendSum := summarize(merge(fromSend...))
	r.Latency, r.AckLatency, r.SendLag, r.FromSend = &e2eSum, &ackSum, &lagSum, &sendSum
	for _, err := range cerrs {
		if err != nil {
			r.fail(fmt.Errorf("live-tail consumer: %w", err))
		}
	}
	if ctx.Err() != nil {
		return []*benchResult{r}, ctx.Err()
	}
	return []*benchResult{r}, nil
}

// waitTimeout waits for wg for at most d and says whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// runSenders sends the schedule's records until end (at most maxSends)
// from latencySenders goroutines, each making one call at a time. With
// --pacer sleep, a free sender claims the next due send and waits for it on
// its own timer (see claimSource), so the goroutine that wakes is the one
// that sends: no hand-off between waking and sending. With --pacer spin,
// one spinning pacer on its own thread hands due sends to the senders
// (chanSource). Either way the schedule is open loop: a send that finds
// every sender busy goes out late, stamped with its due time. runSenders
// returns once the schedule has ended, with how many sends it scheduled
// and a WaitGroup for the senders' last calls.
func (lr *latencyRun) runSenders(ctx context.Context, end time.Duration, maxSends int64, acks, lags []*samples) (int64, *sync.WaitGroup) {
	cfg := lr.b.cfg
	tmpls := make([]produceTemplate, cfg.Partitions)
	value := payload(cfg.RecordSize)
	for p := range tmpls {
		tmpls[p] = newProduceTemplate(lr.topic, uint32(p), value, cfg.acks)
	}
	var src dueSource
	if cfg.Pacer == "spin" {
		src = newChanSource(ctx, lr.clk, cfg.Rate, maxSends, end)
	} else {
		src = newClaimSource(lr.clk.now(), cfg.Rate, maxSends, end)
	}
	var wg sync.WaitGroup
	for k := range latencySenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr.send(ctx, src, lr.b.conns[k%len(lr.b.conns)].Conn(), tmpls, acks[k], lags[k])
		}()
	}
	select {
	case <-src.ended():
	case <-ctx.Done():
	}
	return src.scheduled(), &wg
}

// send makes the calls of the due sends it takes from src, one at a time,
// until src has no more.
func (lr *latencyRun) send(ctx context.Context, src dueSource, conn *grpc.ClientConn, tmpls []produceTemplate, acks, lags *samples) {
	next, release := src.waiter(lr.clk)
	defer release()
	parts := int64(len(tmpls))
	var sink ackSink
	w := &wireRequest{}
	call := func(w *wireRequest) error {
		return conn.Invoke(ctx, pb.BrokerService_Produce_FullMethodName, w, &sink, wireCall)
	}
	if lr.b.cfg.ProduceRPC == "stream" {
		ps := &produceStream{conn: conn}
		defer ps.close()
		call = func(w *wireRequest) error { return ps.call(ctx, w, &sink) }
	}
	for {
		i, due, ok := next(ctx)
		if !ok {
			return
		}
		st := latencyStamp{due: due, seq: i, sent: lr.clk.now()}
		counted := due >= lr.warmEnd
		if counted {
			lags.add(st.sent - due)
		}
		tmpls[i%parts].fill(w, st)
		err := call(w)
		if err != nil {
			if !lr.interrupted() {
				lr.fail(fmt.Errorf("produce record %d: %w", i, err))
			}
			w = &wireRequest{} // gRPC may not be done with the old one
			continue
		}
		now := lr.clk.now()
		lr.acked.add(i)
		lr.ackedN.Add(1)
		if counted {
			acks.add(now - due)
		}
	}
}

// produceStream is one sender's ProduceStream: one request message and its
// response at a time, opened on first use and again after a failure ends it.
type produceStream struct {
	conn *grpc.ClientConn
	s    grpc.ClientStream // nil until opened, and after a failure
}

var produceStreamDesc = &grpc.StreamDesc{StreamName: "ProduceStream", ClientStreams: true, ServerStreams: true}

// call sends w and waits for its response. Once the response is in, the
// broker has read w, so w may be refilled.
func (ps *produceStream) call(ctx context.Context, w *wireRequest, sink *ackSink) error {
	if ps.s == nil {
		s, err := ps.conn.NewStream(ctx, produceStreamDesc, pb.BrokerService_ProduceStream_FullMethodName, wireCall)
		if err != nil {
			return err
		}
		ps.s = s
	}
	err := ps.s.SendMsg(w)
	if err == nil || errors.Is(err, io.EOF) { // io.EOF: the stream ended, RecvMsg says why
		err = ps.s.RecvMsg(sink)
	}
	if err != nil {
		ps.s = nil
		if errors.Is(err, io.EOF) {
			err = errors.New("the broker ended the produce stream")
		}
	}
	return err
}

func (ps *produceStream) close() {
	if ps.s != nil {
		_ = ps.s.CloseSend()
	}
}

// tail follows partition o from its next offset with ConsumeBatches until
// ctx ends, reading each batch in place (client.ConsumeBatchesRaw: no
// message per record) and handing each entry to a tailCheck.
func (lr *latencyRun) tail(ctx context.Context, c *client.Client, o *pb.PartitionOffsets, e2e, fromSend *samples) error {
	part := o.GetPartition()
	s, err := c.ConsumeBatchesRaw(ctx, &pb.ConsumeRequest{
		Topic: lr.topic, Partition: part, Offset: o.GetNextOffset(), Start: pb.Start_START_AT_OFFSET,
	})
	if err != nil {
		return err
	}
	tc := &tailCheck{lr: lr, part: part, next: o.GetNextOffset(), e2e: e2e, fromSend: fromSend}
	for {
		batch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("partition %d: the broker ended the live stream", part)
		}
		if err != nil {
			return err
		}
		tc.batch()
		for batch.Next() {
			e := batch.Entry()
			tc.entry(e.Offset(), e.Value())
		}
		if err := batch.Err(); err != nil {
			return fmt.Errorf("partition %d: %w", part, err)
		}
	}
}

// tailCheck times and checks one partition's records as they arrive: each
// from its due time to the receipt of its batch. Offsets must run on from
// the start without a gap or a repeat, and every record must be one the
// run sent, received once; a failed check counts as an error of the run.
// Owned by one consumer goroutine.
type tailCheck struct {
	lr            *latencyRun
	part          uint32
	next          uint64 // the offset the next entry must have
	now           time.Duration
	e2e, fromSend *samples
}

// batch notes the receipt time of a batch.
func (tc *tailCheck) batch() { tc.now = tc.lr.clk.now() }

func (tc *tailCheck) entry(off uint64, value []byte) {
	lr := tc.lr
	if off != tc.next {
		lr.fail(fmt.Errorf("partition %d: offset %d where %d was next (a gap or a repeat)", tc.part, off, tc.next))
	}
	tc.next = off + 1
	st, ok := readStamp(value)
	switch {
	case !ok:
		lr.fail(fmt.Errorf("partition %d offset %d: %d bytes, no latency stamp", tc.part, off, len(value)))
		return
	case !lr.received.holds(st.seq):
		lr.fail(fmt.Errorf("partition %d offset %d: record %d is not one this run sent", tc.part, off, st.seq))
		return
	case !lr.received.add(st.seq):
		lr.fail(fmt.Errorf("partition %d offset %d: record %d received twice", tc.part, off, st.seq))
		return
	}
	lr.receivedN.Add(1)
	if st.due >= lr.warmEnd {
		tc.e2e.add(tc.now - st.due)
		tc.fromSend.add(tc.now - st.sent)
		lr.m.records.Add(1)
		lr.m.bytes.Add(int64(len(value)))
	}
}
