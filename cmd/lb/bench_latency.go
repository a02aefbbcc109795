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

// latencyWorkers send the scheduled records; more than are ever busy at
// once at the rates this measures, so the schedule never waits for one.
const latencyWorkers = 64

// drainWait bounds the wait, after the last send, for consumers to receive
// every acknowledged record.
const drainWait = 10 * time.Second

type latencyJob struct {
	seq int64
	due time.Duration
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
	m := &meter{}
	clk := realClock{base: time.Now(), spin: cfg.Pacer == "spin"}
	warmEnd := clk.now() + time.Duration(cfg.Warmup)
	end := clk.now() + time.Duration(cfg.Duration)
	cpu0 := selfCPU()
	w := b.startWatch(name, m)

	// Consumers: one live-tail stream per partition.
	cctx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	e2e := make([]*samples, len(offs))
	fromSend := make([]*samples, len(offs))
	var (
		cwg      sync.WaitGroup
		received atomic.Int64
		cerrMu   sync.Mutex
		cerrs    []error
	)
	for i, o := range offs {
		e2e[i], fromSend[i] = &samples{}, &samples{}
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			err := b.tail(cctx, b.conn(i), topic, o, func(e *pb.LogEntry) {
				now := clk.now()
				if st, ok := readStamp(e.GetValue()); ok {
					if st.due >= warmEnd {
						e2e[i].add(now - st.due)
						fromSend[i].add(now - st.sent)
						m.records.Add(1)
						m.bytes.Add(int64(len(e.GetValue())))
					}
					received.Add(1)
				}
			})
			if err != nil && cctx.Err() == nil {
				cerrMu.Lock()
				cerrs = append(cerrs, err)
				cerrMu.Unlock()
			}
		}()
	}

	// Senders: workers take scheduled jobs; the pacer schedules them.
	jobs := make(chan latencyJob, 1<<16)
	acks := make([]*samples, latencyWorkers)
	lags := make([]*samples, latencyWorkers)
	var (
		swg    sync.WaitGroup
		acked  atomic.Int64
		serrMu sync.Mutex
	)
	for k := range latencyWorkers {
		acks[k], lags[k] = &samples{}, &samples{}
		swg.Add(1)
		go func() {
			defer swg.Done()
			broker := b.conn(k)
			value := payload(cfg.RecordSize)
			rec := &pb.Record{Value: value}
			req := &pb.ProduceRequest{Topic: topic, Records: []*pb.Record{rec}, Acks: cfg.acks}
			for j := range jobs {
				req.Partition = uint32(j.seq % int64(cfg.Partitions))
				counted := j.due >= warmEnd
				sent := clk.now()
				latencyStamp{due: j.due, seq: j.seq, sent: sent}.put(value)
				if counted {
					lags[k].add(sent - j.due)
				}
				rctx, cancel := context.WithTimeout(ctx, b.e.timeout)
				_, err := broker.Produce(rctx, req)
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						serrMu.Lock()
						r.fail(err)
						serrMu.Unlock()
					}
					continue
				}
				acked.Add(1)
				if counted {
					acks[k].add(clk.now() - j.due)
				}
			}
		}()
	}
	sent := b.runPacer(ctx, clk, end, jobs)
	close(jobs)
	swg.Wait()

	// Wait for the consumers to catch up with everything acknowledged.
	deadline := time.Now().Add(drainWait)
	for received.Load() < acked.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stopConsumers()
	cwg.Wait()

	r.Records = sent
	r.ClientCPUSecs = (selfCPU() - cpu0).Seconds()
	w.stop(r) // broker CPU per million over every record sent, warm-up included
	r.Records, r.Bytes = m.records.Load(), m.bytes.Load()
	r.finish(time.Duration(cfg.Duration - cfg.Warmup))
	r.Missing = max(acked.Load()-received.Load(), 0)
	e2eSum, ackSum, lagSum := summarize(merge(e2e...)), summarize(merge(acks...)), summarize(merge(lags...))
	sendSum := summarize(merge(fromSend...))
	r.Latency, r.AckLatency, r.SendLag, r.FromSend = &e2eSum, &ackSum, &lagSum, &sendSum
	for _, err := range cerrs {
		r.fail(fmt.Errorf("live-tail consumer: %w", err))
	}
	if ctx.Err() != nil {
		return []*benchResult{r}, ctx.Err()
	}
	return []*benchResult{r}, nil
}

// runPacer schedules sends until end on a goroutine pinned to its own
// thread (see pinPacer) and returns how many it scheduled.
func (b *bencher) runPacer(ctx context.Context, clk clock, end time.Duration, jobs chan<- latencyJob) int64 {
	done := make(chan int64, 1)
	go func() {
		pinPacer()
		done <- pace(ctx, clk, clk.now(), b.cfg.Rate, 0, end, func(i int64, due time.Duration) {
			select {
			case jobs <- latencyJob{seq: i, due: due}:
			case <-ctx.Done():
			}
		})
	}()
	return <-done
}

// tail follows partition o from its next offset with ConsumeBatches and
// calls h for each entry, until ctx ends.
func (b *bencher) tail(ctx context.Context, broker pb.BrokerServiceClient, topic string, o *pb.PartitionOffsets, h func(*pb.LogEntry)) error {
	s, err := broker.ConsumeBatches(ctx, &pb.ConsumeRequest{
		Topic: topic, Partition: o.GetPartition(), Offset: o.GetNextOffset(), Start: pb.Start_START_AT_OFFSET,
	})
	if err != nil {
		return err
	}
	for {
		batch, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("partition %d: the broker ended the live stream", o.GetPartition())
		}
		if err != nil {
			return err
		}
		for _, e := range batch.GetEntries() {
			h(e)
		}
	}
}
