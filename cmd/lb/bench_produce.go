package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

// produceWorkload recreates the topic and writes to it for --duration or
// --records.
func (b *bencher) produceWorkload(ctx context.Context) ([]*benchResult, error) {
	if err := b.recreate(ctx, b.cfg.Topic, b.cfg.Partitions); err != nil {
		return nil, err
	}
	r, err := b.produce(ctx, "produce", b.cfg.Records, time.Duration(b.cfg.Duration))
	return []*benchResult{r}, err
}

// produce writes up to limit records (0: no limit) for at most d, from
// --producers goroutines, and returns the outcome.
func (b *bencher) produce(ctx context.Context, name string, limit int64, d time.Duration) (*benchResult, error) {
	r := &benchResult{Name: name}
	m := &meter{}
	cpu0 := selfCPU()
	w := b.startWatch(name, m)
	start := time.Now()
	var err error
	if b.cfg.API == "producer" {
		err = b.produceWithProducer(ctx, r, m, limit, start.Add(d))
	} else {
		err = b.produceDirect(ctx, r, m, limit, start.Add(d))
	}
	r.Records, r.Bytes = m.records.Load(), m.bytes.Load()
	r.finish(time.Since(start))
	r.ClientCPUSecs = (selfCPU() - cpu0).Seconds()
	w.stop(r)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return r, err
}

// produceDirect sends ready-made requests of --batch records: the client's
// cost per record is one protobuf encoding, so the broker is what is measured.
// Request i goes to partition i mod --partitions; each producer has one
// request in flight.
func (b *bencher) produceDirect(ctx context.Context, r *benchResult, m *meter, limit int64, deadline time.Time) error {
	cfg := b.cfg
	value := payload(cfg.RecordSize)
	var (
		next   atomic.Int64 // next request index
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		parts  = make([]*samples, cfg.Producers)
		nBatch = int64(cfg.Batch)
	)
	for p := range cfg.Producers {
		parts[p] = &samples{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			broker := b.conn(p)
			records := make([]*pb.Record, cfg.Batch)
			for i := range records {
				records[i] = &pb.Record{Value: value}
			}
			req := &pb.ProduceRequest{Topic: cfg.Topic, Records: records, Acks: cfg.acks}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				n := nBatch
				if limit > 0 {
					left := limit - i*nBatch
					if left <= 0 {
						return
					}
					n = min(n, left)
				}
				req.Partition = uint32(i % int64(cfg.Partitions))
				req.Records = records[:n]
				rctx, cancel := context.WithTimeout(ctx, b.e.timeout)
				t0 := time.Now()
				_, err := broker.Produce(rctx, req)
				took := time.Since(t0)
				cancel()
				if err == nil {
					parts[p].add(took) // a failed request's time is no latency
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					errs = append(errs, err)
					nErrs := len(errs)
					mu.Unlock()
					if nErrs >= 10 {
						return // the broker is refusing: do not spin on it
					}
					continue
				}
				m.records.Add(n)
				m.bytes.Add(n * int64(cfg.RecordSize))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		r.fail(err)
	}
	lat := summarize(merge(parts...))
	r.Latency = &lat
	if len(errs) >= 10 {
		return fmt.Errorf("produce failed %d times; the first: %w", len(errs), errs[0])
	}
	return nil
}

// produceWithProducer sends record by record through client.Producer, which
// batches by --batch records' worth of bytes and --linger: the cost an
// application using the client pays.
func (b *bencher) produceWithProducer(ctx context.Context, r *benchResult, m *meter, limit int64, deadline time.Time) error {
	cfg := b.cfg
	value := payload(cfg.RecordSize)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
	)
	prods := make([]*client.Producer, len(b.conns))
	for i, c := range b.conns {
		p, err := client.NewProducer(c, cfg.Topic, client.ProducerOptions{
			Partitions:     uint32(cfg.Partitions),
			Acks:           cfg.acks,
			Linger:         time.Duration(cfg.Linger),
			MaxBatchBytes:  cfg.Batch * (cfg.RecordSize + 16),
			RequestTimeout: b.e.timeout,
		})
		if err != nil {
			for _, p := range prods[:i] {
				_ = p.Close(ctx)
			}
			return err
		}
		prods[i] = p
	}
	count := func(f *client.Future) {
		if _, err := f.Wait(context.Background()); err != nil {
			mu.Lock()
			r.fail(err)
			mu.Unlock()
			return
		}
		m.records.Add(1)
		m.bytes.Add(int64(cfg.RecordSize))
	}
	for g := range cfg.Producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := prods[g%len(prods)]
			// A window of outstanding futures bounds memory; the oldest
			// is waited for when it is full.
			const window = 1 << 14
			pending := make([]*client.Future, 0, window)
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if limit > 0 && i >= limit {
					break
				}
				if i%1024 == 0 && !time.Now().Before(deadline) {
					break
				}
				f, err := p.SendTo(ctx, uint32(i%int64(cfg.Partitions)), &pb.Record{Value: value})
				if err != nil {
					break
				}
				if len(pending) == window {
					count(pending[0])
					pending = pending[1:]
				}
				pending = append(pending, f)
			}
			if err := p.Flush(context.Background()); err == nil {
				for _, f := range pending {
					count(f)
				}
			}
		}()
	}
	wg.Wait()
	var err error
	for _, p := range prods {
		if cerr := p.Close(context.Background()); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}
