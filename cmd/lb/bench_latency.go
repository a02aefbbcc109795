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

// latencyWorkers send the scheduled records; more than are ever busy at
// once at the rates this measures, so the schedule never waits for one.
const latencyWorkers = 64

type latencyJob struct {
	seq int64
	due time.Duration
}

// wireCall makes a call use wireCodec.
var wireCall = grpc.ForceCodecV2(wireCodec{})

// latencyRun is what one latency workload's goroutines share: the pacer,
// the workers that send, and one live-tail consumer per partition. Samples
// are per goroutine; the sets and counters are atomic; r is guarded by mu.
type latencyRun struct {
	b       *bencher
	topic   string
	clk     realClock
	warmEnd time.Duration
	m       *meter

	acked, received   *seqSet // by seq; bounded by the most sends the run can make
	ackedN, receivedN atomic.Int64

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
	name := fmt.Sprintf("latency@%s/s", group(int64(cfg.Rate)))
	r := &benchResult{Name: name, TargetRate: cfg.Rate}
	clk := realClock{base: time.Now(), spin: cfg.Pacer == "spin"}
	// At most rate × duration + 1 sends fall due before the end.
	maxSends := int64(cfg.Rate*time.Duration(cfg.Duration).Seconds()) + 2
	lr := &latencyRun{
		b: b, topic: topic, clk: clk, m: &meter{}, r: r,
		warmEnd: clk.now() + time.Duration(cfg.Warmup),
		acked:   newSeqSet(maxSends), received: newSeqSet(maxSends),
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

	// Senders: workers take scheduled jobs; the pacer schedules them. Each
	// partition's request is encoded once; a send copies it into the
	// worker's buffer and stamps it.
	parts := int64(cfg.Partitions)
	tmpls := make([]produceTemplate, parts)
	value := payload(cfg.RecordSize)
	for p := range tmpls {
		tmpls[p] = newProduceTemplate(topic, uint32(p), value, cfg.acks)
	}
	jobs := make(chan latencyJob, 1<<16)
	acks := make([]*samples, latencyWorkers)
	lags := make([]*samples, latencyWorkers)
	var swg sync.WaitGroup
	for k := range latencyWorkers {
		acks[k], lags[k] = &samples{}, &samples{}
		swg.Add(1)
		go func() {
			defer swg.Done()
			conn := b.conns[k%len(b.conns)].Conn()
			var sink ackSink
			w := &wireRequest{}
			for j := range jobs {
				counted := j.due >= lr.warmEnd
				st := latencyStamp{due: j.due, seq: j.seq, sent: clk.now()}
				if counted {
					lags[k].add(st.sent - j.due)
				}
				tmpls[j.seq%parts].fill(w, st)
				rctx, cancel := context.WithTimeout(ctx, b.e.timeout)
				err := conn.Invoke(rctx, pb.BrokerService_Produce_FullMethodName, w, &sink, wireCall)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						lr.fail(fmt.Errorf("produce record %d: %w", j.seq, err))
					}
					w = &wireRequest{} // gRPC may not be done with the old one
					continue
				}
				lr.acked.add(j.seq)
				lr.ackedN.Add(1)
				if counted {
					acks[k].add(clk.now() - j.due)
				}
			}
		}()
	}
	sent := b.runPacer(ctx, clk, end, maxSends, jobs)
	close(jobs)
	swg.Wait()

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

// runPacer schedules sends until end (at most n) on a goroutine pinned to
// its own thread (see pinPacer) and returns how many it scheduled.
func (b *bencher) runPacer(ctx context.Context, clk clock, end time.Duration, n int64, jobs chan<- latencyJob) int64 {
	done := make(chan int64, 1)
	go func() {
		pinPacer()
		done <- pace(ctx, clk, clk.now(), b.cfg.Rate, n, end, func(i int64, due time.Duration) {
			select {
			case jobs <- latencyJob{seq: i, due: due}:
			case <-ctx.Done():
			}
		})
	}()
	return <-done
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
