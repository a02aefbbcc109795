package partition

import (
	"errors"
	"fmt"
	"math"
)

// Idempotent producers (Kafka's KIP-98, without transactions). A producer
// that holds a producer id from InitProducerId numbers its batches per
// partition: each batch's header carries the id, the producer's epoch and
// the sequence of its first record. The partition keeps, per producer id,
// the epoch and the last few batches it stored, and checks every batch
// against them where appends are serialised: in the core, as the group is
// turned into a write. This is Kafka's ProducerStateManager, with its rules:
//
//   - a batch without a producer id (-1) is not checked (the gRPC front end
//     never sets one);
//   - an older epoch than the stored one: ErrInvalidProducerEpoch (Kafka's
//     INVALID_PRODUCER_EPOCH, which it sends produce requests since 2.7
//     rather than PRODUCER_FENCED);
//   - a newer epoch resets the producer: its first sequence must be 0, else
//     ErrOutOfOrderSequence;
//   - a batch whose first and last sequence equal one of the cached batches
//     of the same epoch is a retry of it: answered with the offsets it was
//     stored at, and not stored again (errDuplicate inside the package; the
//     caller sees success);
//   - otherwise the first sequence must be the last one + 1, wrapping from
//     math.MaxInt32 to 0, else ErrOutOfOrderSequence. A retry older than
//     the cached batches lands here too, as in Kafka: a client that keeps
//     at most maxProducerBatches requests in flight (Kafka's clients allow
//     5) never sends one;
//   - a producer id the partition does not know takes any first sequence,
//     as Kafka does since KIP-360: its state may have expired, or been
//     written before a restart that lost nothing of it.

// maxProducerBatches is how many of a producer's last batches a partition
// keeps for duplicate detection: Kafka's 5, its clients' most in flight.
const maxProducerBatches = 5

// Errors of the idempotent producer checks; test with errors.Is.
var (
	ErrOutOfOrderSequence   = errors.New("partition: out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("partition: invalid producer epoch (fenced by a newer one)")
	// errDuplicate marks a retried batch inside the package; callers get
	// success with the offsets of the stored copy.
	errDuplicate = errors.New("partition: duplicate batch")
)

// producerBatch is one stored batch of a producer: its sequences and the
// offsets it was stored at.
type producerBatch struct {
	firstSeq, lastSeq int32
	firstOff, lastOff uint64
}

// producerEntry is one producer's state in one partition. Plain value: the
// core copies it to try a group's batches before the write lands.
type producerEntry struct {
	epoch   int16
	lastTs  int64 // max timestamp of its last batch, for expiry (Kafka's rule)
	n       int   // batches held, <= maxProducerBatches
	batches [maxProducerBatches]producerBatch
}

// last is the newest batch; n must be > 0.
func (e *producerEntry) last() producerBatch { return e.batches[e.n-1] }

// add appends b, dropping the oldest batch when full.
func (e *producerEntry) add(b producerBatch) {
	if e.n == maxProducerBatches {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
}

// producerAppend is a batch's producer fields, from its header.
type producerAppend struct {
	id       int64 // < 0: no producer, not checked
	epoch    int16
	firstSeq int32
	count    int32 // records in the batch
	maxTs    int64
}

// lastSeq is the batch's last sequence, wrapping past math.MaxInt32 as
// Kafka's DefaultRecordBatch.incrementSequence does.
func (a producerAppend) lastSeq() int32 { return incrementSequence(a.firstSeq, a.count-1) }

func incrementSequence(seq, inc int32) int32 {
	if seq > math.MaxInt32-inc {
		return inc - (math.MaxInt32 - seq) - 1
	}
	return seq + inc
}

// inSequence says next follows last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// producers is a partition's producer state. Not safe for concurrent use:
// the core owns it.
type producers struct {
	m map[int64]producerEntry
}

func newProducers() *producers { return &producers{m: make(map[int64]producerEntry)} }

// check decides a batch against e (ok false: unknown producer). It returns
// the duplicated batch with errDuplicate, or an error for a refused batch,
// or nil when the batch is to be stored.
func check(e producerEntry, ok bool, a producerAppend) (producerBatch, error) {
	if !ok {
		return producerBatch{}, nil
	}
	switch {
	case a.epoch < e.epoch:
		return producerBatch{}, fmt.Errorf("%w: producer %d epoch %d, current epoch %d", ErrInvalidProducerEpoch, a.id, a.epoch, e.epoch)
	case a.epoch > e.epoch:
		if a.firstSeq != 0 {
			return producerBatch{}, fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, want 0", ErrOutOfOrderSequence, a.id, a.epoch, a.firstSeq)
		}
		return producerBatch{}, nil
	}
	last := a.lastSeq()
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == a.firstSeq && b.lastSeq == last {
			return b, errDuplicate
		}
	}
	if e.n > 0 && !inSequence(e.last().lastSeq, a.firstSeq) {
		return producerBatch{}, fmt.Errorf("%w: producer %d epoch %d sent sequence %d after %d", ErrOutOfOrderSequence, a.id, a.epoch, a.firstSeq, e.last().lastSeq)
	}
	return producerBatch{}, nil
}

// update is e after a batch of a stored at [first, last]: a newer epoch
// starts afresh.
func update(e producerEntry, ok bool, a producerAppend, first, last uint64) producerEntry {
	if !ok || a.epoch != e.epoch {
		e = producerEntry{epoch: a.epoch}
	}
	e.add(producerBatch{firstSeq: a.firstSeq, lastSeq: a.lastSeq(), firstOff: first, lastOff: last})
	if a.maxTs > e.lastTs {
		e.lastTs = a.maxTs
	}
	return e
}

// replay applies a stored batch, read back from the log, without checks:
// what the log holds was accepted when it was written.
func (ps *producers) replay(a producerAppend, first, last uint64) {
	e, ok := ps.m[a.id]
	if ok && a.epoch < e.epoch {
		return // cannot be stored, but never let it roll the state back
	}
	ps.m[a.id] = update(e, ok, a, first, last)
}

// expire drops producers whose last batch is older than maxAge at nowMs,
// as Kafka's producer.id.expiration.ms does; it returns how many.
func (ps *producers) expire(nowMs int64, maxAgeMs int64) int {
	n := 0
	for id, e := range ps.m {
		if nowMs-e.lastTs >= maxAgeMs {
			delete(ps.m, id)
			n++
		}
	}
	return n
}

// pendingProducers tries one group's batches against ps: the entries the
// group touched, as they will be once its write lands. Batches of one
// producer inside one group (several in flight) see each other.
type pendingProducers struct {
	ps      *producers
	touched map[int64]producerEntry
}

func (pp *pendingProducers) reset(ps *producers) {
	pp.ps = ps
	if pp.touched == nil {
		pp.touched = make(map[int64]producerEntry)
	}
	clear(pp.touched)
}

func (pp *pendingProducers) get(id int64) (producerEntry, bool) {
	if e, ok := pp.touched[id]; ok {
		return e, true
	}
	e, ok := pp.ps.m[id]
	return e, ok
}

// try checks a; when it is to be stored at [first, last], it records it.
func (pp *pendingProducers) try(a producerAppend, first, last uint64) (producerBatch, error) {
	e, ok := pp.get(a.id)
	dup, err := check(e, ok, a)
	if err != nil {
		return dup, err
	}
	pp.touched[a.id] = update(e, ok, a, first, last)
	return producerBatch{}, nil
}

// commit makes the group's outcome the partition's state: its write landed.
func (pp *pendingProducers) commit() {
	for id, e := range pp.touched {
		pp.ps.m[id] = e
	}
	clear(pp.touched)
}

// discard forgets the group's outcome: its write failed.
func (pp *pendingProducers) discard() { clear(pp.touched) }
