package partition

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/batch"
)

// core holds the partition's decisions as a plain state machine, in the
// shape of etcd raft's RawNode: requests come in (propose, requestSync,
// syncTimerFired, subscribe), ready hands out the effects of one round,
// the actor carries them out, and advance reports what the I/O did. The
// core then decides the answers, which the next ready hands out.
//
// It owns the group being gathered, offset assignment, the fsync policy,
// the durable point, the failed state, the subscribers, and when retention,
// preallocation and the interval sync timer are due. It does no I/O: the
// actor writes and syncs the Log, sends the replies, wakes subscribers and
// runs timers. A raft.RawNode will sit here next, with the same loop.
//
// core is not safe for concurrent use: its single owner is the partition
// actor's goroutine. It starts no goroutine, sends or receives on no
// channel and reads no clock; durations come in with the outcome.
type core struct {
	cfg    *Config
	logger zerolog.Logger

	next       uint64 // offset the next record gets
	durable    uint64 // reads, Offsets and Stats serve below this offset
	failed     error  // set by a failed sync or a write in doubt; refuses writes
	syncArmed  bool   // the interval sync timer is armed
	syncWanted bool   // a sync is due: asked for, or the interval timer fired
	background bool   // the due sync is the timer's: a failure is only logged
	lastGroup  int    // requests in the last group commit

	subs map[*Subscription]struct{}

	// Idempotent producers' state (producer.go): checked as a group turns
	// into a write; the group's effects wait in pending until it lands.
	producers *producers
	pending   pendingProducers
	skipped   []*appendReq // of the group being written: answered, not stored

	// The group being gathered (batch), and the one being written (group);
	// the two slices swap so that both are reused.
	batch      []*appendReq
	batchBytes int
	group      []*appendReq
	wbuf       []byte // reused to join a group into one write

	// What the last ready asked for and advance resolves.
	writing     bool
	base, end   uint64     // offsets of the group being written
	writeBytes  int        // its size
	tail        *tailBatch // its records for Tail, copied while the frames were ours
	syncing     bool       // a sync alone, for waiters and the timer
	syncWaiters []chan error
	waiting     []chan error // sync requests not yet handed out

	// out is built by the methods above and handed out by ready. Its
	// slices are reused, so a ready is valid until the next call into the
	// core.
	out ready
}

// ready is one round of effects, for the actor to carry out in field
// order: persist (write, then sync), publish, answer, wake, then the
// timer, retention and preallocation. Then the actor calls advance.
type ready struct {
	// write is one Log.Append of records records, their frames sealed
	// with offsets from the log's next offset. It aliases request buffers
	// that advance recycles.
	write   []byte
	records int
	// sync asks for Log.Sync after a good write, or alone when write is nil.
	sync bool

	committed   bool   // commit holds what to publish
	commit      commit // stats, Observer and Tail
	replies     []appendReply
	syncReplies []syncReply
	wake        []*Subscription
	armSync     time.Duration // > 0: arm the interval sync timer for this long
	retain      bool          // a segment rolled: run retention
	preallocate bool          // zero-fill ahead, unless more appends already wait
}

// commit is what a round made readable: the counters and the Observer's
// figures, and the records for Tail. A sync with no write has frames 0 and
// leaves Tail as it is.
type commit struct {
	frames, records, bytes int
	syncTook               time.Duration // 0 when the round did not sync
	tail                   *tailBatch    // nil: too big, or nobody subscribes
}

type appendReply struct {
	to  chan appendResult
	res appendResult
}

type syncReply struct {
	to  chan error
	err error
}

// outcome is what the actor reports back from a ready's persist step.
type outcome struct {
	writeErr error         // from Log.Append; the sync is not tried after it
	syncErr  error         // from Log.Sync
	syncTook time.Duration // measured by the actor's clock
	rolled   bool          // the write started a new segment
}

const (
	maxGroupFrames = 1024
	maxGroupBytes  = 8 << 20
	slowSync       = 500 * time.Millisecond
)

// newCore starts the state of a partition whose log ends at next, all of
// it durable (as a log is when opened).
func newCore(cfg *Config, logger zerolog.Logger, next uint64) *core {
	return &core{cfg: cfg, logger: logger, next: next, durable: next, subs: make(map[*Subscription]struct{}), producers: newProducers()}
}

// err is the error that stopped the partition taking writes, or nil.
func (c *core) err() error { return c.failed }

// groupWasShared says the last group commit answered several callers under
// fsync always: they are about to send again, and a yield before this group
// lets their requests join it rather than cost a sync each in the next.
func (c *core) groupWasShared() bool {
	return c.lastGroup > 1 && c.cfg.Fsync == FsyncAlways
}

// groupFull says the group being gathered is at its limits: the actor
// stops taking appends from its mailbox.
func (c *core) groupFull() bool {
	return len(c.batch) >= maxGroupFrames || c.batchBytes >= maxGroupBytes
}

// propose adds r to the group being gathered.
func (c *core) propose(r *appendReq) {
	c.batch = append(c.batch, r)
	c.batchBytes += len(r.frame)
}

// requestSync asks for a sync of everything appended, answered on reply
// once it is done, whatever the fsync mode.
func (c *core) requestSync(reply chan error) {
	if c.failed != nil {
		c.out.syncReplies = append(c.out.syncReplies, syncReply{reply, c.failed})
		return
	}
	c.waiting = append(c.waiting, reply)
	c.syncWanted = true
}

// syncTimerFired is the interval sync timer ending.
func (c *core) syncTimerFired() {
	c.syncArmed = false
	if c.failed != nil {
		c.logger.Error().Err(c.failed).Msg("background sync failed")
		return
	}
	c.syncWanted = true
	c.background = true
}

func (c *core) subscribe(s *Subscription)   { c.subs[s] = struct{}{} }
func (c *core) unsubscribe(s *Subscription) { delete(c.subs, s) }

// hasReady says ready has something for the actor to do.
func (c *core) hasReady() bool {
	return len(c.batch) > 0 || c.syncWanted || !c.out.empty()
}

func (rd *ready) empty() bool {
	return rd.write == nil && !rd.sync && !rd.committed && len(rd.replies) == 0 &&
		len(rd.syncReplies) == 0 && len(rd.wake) == 0 && rd.armSync == 0 && !rd.retain && !rd.preallocate
}

// ready hands out the next round of effects. The gathered group becomes
// one write; a due sync with no write to carry it goes alone.
func (c *core) ready() ready {
	switch {
	case len(c.batch) > 0:
		c.startWrite()
	case c.syncWanted:
		c.syncWanted = false
		c.syncing = true
		c.syncWaiters = append(c.syncWaiters[:0], c.waiting...)
		c.waiting = c.waiting[:0]
		c.out.sync = true
	}
	rd := c.out
	c.out = ready{replies: rd.replies[:0], syncReplies: rd.syncReplies[:0], wake: rd.wake[:0]}
	return rd
}

// startWrite turns the gathered group into the round's write, or answers
// it at once when the partition takes no writes.
func (c *core) startWrite() {
	c.batch, c.group = c.group[:0], c.batch
	c.batchBytes = 0
	group := c.group
	c.lastGroup = len(group)
	if c.failed != nil {
		c.answer(group, 0, c.failed)
		return
	}
	group = c.checkProducers(group)
	c.group = group
	if len(group) == 0 {
		// Every batch was a duplicate or refused: nothing to write.
		c.answerSkipped(nil)
		return
	}
	next, err := assignOffsets(group, c.next)
	if err != nil {
		c.pending.discard()
		c.answerSkipped(err)
		// encode built these frames; a failure here is a bug, not bad input.
		c.answer(group, c.next, fmt.Errorf("partition: set offsets: %w", err))
		return
	}
	c.writing = true
	c.base, c.end = c.next, next
	if len(group) == 1 {
		c.out.write = group[0].frame // no copy for a group of one
	} else {
		c.wbuf = joinFrames(c.wbuf[:0], group)
		c.out.write = c.wbuf
	}
	c.writeBytes = len(c.out.write)
	c.out.records = int(next - c.next)
	c.out.sync = c.cfg.Fsync == FsyncAlways
	// Copy the records for live tails while the frames are still ours.
	c.tail = nil
	if len(c.subs) > 0 {
		c.tail = newTail(group, c.base, c.end)
	}
}

// advance takes the outcome of the last ready's persist step and decides
// what follows: the answers, wake-ups and housekeeping of the next ready.
func (c *core) advance(o outcome) {
	switch {
	case c.writing:
		c.writing = false
		c.advanceWrite(o)
	case c.syncing:
		c.syncing = false
		c.advanceSync(o)
	}
}

func (c *core) advanceWrite(o outcome) {
	group := c.group
	// The bytes are in the file (or refused): the frames can be reused.
	for _, r := range group {
		putFrame(r.frame)
		r.frame = nil
	}
	err := o.writeErr
	switch {
	case err == nil:
		c.next = c.end
		if c.cfg.Fsync != FsyncAlways {
			c.durable = c.next
		} else if err = o.syncErr; err != nil {
			// The bytes may or may not be on disk: never acknowledge them,
			// and stop taking writes rather than guess.
			err = c.fail(err)
		} else {
			c.durable = c.next
		}
	case !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrTooManyOpenFiles):
		// Out of space or descriptors, the write was cut back or never
		// happened and the partition can take writes when they return.
		// Any other write error leaves the file in doubt.
		err = c.fail(err)
	}
	if err == nil && c.cfg.Fsync == FsyncInterval && !c.syncArmed {
		c.syncArmed = true
		c.out.armSync = c.cfg.FsyncInterval
	}
	if err != nil {
		c.pending.discard()
		c.answer(group, c.base, err)
		c.answerSkipped(err)
		return
	}
	c.pending.commit()
	c.out.committed = true
	c.out.commit = commit{frames: len(group), records: int(c.end - c.base), bytes: c.writeBytes, syncTook: o.syncTook, tail: c.tail}
	c.tail = nil
	c.answer(group, c.base, nil)
	c.answerSkipped(nil)
	for s := range c.subs {
		c.out.wake = append(c.out.wake, s)
	}
	c.out.retain = o.rolled && (c.cfg.RetentionBytes > 0 || c.cfg.RetentionAge > 0)
	// The waiters are answered: zero-fill ahead now, while they prepare
	// their next requests, rather than inside one of those appends.
	c.out.preallocate = c.cfg.Fsync == FsyncAlways
	c.warnSlow(o.syncTook)
}

func (c *core) advanceSync(o outcome) {
	err := o.syncErr
	if err != nil {
		err = c.fail(err)
		if c.background {
			c.logger.Error().Err(err).Msg("background sync failed")
		}
	} else {
		c.durable = c.next
		c.out.committed = true
		c.out.commit = commit{syncTook: o.syncTook}
		c.warnSlow(o.syncTook)
	}
	c.background = false
	for _, w := range c.syncWaiters {
		c.out.syncReplies = append(c.out.syncReplies, syncReply{w, err})
	}
	clear(c.syncWaiters)
	c.syncWaiters = c.syncWaiters[:0]
}

// answer replies to every waiter of group, whose records start at base;
// acks=none requests have no one to answer, so a failure of theirs is logged.
func (c *core) answer(group []*appendReq, base uint64, err error) {
	next := base
	for _, r := range group {
		first := next
		next += uint64(r.count) // acks=none records hold offsets too
		switch {
		case r.reply == nil && err != nil:
			c.logger.Warn().Err(err).Int("records", r.count).Msg("dropped an acks=none write")
		case r.reply == nil:
		case err != nil:
			c.out.replies = append(c.out.replies, appendReply{r.reply, appendResult{err: err}})
		default:
			c.out.replies = append(c.out.replies, appendReply{r.reply, appendResult{base: first, last: next - 1}})
		}
	}
	clear(group)
}

// checkProducers runs the idempotent producer checks over group, in
// order, as if each batch were stored at the offsets it is about to get.
// It returns the batches to store, in place in group; the others, answered
// without being stored (duplicates with their stored offsets, refusals
// with their error), go to c.skipped and give their frames back.
func (c *core) checkProducers(group []*appendReq) []*appendReq {
	c.pending.reset(c.producers)
	stored := group[:0]
	next := c.next
	for _, r := range group {
		if r.idem {
			dup, err := c.pending.try(r.prod, next, next+uint64(r.count)-1)
			if err != nil {
				r.skip = true
				if errors.Is(err, errDuplicate) {
					r.res = appendResult{base: dup.firstOff, last: dup.lastOff}
				} else {
					r.res = appendResult{err: err}
				}
				putFrame(r.frame)
				r.frame = nil
				c.skipped = append(c.skipped, r)
				continue
			}
		}
		stored = append(stored, r)
		next += uint64(r.count)
	}
	clear(group[len(stored):])
	return stored
}

// answerSkipped answers the batches checkProducers did not store. A
// duplicate is answered with the offsets of its stored copy, unless the
// group's write failed (writeErr): its copy may be in that very write.
func (c *core) answerSkipped(writeErr error) {
	for _, r := range c.skipped {
		res := r.res
		if res.err == nil && writeErr != nil {
			res = appendResult{err: writeErr}
		}
		switch {
		case r.reply != nil:
			c.out.replies = append(c.out.replies, appendReply{r.reply, res})
		case res.err != nil:
			c.logger.Warn().Err(res.err).Int64("producer_id", r.prod.id).Msg("dropped an acks=none write")
		}
	}
	clear(c.skipped)
	c.skipped = c.skipped[:0]
}

// expireProducers drops the producers not heard from for the configured
// expiry at nowMs.
func (c *core) expireProducers(nowMs int64) int {
	return c.producers.expire(nowMs, c.cfg.ProducerIDExpiration.Milliseconds())
}

// fail stops the partition taking writes and returns the error to report.
func (c *core) fail(err error) error {
	c.failed = fmt.Errorf("%w: %w", ErrFailed, err)
	c.logger.Error().Err(err).Msg("partition stopped taking writes after a write or sync error")
	return c.failed
}

func (c *core) warnSlow(d time.Duration) {
	if d > slowSync {
		c.logger.Warn().Dur("took_ms", d).Msg("slow sync")
	}
}

// The three steps below are the only ones of the core that know the stored
// frame format.

// assignOffsets sets each request's batch base offset, the first at base,
// and returns the offset after the last record. The base offset is outside
// the batch CRC: nothing else of the batch changes.
func assignOffsets(group []*appendReq, base uint64) (uint64, error) {
	next := base
	for _, r := range group {
		batch.SetBaseOffset(r.frame, next)
		next += uint64(r.count)
	}
	return next, nil
}

// joinFrames appends the frames of group to buf, back to back.
func joinFrames(buf []byte, group []*appendReq) []byte {
	for _, r := range group {
		buf = append(buf, r.frame...)
	}
	return buf
}

// newTail copies the batches of group, offsets [first, next), for Tail, or
// returns nil when they pass maxTailBytes.
func newTail(group []*appendReq, first, next uint64) *tailBatch {
	size := 0
	for _, r := range group {
		size += len(r.frame)
	}
	if size > maxTailBytes {
		return nil
	}
	return &tailBatch{data: joinFrames(make([]byte, 0, size), group), first: first, next: next}
}
