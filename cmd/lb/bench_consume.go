package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

// consumeWorkload reads the whole topic once per consume API, from each
// partition's log start to the end it had when the workload began.
func (b *bencher) consumeWorkload(ctx context.Context) ([]*benchResult, error) {
	offs, err := b.offsets(ctx, b.cfg.Topic)
	if err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	if held(offs) == 0 {
		n := b.cfg.Records
		if n == 0 {
			n = defaultFillRecords
		}
		if !b.cfg.quiet {
			fmt.Fprintf(b.e.stderr, "lb bench: topic %s is empty; writing %s records to read (not timed)\n", b.cfg.Topic, group(n))
		}
		if err := b.recreate(ctx, b.cfg.Topic, b.cfg.Partitions); err != nil {
			return nil, err
		}
		if _, err := b.produce(ctx, "fill", n, 24*time.Hour); err != nil {
			return nil, fmt.Errorf("fill topic %s: %w", b.cfg.Topic, err)
		}
		if offs, err = b.offsets(ctx, b.cfg.Topic); err != nil {
			return nil, err
		}
	}
	var apis []string
	switch b.cfg.ConsumeAPI {
	case "both":
		apis = []string{"batches", "entries"}
	default:
		apis = []string{b.cfg.ConsumeAPI}
	}
	var out []*benchResult
	for _, api := range apis {
		r, err := b.consume(ctx, api, offs)
		out = append(out, r)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b *bencher) offsets(ctx context.Context, topic string) ([]*pb.PartitionOffsets, error) {
	rctx, cancel := b.e.withTimeout(ctx)
	defer cancel()
	return b.conns[0].GetOffsets(rctx, topic)
}

// held is the number of records the partitions hold.
func held(offs []*pb.PartitionOffsets) int64 {
	var n int64
	for _, o := range offs {
		n += int64(o.GetNextOffset() - o.GetLogStartOffset())
	}
	return n
}

// consume reads every partition's [log start, next) with api ("batches":
// ConsumeBatches, "entries": Consume), --consumers streams at a time.
func (b *bencher) consume(ctx context.Context, api string, offs []*pb.PartitionOffsets) (*benchResult, error) {
	name := "consume-" + api
	r := &benchResult{Name: name}
	m := &meter{}
	cpu0 := selfCPU()
	w := b.startWatch(name, m)
	start := time.Now()
	sem := make(chan struct{}, b.cfg.Consumers)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, o := range offs {
		if o.GetNextOffset() == o.GetLogStartOffset() {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.readPartition(ctx, b.conns[i%len(b.conns)], api, o, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Records, r.Bytes = m.records.Load(), m.bytes.Load()
	r.finish(time.Since(start))
	r.ClientCPUSecs = (selfCPU() - cpu0).Seconds()
	w.stop(r)
	for _, err := range errs {
		r.fail(err)
	}
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("%s: %d of %d partitions failed; the first: %w", name, len(errs), len(offs), errs[0])
	}
	return r, nil
}

// errBenchGap: a stream skipped or repeated offsets.
var errBenchGap = errors.New("bench: offset gap")

// readPartition reads o's partition from its log start until it has every
// record up to its next offset, and checks that offsets are dense. Like
// Kafka's consumer perf tool it only counts records and bytes, so it reads
// messages in place (client.ConsumeBatchesRaw, client.ConsumeRaw) instead
// of building a pb.LogEntry per record: the figure is the broker's, not
// the client's unmarshalling.
func (b *bencher) readPartition(ctx context.Context, c *client.Client, api string, o *pb.PartitionOffsets, m *meter) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream once everything was read
	req := &pb.ConsumeRequest{
		Topic: b.cfg.Topic, Partition: o.GetPartition(), Offset: o.GetLogStartOffset(),
		Start: pb.Start_START_AT_OFFSET, MaxBytes: b.cfg.MaxBytes, StopAtEnd: true,
	}
	r := denseReader{partition: o.GetPartition(), next: o.GetLogStartOffset(), end: o.GetNextOffset(), m: m}
	defer r.flush()
	if api == "batches" {
		s, err := c.ConsumeBatchesRaw(sctx, req)
		if err != nil {
			return err
		}
		for r.next < r.end {
			it, err := s.Recv()
			if err != nil {
				return r.recvErr(err)
			}
			for it.Next() {
				if err := r.take(it.Entry()); err != nil {
					return err
				}
			}
			if err := it.Err(); err != nil {
				return fmt.Errorf("partition %d at offset %d: %w", r.partition, r.next, err)
			}
			r.flush()
		}
		return nil
	}
	s, err := c.ConsumeRaw(sctx, req)
	if err != nil {
		return err
	}
	for r.next < r.end {
		e, err := s.Recv()
		if err != nil {
			return r.recvErr(err)
		}
		if err := r.take(e); err != nil {
			return err
		}
		if r.records == 256 { // the meter is shared: touch it per batch
			r.flush()
		}
	}
	return nil
}

// denseReader checks that one partition's entries come at exactly the
// offsets [next, end) in order, and counts them into m.
type denseReader struct {
	partition      uint32
	next, end      uint64
	records, bytes int64 // not yet added to m
	m              *meter
}

func (r *denseReader) take(e client.Entry) error {
	if e.Offset() != r.next {
		return fmt.Errorf("%w: partition %d: want offset %d, got %d", errBenchGap, r.partition, r.next, e.Offset())
	}
	r.next++
	r.records++
	r.bytes += int64(len(e.Value()) + len(e.Key()))
	return nil
}

func (r *denseReader) flush() {
	r.m.records.Add(r.records)
	r.m.bytes.Add(r.bytes)
	r.records, r.bytes = 0, 0
}

func (r *denseReader) recvErr(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("partition %d: stream ended at offset %d, want %d", r.partition, r.next, r.end)
	}
	return fmt.Errorf("partition %d at offset %d: %w", r.partition, r.next, err)
}
