package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/pb"
)

// Group consumer defaults, used where GroupOptions leaves a field zero.
const (
	// DefaultCommitInterval bounds what a crash or a rebalance redelivers:
	// about this much consumption per partition.
	DefaultCommitInterval = time.Second
	// finalCommitTimeout bounds the commit made on the way out.
	finalCommitTimeout = 10 * time.Second
)

// GroupOptions configures ConsumeGroup.
type GroupOptions struct {
	// MemberID names the member; "" lets the broker name it. A restarted
	// process that reuses its ID replaces its old membership at once instead
	// of waiting for the broker to notice the old connection died.
	MemberID string
	// CommitInterval is how often progress is committed (besides on every
	// rebalance and on the way out).
	CommitInterval time.Duration
	// MaxBytes bounds one read batch; 0 uses the broker's default.
	MaxBytes uint32
	// MinBackoff and MaxBackoff bound the wait before rejoining after the
	// broker dropped the group stream, and before reconnecting a partition.
	MinBackoff, MaxBackoff time.Duration
	// OnAssign, when set, runs after each new assignment took effect:
	// revoked partitions stopped, added ones started.
	OnAssign func(GroupAssignment)
	// AfterBatch, when set, runs after the entries of each batch from the
	// broker were handled (e.g. to flush output); an error stops
	// ConsumeGroup like a handler error. With it set, a batch's entries
	// count as handled, and may be committed, only once it returns nil.
	AfterBatch func() error
	// OnCommit, when set, runs after each commit the broker acknowledged.
	OnCommit func(generation uint64, offsets []*pb.PartitionOffset)
	// Logger receives rebalances at info level, retries at warn level.
	Logger zerolog.Logger
}

// GroupAssignment is one rebalance as the member saw it.
type GroupAssignment struct {
	MemberID   string
	Generation uint64
	Partitions []uint32          // owned now, ascending
	Revoked    []uint32          // owned before and stopped: not owned any more, or restarted (in Start) after a generation this member missed
	Start      map[uint32]uint64 // for each added partition, the offset it starts at
}

// GroupHandler receives each entry of an assigned partition. Calls are
// made one at a time, on ConsumeGroup's goroutine, in offset order within a
// partition. An error stops ConsumeGroup, which returns it unchanged; the
// entries handled before it are committed.
type GroupHandler func(partition uint32, e *pb.LogEntry) error

// ConsumeGroup joins group as a consumer of topic and calls h for every
// entry of the partitions the broker assigns to this member, until ctx ends
// or an error stops it.
//
// Progress (the offset after the last entry h accepted) is committed every
// CommitInterval, on every rebalance and on the way out, with the member's
// generation, so a member that lost a partition can never overwrite its new
// owner's progress. A partition starts at the group's committed offset (its
// log start when nothing is committed), so after a rebalance or a crash
// nothing is skipped and only entries handled after the last commit come
// again. Revoked partitions stop before the new assignment is acted on.
//
// When the broker drops the group stream (UNAVAILABLE, or a restart) the
// consumer stops every partition, commits what it can, and rejoins with
// backoff. It returns ctx's error when ctx ends, h's error, or the broker's
// error when retrying cannot help (e.g. NOT_FOUND for an unknown topic,
// FAILED_PRECONDITION when the group consumes another topic, ABORTED when
// another member joined with the same MemberID).
func (c *Client) ConsumeGroup(ctx context.Context, group, topic string, opts GroupOptions, h GroupHandler) error {
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = DefaultCommitInterval
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	gc := &groupConsumer{
		c: c, group: group, topic: topic, opts: opts, h: h,
		log:      opts.Logger.With().Str("group", group).Str("topic", topic).Logger(),
		memberID: opts.MemberID,
		fetchers: map[uint32]*fetcher{},
		batchc:   make(chan fetchedBatch),
		errc:     make(chan fetchError),
	}
	return gc.run(ctx)
}

// groupConsumer is one ConsumeGroup call. Its fields are owned by the
// caller's goroutine; fetchers reach it only through batchc and errc.
type groupConsumer struct {
	c            *Client
	group, topic string
	opts         GroupOptions
	h            GroupHandler
	log          zerolog.Logger

	memberID  string
	gen       uint64
	fetchers  map[uint32]*fetcher
	committed map[uint32]uint64 // last acknowledged commit per owned partition
	progress  map[uint32]uint64 // offset after the last entry h accepted
	batchc    chan fetchedBatch
	errc      chan fetchError
}

// fetcher consumes one owned partition on its own goroutine and hands its
// batches to the consumer's goroutine.
type fetcher struct {
	partition uint32
	cancel    context.CancelFunc
	done      chan struct{}
	reset     bool // already fell back to the log start once
}

type fetchedBatch struct {
	f       *fetcher
	entries []*pb.LogEntry
}

type fetchError struct {
	f   *fetcher
	err error
}

func (gc *groupConsumer) run(ctx context.Context) error {
	wait := gc.opts.MinBackoff
	for {
		joined, err := gc.session(ctx)
		var he handlerError
		switch {
		case errors.As(err, &he):
			return he.err
		case ctx.Err() != nil:
			return ctx.Err()
		case !retryable(err):
			return err
		}
		if joined {
			wait = gc.opts.MinBackoff
		}
		d := jitter(wait)
		gc.log.Warn().Err(err).Str("backoff", d.Round(time.Millisecond).String()).Msg("group stream lost; rejoining")
		if err := sleep(ctx, d); err != nil {
			return err
		}
		wait = min(2*wait, gc.opts.MaxBackoff)
	}
}

// session is one JoinGroup stream: the membership lasts as long as it.
// joined reports whether an assignment arrived.
func (gc *groupConsumer) session(ctx context.Context) (joined bool, err error) {
	gc.committed, gc.progress = map[uint32]uint64{}, map[uint32]uint64{}
	// The stream outlives ctx on purpose: the last commit must carry a
	// generation that is still current, so the member leaves only after it.
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := gc.c.broker.JoinGroup(sctx, &pb.JoinGroupRequest{Group: gc.group, Topic: gc.topic, MemberId: gc.memberID})
	if err != nil {
		cancel()
		return false, err
	}
	assignc := make(chan *pb.GroupAssignment)
	recvDone := make(chan struct{})
	var recvErr error // written before recvDone closes
	go func() {
		defer close(recvDone)
		for {
			a, err := stream.Recv()
			if err != nil {
				recvErr = err
				return
			}
			select {
			case assignc <- a:
			case <-sctx.Done():
				recvErr = sctx.Err()
				return
			}
		}
	}()
	defer func() {
		gc.finish(assignc, recvDone) // before the stream closes: the generation is still ours
		cancel()
		<-recvDone
	}()

	tick := time.NewTicker(gc.opts.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case a := <-assignc:
			joined = true
			if err := gc.rebalance(ctx, a); err != nil {
				return joined, err
			}
		case b := <-gc.batchc:
			if gc.fetchers[b.f.partition] != b.f {
				continue // from a partition revoked meanwhile
			}
			// With AfterBatch, an entry is handled only once it returns
			// (output flushed, say): a failure before that commits none of
			// the batch, so its entries are delivered again.
			var next uint64
			for _, e := range b.entries {
				if err := gc.h(b.f.partition, e); err != nil {
					return joined, handlerError{err}
				}
				next = e.GetOffset() + 1
				if gc.opts.AfterBatch == nil {
					gc.progress[b.f.partition] = next
				}
			}
			if gc.opts.AfterBatch != nil {
				if err := gc.opts.AfterBatch(); err != nil {
					return joined, handlerError{err}
				}
				if len(b.entries) > 0 {
					gc.progress[b.f.partition] = next
				}
			}
		case fe := <-gc.errc:
			if gc.fetchers[fe.f.partition] != fe.f {
				continue
			}
			if err := gc.fetchFailed(ctx, fe); err != nil {
				return joined, err
			}
		case <-tick.C:
			_ = gc.commit(ctx) // a refusal is retried at the next tick or rebalance
		case <-recvDone:
			// The membership is over (or about to be). The deferred commit
			// may still be accepted if the broker has not noticed yet, which
			// is safe: it orders before the rebalance that hands the
			// partitions on.
			err := recvErr
			if errors.Is(err, io.EOF) {
				err = errStreamEnded
			}
			return joined, err
		case <-ctx.Done():
			return joined, ctx.Err()
		}
	}
}

// finish stops every partition and commits the progress made. A commit
// refused for its generation means a rebalance is on its way on the still
// open stream: take it, keep what is still owned, and commit that again.
func (gc *groupConsumer) finish(assignc <-chan *pb.GroupAssignment, streamDone <-chan struct{}) {
	gc.stopAll()
	ctx, cancel := context.WithTimeout(context.Background(), finalCommitTimeout)
	defer cancel()
	for status.Code(gc.commit(ctx)) == codes.FailedPrecondition {
		select {
		case a := <-assignc:
			gc.adopt(a)
		case <-streamDone:
			return
		case <-ctx.Done():
			return
		}
	}
}

// adopt takes a new generation without starting partitions: progress on
// revoked ones is dropped, as it may no longer be committed.
func (gc *groupConsumer) adopt(a *pb.GroupAssignment) {
	owned := map[uint32]bool{}
	for _, p := range a.GetPartitions() {
		owned[p] = true
	}
	skipped := gc.skipped(a)
	for p := range gc.progress {
		if !owned[p] || skipped {
			delete(gc.progress, p)
			delete(gc.committed, p)
		}
	}
	gc.memberID, gc.gen = a.GetMemberId(), a.GetGeneration()
}

// rebalance acts on a new assignment: stop revoked partitions (their
// progress is not committed: the generation that owned them is gone, and
// the broker would refuse it), commit the rest with the new generation,
// then start the added partitions at the group's committed offsets.
func (gc *groupConsumer) rebalance(ctx context.Context, a *pb.GroupAssignment) error {
	owned := map[uint32]bool{}
	for _, p := range a.GetPartitions() {
		owned[p] = true
	}
	ga := GroupAssignment{MemberID: a.GetMemberId(), Generation: a.GetGeneration(), Partitions: slices.Sorted(maps.Keys(owned)), Start: map[uint32]uint64{}}
	skipped := gc.skipped(a)
	for p, f := range gc.fetchers {
		if !owned[p] || skipped {
			gc.stop(f)
			delete(gc.progress, p)
			delete(gc.committed, p)
			ga.Revoked = append(ga.Revoked, p)
		}
	}
	slices.Sort(ga.Revoked)
	gc.memberID, gc.gen = a.GetMemberId(), a.GetGeneration()
	_ = gc.commit(ctx)

	var added []uint32
	for _, p := range ga.Partitions {
		if gc.fetchers[p] == nil {
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		starts, err := gc.startOffsets(ctx, added)
		if err != nil {
			return err
		}
		for _, p := range added {
			gc.progress[p], gc.committed[p] = starts[p], starts[p]
			gc.fetchers[p] = gc.start(p, starts[p])
			ga.Start[p] = starts[p]
		}
	}
	gc.log.Info().Str("member", ga.MemberID).Uint64("generation", ga.Generation).
		Interface("partitions", ga.Partitions).Interface("revoked", ga.Revoked).Msg("group rebalanced")
	if gc.opts.OnAssign != nil {
		gc.opts.OnAssign(ga)
	}
	return nil
}

// skipped reports that a generation came between the member's last
// assignment and a (the broker sends only the newest). A partition held in
// both may have been another member's meanwhile, with commits past this
// member's progress: such partitions restart from the group's committed
// offsets, and their progress here is never committed.
func (gc *groupConsumer) skipped(a *pb.GroupAssignment) bool {
	return gc.gen != 0 && a.GetGeneration() > gc.gen+1
}

// startOffsets is the committed offset of each partition, or its log start
// when the group has committed none (START_COMMITTED's rule, resolved here so
// the consumer knows where it stands before the first entry).
func (gc *groupConsumer) startOffsets(ctx context.Context, parts []uint32) (map[uint32]uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, finalCommitTimeout)
	defer cancel()
	resp, err := gc.c.broker.FetchOffsets(rctx, &pb.FetchOffsetsRequest{Group: gc.group, Topic: gc.topic})
	if err != nil {
		return nil, err
	}
	out := map[uint32]uint64{}
	for _, o := range resp.GetOffsets() {
		out[o.GetPartition()] = o.GetOffset()
	}
	var logStart map[uint32]uint64
	for _, p := range parts {
		if _, ok := out[p]; ok {
			continue
		}
		if logStart == nil {
			if logStart, err = gc.logStarts(rctx); err != nil {
				return nil, err
			}
		}
		out[p] = logStart[p]
	}
	return out, nil
}

func (gc *groupConsumer) logStarts(ctx context.Context) (map[uint32]uint64, error) {
	offs, err := gc.c.GetOffsets(ctx, gc.topic)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]uint64, len(offs))
	for _, o := range offs {
		out[o.GetPartition()] = o.GetLogStartOffset()
	}
	return out, nil
}

// commit sends the progress that is not committed yet, with the current
// generation. A refusal is not fatal: FAILED_PRECONDITION means a rebalance
// is on its way (the new owner starts from the last accepted commit), and an
// unreachable broker is tried again at the next tick. It returns the
// broker's answer for finish.
func (gc *groupConsumer) commit(ctx context.Context) error {
	var offs []*pb.PartitionOffset
	for p, next := range gc.progress {
		if c, ok := gc.committed[p]; !ok || c != next {
			offs = append(offs, &pb.PartitionOffset{Partition: p, Offset: next})
		}
	}
	if len(offs) == 0 {
		return nil
	}
	slices.SortFunc(offs, func(a, b *pb.PartitionOffset) int { return cmp.Compare(a.GetPartition(), b.GetPartition()) })
	rctx, cancel := context.WithTimeout(ctx, finalCommitTimeout)
	defer cancel()
	_, err := gc.c.broker.CommitOffsets(rctx, &pb.CommitOffsetsRequest{Group: gc.group, Topic: gc.topic, Offsets: offs, Generation: gc.gen})
	if err != nil {
		ev := gc.log.Warn()
		if status.Code(err) == codes.FailedPrecondition {
			ev = gc.log.Debug()
		}
		ev.Err(err).Uint64("generation", gc.gen).Msg("commit not accepted")
		return err
	}
	for _, o := range offs {
		gc.committed[o.GetPartition()] = o.GetOffset()
	}
	if gc.opts.OnCommit != nil {
		gc.opts.OnCommit(gc.gen, offs)
	}
	return nil
}

// fetchFailed handles a partition consumer that stopped with an error. A
// start offset out of range (retention removed it, or the topic was made
// again) falls back to the log start once; anything else ends the consumer.
func (gc *groupConsumer) fetchFailed(ctx context.Context, fe fetchError) error {
	p := fe.f.partition
	if status.Code(fe.err) != codes.OutOfRange || fe.f.reset {
		return fmt.Errorf("client: group %s: partition %s/%d: %w", gc.group, gc.topic, p, fe.err)
	}
	starts, err := gc.logStarts(ctx)
	if err != nil {
		return err
	}
	gc.log.Warn().Err(fe.err).Uint32("partition", p).Uint64("log_start", starts[p]).
		Msg("committed offset out of range; starting at the log start")
	gc.stop(fe.f)
	f := gc.start(p, starts[p])
	f.reset = true
	gc.fetchers[p], gc.progress[p] = f, starts[p]
	return nil
}

// start runs a partition consumer from offset from. It reuses Consume, so a
// dropped stream resumes right after the last entry handed over.
func (gc *groupConsumer) start(p uint32, from uint64) *fetcher {
	fctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{partition: p, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		var buf []*pb.LogEntry
		opts := ConsumeOptions{
			MaxBytes: gc.opts.MaxBytes, MinBackoff: gc.opts.MinBackoff, MaxBackoff: gc.opts.MaxBackoff, Logger: gc.opts.Logger,
			AfterBatch: func() error {
				if len(buf) == 0 {
					return nil
				}
				select {
				case gc.batchc <- fetchedBatch{f: f, entries: buf}:
					buf = nil
					return nil
				case <-fctx.Done():
					return fctx.Err()
				}
			},
		}
		err := gc.c.Consume(fctx, gc.topic, p, AtOffset(from), opts, func(e *pb.LogEntry) error {
			buf = append(buf, e)
			return nil
		})
		if fctx.Err() != nil {
			return // stopped
		}
		select {
		case gc.errc <- fetchError{f: f, err: err}:
		case <-fctx.Done():
		}
	}()
	return f
}

// stop ends a partition consumer and waits for its goroutine.
func (gc *groupConsumer) stop(f *fetcher) {
	f.cancel()
	<-f.done
	if gc.fetchers[f.partition] == f {
		delete(gc.fetchers, f.partition)
	}
}

func (gc *groupConsumer) stopAll() {
	for _, f := range gc.fetchers {
		gc.stop(f)
	}
}
