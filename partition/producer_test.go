package partition

import (
	"errors"
	"math"
	"syscall"
	"testing"

	"github.com/logbroker/logbroker/batch"
)

// idemBatch is an idempotent producer's batch of n records: producer id,
// epoch and first sequence set, CRC right, maxTs as its timestamps.
func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int, tsMs int64) []byte {
	t.Helper()
	var bld batch.Builder
	bld.Reset(nil)
	for i := 0; i < n; i++ {
		bld.Add(nil, []byte{byte(i)}, nil, tsMs)
	}
	b := bld.Finish()
	batch.SetProducer(b, pid, epoch, seq)
	return b
}

// idemReq is the actor's message for idemBatch, with a reply channel.
func idemReq(t testing.TB, pid int64, epoch int16, seq int32, n int) *appendReq {
	t.Helper()
	b := idemBatch(t, pid, epoch, seq, n, 1000)
	h, err := batch.Validate(b, DefaultMaxRecordBytes, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r, err := batchReq(b, h)
	if err != nil {
		t.Fatal(err)
	}
	r.reply = make(chan appendResult, 1)
	return r
}

// runGroup proposes reqs as one group, carries out its write with outcome
// o, and returns what was written (batch headers) and each request's
// answer, by request.
func runGroup(t *testing.T, c *core, o outcome, reqs ...*appendReq) ([]batch.Header, map[*appendReq]appendResult) {
	t.Helper()
	for _, r := range reqs {
		c.propose(r)
	}
	rd := mustReady(t, c)
	var wrote []batch.Header
	replies := append([]appendReply(nil), rd.replies...)
	if rd.write != nil {
		wrote = frameHeaders(t, rd.write)
		c.advance(o)
		replies = append(replies, mustReady(t, c).replies...)
	}
	mustBeIdle(t, c)
	got := map[*appendReq]appendResult{}
	for _, rep := range replies {
		for _, r := range reqs {
			if r.reply == rep.to {
				got[r] = rep.res
			}
		}
	}
	if len(got) != len(reqs) {
		t.Fatalf("%d answers for %d requests", len(got), len(reqs))
	}
	return wrote, got
}

func wantResult(t *testing.T, what string, got, want appendResult) {
	t.Helper()
	if want.err != nil {
		if !errors.Is(got.err, want.err) {
			t.Errorf("%s: %+v, want an error matching %v", what, got, want.err)
		}
		return
	}
	if got != want {
		t.Errorf("%s: %+v, want %+v", what, got, want)
	}
}

// TestCoreProducerSequences drives one producer's batches through the
// core, one group per step, and checks each answer and whether it was
// stored: the Kafka rules of producer.go, case by case.
func TestCoreProducerSequences(t *testing.T) {
	type step struct {
		pid    int64
		epoch  int16
		seq    int32
		n      int
		want   appendResult // offsets, or an error to match
		stored bool
	}
	ok := func(pid int64, epoch int16, seq int32, n int, base uint64) step {
		return step{pid, epoch, seq, n, appendResult{base: base, last: base + uint64(n) - 1}, true}
	}
	dup := func(pid int64, epoch int16, seq int32, n int, base uint64) step {
		return step{pid, epoch, seq, n, appendResult{base: base, last: base + uint64(n) - 1}, false}
	}
	bad := func(pid int64, epoch int16, seq int32, n int, err error) step {
		return step{pid, epoch, seq, n, appendResult{err: err}, false}
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{ok(7, 0, 0, 3, 0), ok(7, 0, 3, 2, 3), ok(7, 0, 5, 1, 5)}},
		{"unknown producer takes any first sequence", []step{ok(7, 0, 42, 2, 0), ok(7, 0, 44, 1, 2)}},
		{"retry of the last batch", []step{ok(7, 0, 0, 3, 0), ok(7, 0, 3, 2, 3), dup(7, 0, 3, 2, 3), ok(7, 0, 5, 1, 5)}},
		{"retry of an earlier cached batch", []step{ok(7, 0, 0, 3, 0), ok(7, 0, 3, 2, 3), ok(7, 0, 5, 1, 5), dup(7, 0, 0, 3, 0)}},
		{"same first sequence, other last: not a duplicate", []step{ok(7, 0, 0, 3, 0), bad(7, 0, 0, 2, ErrOutOfOrderSequence)}},
		{"gap", []step{ok(7, 0, 0, 3, 0), bad(7, 0, 4, 1, ErrOutOfOrderSequence), ok(7, 0, 3, 1, 3)}},
		{"sequence going back", []step{ok(7, 0, 0, 3, 0), ok(7, 0, 3, 1, 3), bad(7, 0, 2, 1, ErrOutOfOrderSequence)}},
		{"epoch bump starts at 0", []step{ok(7, 0, 0, 3, 0), ok(7, 1, 0, 1, 3), ok(7, 1, 1, 1, 4)}},
		{"epoch bump not at 0", []step{ok(7, 0, 0, 3, 0), bad(7, 1, 3, 1, ErrOutOfOrderSequence)}},
		{"epoch bump forgets the old epoch's batches", []step{ok(7, 0, 0, 3, 0), ok(7, 1, 0, 3, 3), bad(7, 0, 0, 3, ErrInvalidProducerEpoch)}},
		{"fenced: older epoch", []step{ok(7, 3, 0, 1, 0), bad(7, 2, 1, 1, ErrInvalidProducerEpoch), ok(7, 3, 1, 1, 1)}},
		{"producers are independent", []step{ok(7, 0, 0, 2, 0), ok(8, 0, 0, 2, 2), dup(7, 0, 0, 2, 0), ok(8, 0, 2, 1, 4)}},
		{"sequence wraps at int32 max", []step{
			ok(7, 0, math.MaxInt32-2, 3, 0), ok(7, 0, 0, 2, 3), dup(7, 0, math.MaxInt32-2, 3, 0),
		}},
		{"a batch spanning the wrap", []step{
			ok(7, 0, math.MaxInt32-1, 4, 0), ok(7, 0, 2, 1, 4), dup(7, 0, math.MaxInt32-1, 4, 0),
		}},
		{"no producer id is not checked", []step{ok(-1, -1, -1, 2, 0), ok(7, 0, 0, 1, 2), ok(-1, -1, -1, 2, 3)}},
		{
			// Kafka keeps 5; a retry older than those is refused as out
			// of order, not stored twice and not claimed as a success.
			"retry older than the cached batches",
			[]step{
				ok(7, 0, 0, 1, 0), ok(7, 0, 1, 1, 1), ok(7, 0, 2, 1, 2), ok(7, 0, 3, 1, 3), ok(7, 0, 4, 1, 4),
				dup(7, 0, 0, 1, 0), ok(7, 0, 5, 1, 5), bad(7, 0, 0, 1, ErrOutOfOrderSequence), dup(7, 0, 1, 1, 1),
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCore(t, nil)
			next := uint64(0)
			for i, s := range tt.steps {
				var r *appendReq
				if s.pid < 0 {
					r = appendOf(t, s.n, 1, true)
				} else {
					r = idemReq(t, s.pid, s.epoch, s.seq, s.n)
				}
				wrote, got := runGroup(t, c, outcome{}, r)
				wantResult(t, "step "+string(rune('0'+i)), got[r], s.want)
				if stored := len(wrote) == 1; stored != s.stored {
					t.Fatalf("step %d: stored %v, want %v", i, stored, s.stored)
				}
				if s.stored {
					if wrote[0].BaseOffset != next {
						t.Fatalf("step %d: stored at %d, want %d", i, wrote[0].BaseOffset, next)
					}
					next += uint64(s.n)
				}
				if c.next != next {
					t.Fatalf("step %d: next offset %d, want %d", i, c.next, next)
				}
			}
		})
	}
}

// TestCoreProducerInFlight: five batches of one producer in flight land in
// one group and see each other; their retry, again as one group, is all
// duplicates and writes nothing; a gap inside a group refuses only the
// batch after it.
func TestCoreProducerInFlight(t *testing.T) {
	c, _ := testCore(t, nil)
	var reqs []*appendReq
	for i := int32(0); i < 5; i++ {
		reqs = append(reqs, idemReq(t, 9, 0, i*2, 2))
	}
	wrote, got := runGroup(t, c, outcome{}, reqs...)
	if len(wrote) != 5 {
		t.Fatalf("wrote %d batches, want 5", len(wrote))
	}
	for i, r := range reqs {
		wantResult(t, "first send", got[r], appendResult{base: uint64(i * 2), last: uint64(i*2 + 1)})
	}
	var retry []*appendReq
	for i := int32(0); i < 5; i++ {
		retry = append(retry, idemReq(t, 9, 0, i*2, 2))
	}
	wrote, got = runGroup(t, c, outcome{}, retry...)
	if len(wrote) != 0 {
		t.Fatalf("the retry wrote %d batches, want none", len(wrote))
	}
	for i, r := range retry {
		wantResult(t, "retry", got[r], appendResult{base: uint64(i * 2), last: uint64(i*2 + 1)})
	}
	// Sequences 10-11, 12-13, then 15 (a gap after 13), then 14: stored,
	// stored, refused, stored.
	mixed := []*appendReq{idemReq(t, 9, 0, 10, 2), idemReq(t, 9, 0, 12, 2), idemReq(t, 9, 0, 15, 1), idemReq(t, 9, 0, 14, 1)}
	wrote, got = runGroup(t, c, outcome{}, mixed...)
	if len(wrote) != 3 {
		t.Fatalf("wrote %d batches, want 3", len(wrote))
	}
	wantResult(t, "10", got[mixed[0]], appendResult{base: 10, last: 11})
	wantResult(t, "12", got[mixed[1]], appendResult{base: 12, last: 13})
	wantResult(t, "15", got[mixed[2]], appendResult{err: ErrOutOfOrderSequence})
	wantResult(t, "14", got[mixed[3]], appendResult{base: 14, last: 14})
}

// TestCoreProducerFailedWrite: a group whose write fails (disk full) leaves
// the producer state as it was, so the client's retry is stored, not taken
// for a duplicate of bytes that never landed; a duplicate inside the
// failed group gets the write's error too.
func TestCoreProducerFailedWrite(t *testing.T) {
	c, _ := testCore(t, nil)
	first := idemReq(t, 5, 0, 0, 2)
	runGroup(t, c, outcome{}, first)
	lost, lostDup := idemReq(t, 5, 0, 2, 2), idemReq(t, 5, 0, 2, 2)
	full := outcome{writeErr: ErrDiskFull}
	_, got := runGroup(t, c, full, lost, lostDup)
	wantResult(t, "lost", got[lost], appendResult{err: ErrDiskFull})
	wantResult(t, "its duplicate", got[lostDup], appendResult{err: ErrDiskFull})
	retry := idemReq(t, 5, 0, 2, 2)
	wrote, got := runGroup(t, c, outcome{}, retry)
	if len(wrote) != 1 {
		t.Fatalf("retry after a failed write: wrote %d batches, want 1", len(wrote))
	}
	wantResult(t, "retry", got[retry], appendResult{base: 2, last: 3})
	// Under fsync always a failed sync stops the partition: nothing more
	// is stored, duplicates included.
	c, _ = testCore(t, fsyncMode(FsyncAlways))
	runGroup(t, c, outcome{}, idemReq(t, 5, 0, 0, 2))
	r := idemReq(t, 5, 0, 2, 1)
	_, got = runGroup(t, c, outcome{syncErr: syscall.EIO}, r)
	wantResult(t, "sync failed", got[r], appendResult{err: ErrFailed})
	d := idemReq(t, 5, 0, 0, 2)
	c.propose(d)
	rd := mustReady(t, c)
	if rd.write != nil || len(rd.replies) != 1 || !errors.Is(rd.replies[0].res.err, ErrFailed) {
		t.Fatalf("a failed partition answered %+v", rd.replies)
	}
}

// TestCoreProducerExpiry: a producer whose last batch is older than the
// expiry is forgotten, and its next batch is taken as an unknown
// producer's; a younger one is kept.
func TestCoreProducerExpiry(t *testing.T) {
	c, _ := testCore(t, nil)
	runGroup(t, c, outcome{}, idemReq(t, 1, 0, 0, 1)) // timestamps 1000 ms
	young := idemBatch(t, 2, 0, 0, 1, 5000)
	h, _ := batch.Validate(young, DefaultMaxRecordBytes, 1<<20)
	r, _ := batchReq(young, h)
	r.reply = make(chan appendResult, 1)
	runGroup(t, c, outcome{}, r)
	day := DefaultProducerIDExpiration.Milliseconds()
	if n := c.expireProducers(1000 + day - 1); n != 0 {
		t.Fatalf("expired %d producers before their time", n)
	}
	if n := c.expireProducers(1000 + day); n != 1 {
		t.Fatalf("expired %d producers, want 1", n)
	}
	if _, ok := c.producers.m[1]; ok {
		t.Fatal("producer 1 kept past its expiry")
	}
	if _, ok := c.producers.m[2]; !ok {
		t.Fatal("producer 2 expired early")
	}
	// Producer 1 is unknown now: any first sequence is taken.
	again := idemReq(t, 1, 0, 40, 1)
	wrote, _ := runGroup(t, c, outcome{}, again)
	if len(wrote) != 1 {
		t.Fatal("an expired producer's batch was not stored")
	}
}

// TestCoreProducersPerPartition: the same producer id in two partitions
// has a sequence per partition, as in Kafka.
func TestCoreProducersPerPartition(t *testing.T) {
	a, _ := testCore(t, nil)
	b, _ := testCore(t, nil)
	runGroup(t, a, outcome{}, idemReq(t, 3, 0, 0, 4))
	r := idemReq(t, 3, 0, 0, 1)
	wrote, got := runGroup(t, b, outcome{}, r)
	if len(wrote) != 1 {
		t.Fatal("sequence 0 in the second partition was not stored")
	}
	wantResult(t, "second partition", got[r], appendResult{base: 0, last: 0})
	r = idemReq(t, 3, 0, 1, 1)
	if _, got = runGroup(t, a, outcome{}, r); got[r].err == nil {
		t.Fatal("the first partition took sequence 1 after 0-3")
	}
}
