package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// Position is where Consume starts: Earliest (the zero value), Latest or
// AtOffset(n).
type Position struct {
	kind   posKind
	offset uint64
}

type posKind uint8

const (
	posEarliest posKind = iota
	posLatest
	posOffset
)

var (
	// Earliest starts at the partition's log start.
	Earliest = Position{kind: posEarliest}
	// Latest starts at the partition's next offset as it is when Consume
	// starts: only records appended from then on.
	Latest = Position{kind: posLatest}
)

// AtOffset starts at offset off.
func AtOffset(off uint64) Position { return Position{kind: posOffset, offset: off} }

// ParsePosition reads "earliest", "latest" or a decimal offset.
func ParsePosition(s string) (Position, error) {
	switch s {
	case "earliest":
		return Earliest, nil
	case "latest":
		return Latest, nil
	}
	off, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Position{}, fmt.Errorf("%w: start position %q: want earliest, latest or an offset (0, 1, ...)", ErrBadOption, s)
	}
	return AtOffset(off), nil
}

// Offset is the offset of an AtOffset position; ok is false for Earliest
// and Latest.
func (p Position) Offset() (off uint64, ok bool) {
	return p.offset, p.kind == posOffset
}

func (p Position) String() string {
	switch p.kind {
	case posEarliest:
		return "earliest"
	case posLatest:
		return "latest"
	}
	return strconv.FormatUint(p.offset, 10)
}

// Consumer defaults, used where ConsumeOptions leaves a field zero.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
)

// ConsumeOptions configures Consume.
type ConsumeOptions struct {
	// MaxBytes bounds one read batch; 0 uses the broker's default. A batch
	// always carries at least one record.
	MaxBytes uint32
	// StopAtEnd returns once the partition's end is reached, instead of
	// following new appends like tail -f.
	StopAtEnd bool
	// MaxRetries is how many reconnects in a row, without an entry
	// delivered in between, Consume tries before it gives up. 0 retries
	// until ctx ends.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the wait before a reconnect; it
	// doubles from MinBackoff after each failed attempt.
	MinBackoff, MaxBackoff time.Duration
	// AfterBatch, when set, runs after the entries of each batch from the
	// broker were handled (e.g. to flush output); an error stops Consume
	// like a Handler error.
	AfterBatch func() error
	// Logger receives each reconnect at warn level. Zero value: no logs.
	Logger zerolog.Logger
}

// Handler receives each entry once, in offset order. An error stops Consume,
// which returns that error unchanged. The entry is the handler's to keep.
type Handler func(*pb.LogEntry) error

// EntryHandler is Handler for ConsumeEntries: the entry is read in place and
// aliases a buffer that the next batch overwrites, so nothing of it may be
// kept after the call returns (copy what must stay, or call e.LogEntry).
type EntryHandler func(e Entry) error

// errStreamEnded: the broker closed a stream that should have followed the
// log. It happens when a broker shuts down; reconnecting is right.
var errStreamEnded = errors.New("client: broker ended the stream")

// handlerError marks an error as the handler's, so it is never retried.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }

// Consume reads a partition from `from` and calls h for every entry, with
// ConsumeBatches. It is ConsumeEntries with each entry copied into a
// pb.LogEntry of its own. When the stream or the connection drops (UNAVAILABLE, or
// the broker ends a following stream) it reconnects with backoff and
// resumes right after the last entry h accepted: no duplicates and no gaps,
// even if the drop happened mid-batch. Latest is resolved to an offset first
// (GetOffsets), so a drop before the first entry loses nothing either.
//
// It returns nil once the end is reached with StopAtEnd, ctx's error when
// ctx ends, h's error, or the broker's error (a gRPC status error, e.g.
// NOT_FOUND or OUT_OF_RANGE) when it is not one worth retrying.
// ErrOffsetGap reports a broker that skipped offsets, ErrMalformed one that
// sent bytes that are no EntryBatch.
func (c *Client) Consume(ctx context.Context, topic string, partition uint32, from Position, opts ConsumeOptions, h Handler) error {
	return c.ConsumeEntries(ctx, topic, partition, from, opts, func(e Entry) error {
		le, err := e.LogEntry()
		if err != nil {
			return err
		}
		return h(le)
	})
}

// ConsumeEntries is Consume for readers that do not keep entries: each
// entry is read in place from the received batch, with no allocation per
// entry, and h must not keep it (see EntryHandler). Resuming, errors and
// options are Consume's.
func (c *Client) ConsumeEntries(ctx context.Context, topic string, partition uint32, from Position, opts ConsumeOptions, h EntryHandler) error {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	log := opts.Logger.With().Str("topic", topic).Uint32("partition", partition).Logger()
	cs := consumeState{topic: topic, partition: partition, from: from, known: from.kind == posOffset, next: from.offset}
	wait := opts.MinBackoff
	failures := 0
	for {
		progressed, err := c.consumeOnce(ctx, &cs, opts, h)
		if err == nil {
			return nil
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		if progressed {
			failures, wait = 0, opts.MinBackoff
		}
		failures++
		if opts.MaxRetries > 0 && failures > opts.MaxRetries {
			return fmt.Errorf("client: consume %s/%d: gave up after %d attempts: %w", topic, partition, failures, err)
		}
		d := jitter(wait)
		log.Warn().Err(err).Str("resume_at", cs.resumeAt()).Str("backoff", d.Round(time.Millisecond).String()).Msg("consume stream lost; reconnecting")
		if err := sleep(ctx, d); err != nil {
			return err
		}
		wait = min(2*wait, opts.MaxBackoff)
	}
}

// consumeState is where a Consume stands: the next offset to deliver, once
// it is known.
type consumeState struct {
	topic     string
	partition uint32
	from      Position
	known     bool
	next      uint64
}

func (cs *consumeState) resumeAt() string {
	if cs.known {
		return strconv.FormatUint(cs.next, 10)
	}
	return cs.from.String()
}

// consumeOnce runs one stream until it ends. progressed reports whether h
// accepted an entry.
func (c *Client) consumeOnce(ctx context.Context, cs *consumeState, opts ConsumeOptions, h EntryHandler) (progressed bool, err error) {
	if !cs.known && cs.from.kind == posLatest {
		if err := c.resolveLatest(ctx, cs); err != nil {
			return false, err
		}
	}
	req := &pb.ConsumeRequest{
		Topic: cs.topic, Partition: cs.partition, MaxBytes: opts.MaxBytes, StopAtEnd: opts.StopAtEnd,
		Start: pb.Start_START_EARLIEST,
	}
	if cs.known {
		req.Start, req.Offset = pb.Start_START_AT_OFFSET, cs.next
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when we stop reading early
	stream, err := c.ConsumeBatchesRaw(sctx, req)
	if err != nil {
		return false, err
	}
	for {
		it, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if opts.StopAtEnd {
				return progressed, nil
			}
			return progressed, errStreamEnded
		}
		if err != nil {
			return progressed, err
		}
		for it.Next() {
			e := it.Entry()
			if cs.known && e.Offset() < cs.next {
				continue // the broker repeated itself; h has seen it
			}
			if cs.known && e.Offset() > cs.next {
				return progressed, fmt.Errorf("%w: %s/%d: want offset %d, broker sent %d",
					ErrOffsetGap, cs.topic, cs.partition, cs.next, e.Offset())
			}
			if err := h(e); err != nil {
				return progressed, handlerError{err}
			}
			cs.known, cs.next, progressed = true, e.Offset()+1, true
		}
		if err := it.Err(); err != nil {
			return progressed, fmt.Errorf("client: consume %s/%d at offset %s: %w", cs.topic, cs.partition, cs.resumeAt(), err)
		}
		if opts.AfterBatch != nil {
			if err := opts.AfterBatch(); err != nil {
				return progressed, handlerError{err}
			}
		}
	}
}

func (c *Client) resolveLatest(ctx context.Context, cs *consumeState) error {
	offs, err := c.GetOffsets(ctx, cs.topic)
	if err != nil {
		return err
	}
	for _, o := range offs {
		if o.GetPartition() == cs.partition {
			cs.known, cs.next = true, o.GetNextOffset()
			return nil
		}
	}
	return status.Errorf(codes.NotFound, "partition %d not in topic %q (%d partitions)", cs.partition, cs.topic, len(offs))
}

// retryable says whether a reconnect may help.
func retryable(err error) bool {
	return errors.Is(err, errStreamEnded) || status.Code(err) == codes.Unavailable
}

// jitter spreads d by ±20% so reconnecting clients do not move in step.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d)*2/5+1))
}

// sleep waits d, or until ctx ends (returning its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
