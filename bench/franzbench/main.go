// Command franzbench is franz-go's bench workload (examples/bench in its
// repository) cut down to what bench/kafkapeers.sh measures: one kgo client
// producing N records of a fixed size to one topic as fast as it can, or
// reading N records of a topic from its start as fast as it can, without a
// group. It prints one line: records, seconds, records_per_sec, errors.
//
// The producer keeps kgo's defaults (acks=all, idempotent, 5 requests in
// flight per broker) apart from -linger and -batch-bytes, and compression:
// none, as Kafka's ProducerPerformance sends by default (kgo's default,
// snappy, would shrink the repeated value to a few bytes and measure a
// different workload).
//
// Concurrency: main runs the workload; kgo's own goroutines call the produce
// callbacks, which touch only atomics and a WaitGroup.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	brokers    string
	mode       string
	topic      string
	records    int64
	recordSize int
	linger     time.Duration
	batchBytes int
}

func (c config) validate() error {
	switch {
	case c.brokers == "":
		return errors.New("franzbench: -brokers is required")
	case c.mode != "produce" && c.mode != "consume":
		return fmt.Errorf("franzbench: -mode %q: want produce or consume", c.mode)
	case c.topic == "":
		return errors.New("franzbench: -topic is required")
	case c.records < 1:
		return fmt.Errorf("franzbench: -records %d: want 1 or more", c.records)
	case c.recordSize < 1:
		return fmt.Errorf("franzbench: -record-size %d: want 1 or more", c.recordSize)
	case c.batchBytes < c.recordSize:
		return fmt.Errorf("franzbench: -batch-bytes %d: want at least -record-size", c.batchBytes)
	}
	return nil
}

type result struct {
	records, errors int64
	elapsed         time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("records=%d seconds=%.3f records_per_sec=%.0f errors=%d",
		r.records, r.elapsed.Seconds(), float64(r.records)/r.elapsed.Seconds(), r.errors)
}

func produce(ctx context.Context, c config) (result, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.brokers, ",")...),
		kgo.DefaultProduceTopic(c.topic), kgo.ProducerLinger(c.linger),
		kgo.ProducerBatchMaxBytes(int32(c.batchBytes)), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordRetries(10))
	if err != nil {
		return result{}, fmt.Errorf("franzbench: %w", err)
	}
	defer cl.Close()
	value := make([]byte, c.recordSize) // shared: kgo never writes to a record's value
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var (
		wg       sync.WaitGroup
		errs     atomic.Int64
		firstErr atomic.Pointer[error]
	)
	start := time.Now()
	for range c.records {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, &err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	r := result{records: c.records - errs.Load(), errors: errs.Load(), elapsed: time.Since(start)}
	if p := firstErr.Load(); p != nil {
		return r, fmt.Errorf("franzbench: produce: %w", *p)
	}
	return r, nil
}

func consume(ctx context.Context, c config) (result, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.brokers, ",")...),
		kgo.ConsumeTopics(c.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return result{}, fmt.Errorf("franzbench: %w", err)
	}
	defer cl.Close()
	var r result
	start := time.Now()
	for r.records < c.records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			r.elapsed = time.Since(start)
			return r, fmt.Errorf("franzbench: consume after %d records: %w", r.records, err)
		}
		fs.EachError(func(string, int32, error) { r.errors++ })
		r.records += int64(fs.NumRecords())
	}
	r.elapsed = time.Since(start)
	return r, nil
}

func main() {
	var c config
	flag.StringVar(&c.brokers, "brokers", "127.0.0.1:9093", "seed brokers, comma-separated")
	flag.StringVar(&c.mode, "mode", "produce", "produce or consume")
	flag.StringVar(&c.topic, "topic", "", "topic (it must exist)")
	flag.Int64Var(&c.records, "records", 1_000_000, "records to produce or to read")
	flag.IntVar(&c.recordSize, "record-size", 100, "value bytes per record (produce)")
	flag.DurationVar(&c.linger, "linger", 10*time.Millisecond, "producer linger")
	flag.IntVar(&c.batchBytes, "batch-bytes", 131072, "producer batch size limit")
	timeout := flag.Duration("timeout", 10*time.Minute, "bound on the whole run")
	flag.Parse()
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	run := produce
	if c.mode == "consume" {
		run = consume
	}
	r, err := run(ctx, c)
	fmt.Println(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
