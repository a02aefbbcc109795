package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/logbroker/logbroker/client"
	"github.com/logbroker/logbroker/pb"
)

const produceHelp = `Append records to a topic.

Usage:
  lb produce TOPIC [VALUE...] [flags]

Each VALUE is one record. Without VALUEs, each line of standard input is one
record (a trailing \r\n or \n is not part of it). Use -- before values that
start with a dash.

Where records go: with --partition, there; with --key, to the partition the
key hashes to (the same one a Kafka producer picks, so equal keys stay in
order); otherwise spread over the partitions a batch at a time.

Examples:
  lb produce orders hello world
  lb produce orders --key user-1 --header source=cli '{"id":1}'
  seq 1000 | lb produce orders --partition 2 --acks none
`

// headerFlag collects repeated --header key=value flags, in order.
type headerFlag []*pb.Header

func (h *headerFlag) String() string {
	parts := make([]string, len(*h))
	for i, x := range *h {
		parts[i] = x.GetKey() + "=" + string(x.GetValue())
	}
	return strings.Join(parts, ",")
}

func (h *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	*h = append(*h, &pb.Header{Key: k, Value: []byte(v)})
	return nil
}

// acksFlag is --acks none|leader.
func parseAcks(s string) (pb.Acks, error) {
	switch s {
	case "leader":
		return pb.Acks_ACKS_LEADER, nil
	case "none":
		return pb.Acks_ACKS_NONE, nil
	}
	return 0, fmt.Errorf("--acks %q: want none (do not wait for the broker to store records) or leader (wait; report offsets)", s)
}

// maxLine bounds one stdin line; the broker refuses larger records anyway.
const maxLine = 16 << 20

// pendingCap bounds the outcomes kept in memory while reading stdin.
const pendingCap = 4096

func runProduce(ctx context.Context, e *env, args []string) error {
	u := usage{name: "lb produce", line: "lb produce TOPIC [VALUE...] [--key K] [--partition N] [--acks none|leader] [--header k=v]...", text: produceHelp}
	fs := e.flagSet(u.name)
	key := fs.String("key", "", "record `KEY`; picks the partition unless --partition is given")
	partition := fs.Int("partition", -1, "write to partition `N` (default: by key, or spread)")
	acksText := fs.String("acks", "leader", "`MODE`: leader waits until the broker stored the records and reports offsets; none does not wait")
	var headers headerFlag
	fs.Var(&headers, "header", "add header `key=value` to every record (repeatable)")
	pos, err := e.parse(fs, u, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return u.fail("missing TOPIC")
	}
	topic, values := pos[0], pos[1:]
	acks, err := parseAcks(*acksText)
	if err != nil {
		return u.fail(err.Error())
	}
	if *partition < -1 {
		return u.fail(fmt.Sprintf("--partition %d: want 0 or more", *partition))
	}

	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	rctx, cancel := e.withTimeout(ctx)
	n, err := c.PartitionCount(rctx, topic)
	cancel()
	if err != nil {
		return err
	}
	if *partition >= int(n) {
		return fmt.Errorf("partition %d does not exist: topic %s has %d partitions (0..%d)", *partition, topic, n, n-1)
	}
	p, err := client.NewProducer(c, topic, client.ProducerOptions{
		Partitions: n, Acks: acks, RequestTimeout: e.timeout, // failures go in the summary, not a log
	})
	if err != nil {
		return err
	}
	sum := newSummary(topic, acks)
	send := func(value []byte) error {
		rec := &pb.Record{Value: value, Headers: headers}
		if *key != "" {
			rec.Key = []byte(*key)
		}
		var f *client.Future
		var err error
		if *partition >= 0 {
			f, err = p.SendTo(ctx, uint32(*partition), rec)
		} else {
			f, err = p.Send(ctx, rec)
		}
		if err != nil {
			return err
		}
		return sum.add(ctx, f)
	}

	var inErr error
	if len(values) > 0 {
		for _, v := range values {
			if inErr = send([]byte(v)); inErr != nil {
				break
			}
		}
	} else {
		if f, ok := e.stdin.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprintln(e.stderr, "lb: reading records from the terminal, one per line; end with Ctrl-D")
			}
		}
		inErr = readLines(ctx, e.stdin, send)
	}
	// Close sends what is buffered and waits for every outcome.
	closeErr := p.Close(ctx)
	sum.drain()
	sum.print(e)
	switch {
	case inErr != nil:
		return inErr
	case closeErr != nil:
		return closeErr
	case sum.failed > 0:
		// The count matters more than the status code: report both in words.
		return fmt.Errorf("%d of %d records failed; the first because: %s", sum.failed, sum.failed+sum.ok, describe(sum.firstErr, e))
	case sum.ok == 0:
		fmt.Fprintln(e.stderr, "lb: no records to produce: give VALUEs as arguments or lines on standard input")
	}
	return nil
}

// readLines calls send for each line of r until r ends or ctx does. The
// reading runs on a goroutine of its own: a read of a terminal blocks until
// Enter, and Ctrl-C must not wait for that.
func readLines(ctx context.Context, r io.Reader, send func([]byte) error) error {
	type line struct {
		b   []byte
		end bool // r ended; err says how
		err error
	}
	lines := make(chan line)
	done := make(chan struct{})
	defer close(done)
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			// The scanner reuses its buffer; the record must own its bytes.
			select {
			case lines <- line{b: append([]byte(nil), sc.Bytes()...)}:
			case <-done:
				return
			}
		}
		err := sc.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line of standard input is longer than %d MiB; records that large are not supported", maxLine>>20)
		}
		select {
		case lines <- line{end: true, err: err}:
		case <-done:
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case l := <-lines:
			if l.end {
				return l.err
			}
			if err := send(l.b); err != nil {
				return err
			}
		}
	}
}

// summary tallies outcomes per partition for the final report.
type summary struct {
	topic    string
	acks     pb.Acks
	pending  []*client.Future
	parts    map[uint32]*partSummary
	ok       int
	failed   int
	firstErr error
}

type partSummary struct {
	count       int
	first, last uint64
}

func newSummary(topic string, acks pb.Acks) *summary {
	return &summary{topic: topic, acks: acks, parts: map[uint32]*partSummary{}}
}

// add keeps f, waiting for the oldest outcome when too many are pending so
// a long stdin does not grow memory without bound.
func (s *summary) add(ctx context.Context, f *client.Future) error {
	s.pending = append(s.pending, f)
	if len(s.pending) < pendingCap {
		return nil
	}
	select {
	case <-s.pending[0].Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	for len(s.pending) > 0 && isDone(s.pending[0]) {
		s.record(s.pending[0])
		s.pending = s.pending[1:]
	}
	return nil
}

func isDone(f *client.Future) bool {
	select {
	case <-f.Done():
		return true
	default:
		return false
	}
}

// drain records every pending outcome; call after Producer.Close.
func (s *summary) drain() {
	for _, f := range s.pending {
		if isDone(f) {
			s.record(f)
			continue
		}
		// Close returns only once every record has an outcome; this is
		// a guard, not a path.
		s.failed++
		if s.firstErr == nil {
			s.firstErr = client.ErrClosed
		}
	}
	s.pending = nil
}

func (s *summary) record(f *client.Future) {
	res, err := f.Wait(context.Background()) // done: returns at once
	if err != nil {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
		return
	}
	s.ok++
	ps := s.parts[res.Partition]
	if ps == nil {
		ps = &partSummary{first: res.Offset}
		s.parts[res.Partition] = ps
	}
	ps.count++
	ps.first, ps.last = min(ps.first, res.Offset), max(ps.last, res.Offset)
}

func (s *summary) print(e *env) {
	ids := make([]uint32, 0, len(s.parts))
	for id := range s.parts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ps := s.parts[id]
		if s.acks == pb.Acks_ACKS_NONE {
			fmt.Fprintf(e.stdout, "sent %d %s to %s/%d (acks=none: offsets not reported)\n", ps.count, plural(ps.count, "record"), s.topic, id)
			continue
		}
		at := fmt.Sprintf("at offset %d", ps.first)
		if ps.count > 1 {
			at = fmt.Sprintf("at offsets %d..%d", ps.first, ps.last)
		}
		fmt.Fprintf(e.stdout, "produced %d %s to %s/%d %s\n", ps.count, plural(ps.count, "record"), s.topic, id, at)
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
