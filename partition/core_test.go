package partition

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// The core is driven here step by step, with no actor, goroutine or clock:
// each test proposes, takes a ready, reports an outcome and checks what the
// core decided.

// testCore returns a core at offset 0 with testConfig changed by configure,
// and the buffer its log lines go to.
func testCore(t *testing.T, configure func(*Config)) (*core, *bytes.Buffer) {
	t.Helper()
	cfg := testConfig()
	if configure != nil {
		configure(&cfg)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	return newCore(&cfg, zerolog.New(logs), 0), logs
}

func fsyncMode(m FsyncMode) func(*Config) { return func(c *Config) { c.Fsync = m } }

// appendOf is the actor's message for n records of size bytes each; acked
// gives it a reply channel (acks=none has none). The core never uses the
// channel: it only names it in a reply.
func appendOf(t *testing.T, n, size int, acked bool) *appendReq {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i].Value = make([]byte, size)
	}
	f := encode(recs)
	if err := f.check(DefaultMaxRecordBytes); err != nil {
		t.Fatal(err)
	}
	r := f.request()
	if acked {
		r.reply = make(chan appendResult, 1)
	}
	return r
}

func mustReady(t *testing.T, c *core) ready {
	t.Helper()
	if !c.hasReady() {
		t.Fatal("core has nothing ready")
	}
	return c.ready()
}

func mustBeIdle(t *testing.T, c *core) {
	t.Helper()
	if c.hasReady() {
		t.Fatalf("core has more ready: %+v", c.ready())
	}
}

// frameHeaders checks every batch of a write and returns their headers.
func frameHeaders(t *testing.T, b []byte) []batch.Header {
	t.Helper()
	var hs []batch.Header
	for len(b) > 0 {
		h, err := batch.Check(b, len(b))
		if err != nil {
			t.Fatalf("write holds a bad frame: %v", err)
		}
		hs = append(hs, h)
		b = b[h.Size():]
	}
	return hs
}

// checkReplies compares the replies of a ready with want, one per acked
// request in order: offsets, or an error that wants.err must match.
func checkReplies(t *testing.T, got []appendReply, reqs []*appendReq, want []appendResult) {
	t.Helper()
	var acked []*appendReq
	for _, r := range reqs {
		if r.reply != nil {
			acked = append(acked, r)
		}
	}
	if len(got) != len(want) || len(acked) != len(want) {
		t.Fatalf("%d replies for %d acked requests, want %d", len(got), len(acked), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.to != acked[i].reply {
			t.Errorf("reply %d goes to another request", i)
		}
		if w.err != nil {
			if !errors.Is(g.res.err, w.err) {
				t.Errorf("reply %d: %v, want an error matching %v", i, g.res.err, w.err)
			}
			continue
		}
		if g.res != w {
			t.Errorf("reply %d: %+v, want %+v", i, g.res, w)
		}
	}
}

// TestCoreGroupCommit: three queued appends become one write (and one sync
// under fsync always), then three answers with consecutive offsets; each
// fsync mode decides the sync, the timer and preallocation.
func TestCoreGroupCommit(t *testing.T) {
	for _, tt := range []struct {
		mode            FsyncMode
		wantSync        bool
		wantArm         time.Duration
		wantPreallocate bool
	}{
		{FsyncAlways, true, 0, true},
		{FsyncInterval, false, DefaultFsyncInterval, false},
		{FsyncNever, false, 0, false},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			c, _ := testCore(t, fsyncMode(tt.mode))
			sub := &Subscription{}
			c.subscribe(sub)
			reqs := []*appendReq{appendOf(t, 1, 10, true), appendOf(t, 2, 10, true), appendOf(t, 3, 10, true)}
			for _, r := range reqs {
				c.propose(r)
			}

			rd := mustReady(t, c)
			hs := frameHeaders(t, rd.write)
			if len(hs) != 3 || hs[0].BaseOffset != 0 || hs[1].BaseOffset != 1 || hs[2].BaseOffset != 3 || hs[2].Next() != 6 {
				t.Fatalf("write holds frames %+v, want bases 0, 1, 3 up to 6", hs)
			}
			if rd.records != 6 || rd.sync != tt.wantSync {
				t.Fatalf("ready: %d records, sync %v; want 6, %v", rd.records, rd.sync, tt.wantSync)
			}
			if rd.committed || len(rd.replies) > 0 || len(rd.wake) > 0 {
				t.Fatal("the core answered or woke before the write's outcome")
			}
			if c.durable != 0 {
				t.Fatalf("durable %d before the write's outcome", c.durable)
			}
			written := len(rd.write)
			var took time.Duration
			if rd.sync {
				took = time.Millisecond
			}
			c.advance(outcome{syncTook: took})

			rd = mustReady(t, c)
			if rd.write != nil || rd.sync {
				t.Fatal("the answering round writes or syncs again")
			}
			checkReplies(t, rd.replies, reqs, []appendResult{{base: 0, last: 0}, {base: 1, last: 2}, {base: 3, last: 5}})
			want := commit{frames: 3, records: 6, bytes: written, syncTook: took}
			if got := rd.commit; !rd.committed || got.frames != want.frames || got.records != want.records || got.bytes != want.bytes || got.syncTook != want.syncTook {
				t.Fatalf("commit %+v (committed %v), want %+v", got, rd.committed, want)
			}
			if len(rd.wake) != 1 || rd.wake[0] != sub {
				t.Fatalf("wakes %v, want the one subscriber", rd.wake)
			}
			if rd.armSync != tt.wantArm || rd.preallocate != tt.wantPreallocate || rd.retain {
				t.Fatalf("arm %s, preallocate %v, retain %v; want %s, %v, false", rd.armSync, rd.preallocate, rd.retain, tt.wantArm, tt.wantPreallocate)
			}
			if c.durable != 6 || c.next != 6 {
				t.Fatalf("durable %d, next %d; want 6, 6", c.durable, c.next)
			}
			c.advance(outcome{})
			mustBeIdle(t, c)
		})
	}
}

// TestCoreSyncFailureStopsWrites: a failed sync answers no request with
// offsets, stops the partition, and refuses every later write and sync
// without trying the disk again.
func TestCoreSyncFailureStopsWrites(t *testing.T) {
	c, logs := testCore(t, fsyncMode(FsyncAlways))
	reqs := []*appendReq{appendOf(t, 1, 10, true), appendOf(t, 1, 10, false), appendOf(t, 1, 10, true)}
	for _, r := range reqs {
		c.propose(r)
	}
	rd := mustReady(t, c)
	if rd.write == nil || !rd.sync {
		t.Fatal("fsync always: want a write and a sync")
	}
	c.advance(outcome{syncErr: syscall.EIO})

	rd = mustReady(t, c)
	checkReplies(t, rd.replies, reqs, []appendResult{{err: ErrFailed}, {err: syscall.EIO}})
	if rd.committed || len(rd.wake) > 0 || rd.preallocate {
		t.Fatal("a failed sync published, woke or preallocated")
	}
	if !errors.Is(c.err(), ErrFailed) || c.durable != 0 {
		t.Fatalf("after a failed sync: err %v, durable %d; want ErrFailed, 0", c.err(), c.durable)
	}
	if !strings.Contains(logs.String(), "dropped an acks=none write") {
		t.Error("the acks=none request's failure was not logged")
	}
	c.advance(outcome{})

	later := appendOf(t, 1, 10, true)
	c.propose(later)
	rd = mustReady(t, c)
	if rd.write != nil || rd.sync {
		t.Fatal("a failed partition wrote or synced")
	}
	checkReplies(t, rd.replies, []*appendReq{later}, []appendResult{{err: ErrFailed}})
	c.advance(outcome{})

	reply := make(chan error, 1)
	c.requestSync(reply)
	rd = mustReady(t, c)
	if rd.sync || len(rd.syncReplies) != 1 || rd.syncReplies[0].to != reply || !errors.Is(rd.syncReplies[0].err, ErrFailed) {
		t.Fatalf("Sync on a failed partition: sync %v, replies %+v; want none, ErrFailed", rd.sync, rd.syncReplies)
	}
	c.advance(outcome{})
	c.syncTimerFired()
	mustBeIdle(t, c)
}

// TestCoreWriteErrors: a write cut short for want of space or descriptors
// is answered with its error and takes no offsets, and the next write goes
// on; any other write error (a failed seal in a roll among them) leaves the
// file in doubt and stops the partition.
func TestCoreWriteErrors(t *testing.T) {
	for _, tt := range []struct {
		name       string
		err        error
		wantFailed bool
	}{
		{"disk full", Classify(syscall.ENOSPC), false},
		{"quota", Classify(syscall.EDQUOT), false},
		{"too many open files", Classify(syscall.EMFILE), false},
		{"I/O error", syscall.EIO, true},
		{"seal sync out of space", fmt.Errorf("partition: seal segment 0: %w", syscall.ENOSPC), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCore(t, fsyncMode(FsyncNever))
			first := appendOf(t, 1, 10, true)
			c.propose(first)
			mustReady(t, c)
			c.advance(outcome{})
			mustReady(t, c)
			c.advance(outcome{})

			refused := appendOf(t, 2, 10, true)
			c.propose(refused)
			mustReady(t, c)
			c.advance(outcome{writeErr: tt.err})
			rd := mustReady(t, c)
			checkReplies(t, rd.replies, []*appendReq{refused}, []appendResult{{err: tt.err}})
			if got := errors.Is(rd.replies[0].res.err, ErrFailed); got != tt.wantFailed {
				t.Fatalf("reply %v: failed %v, want %v", rd.replies[0].res.err, got, tt.wantFailed)
			}
			if rd.committed || c.next != 1 || c.durable != 1 {
				t.Fatalf("a refused write moved the log: committed %v, next %d, durable %d", rd.committed, c.next, c.durable)
			}
			c.advance(outcome{})

			after := appendOf(t, 1, 10, true)
			c.propose(after)
			rd = mustReady(t, c)
			if tt.wantFailed {
				if rd.write != nil {
					t.Fatal("a failed partition wrote")
				}
				checkReplies(t, rd.replies, []*appendReq{after}, []appendResult{{err: ErrFailed}})
				return
			}
			if hs := frameHeaders(t, rd.write); len(hs) != 1 || hs[0].BaseOffset != 1 {
				t.Fatalf("the next write holds %+v, want one frame at offset 1", hs)
			}
			c.advance(outcome{})
			rd = mustReady(t, c)
			checkReplies(t, rd.replies, []*appendReq{after}, []appendResult{{base: 1, last: 1}})
		})
	}
}

// TestCoreIntervalSync: under fsync interval the first write arms the timer
// once; the timer's end brings one sync alone; the next write arms it again.
// A failed background sync stops the partition and is logged.
func TestCoreIntervalSync(t *testing.T) {
	c, logs := testCore(t, func(cfg *Config) { cfg.Fsync = FsyncInterval; cfg.FsyncInterval = 7 * time.Millisecond })
	write := func() ready {
		t.Helper()
		c.propose(appendOf(t, 1, 10, true))
		if rd := mustReady(t, c); rd.sync {
			t.Fatal("fsync interval synced with the write")
		}
		c.advance(outcome{})
		rd := mustReady(t, c)
		c.advance(outcome{})
		return rd
	}
	if rd := write(); rd.armSync != 7*time.Millisecond {
		t.Fatalf("first write arms %s, want 7ms", rd.armSync)
	}
	if rd := write(); rd.armSync != 0 {
		t.Fatalf("second write arms the armed timer again (%s)", rd.armSync)
	}
	mustBeIdle(t, c)

	c.syncTimerFired()
	rd := mustReady(t, c)
	if rd.write != nil || !rd.sync {
		t.Fatalf("timer end: write %v, sync %v; want a sync alone", rd.write != nil, rd.sync)
	}
	c.advance(outcome{syncTook: 3 * time.Millisecond})
	rd = mustReady(t, c)
	if !rd.committed || rd.commit.frames != 0 || rd.commit.syncTook != 3*time.Millisecond || len(rd.syncReplies) != 0 {
		t.Fatalf("after the background sync: %+v", rd)
	}
	c.advance(outcome{})
	mustBeIdle(t, c)

	if rd := write(); rd.armSync != 7*time.Millisecond {
		t.Fatalf("write after the sync arms %s, want 7ms", rd.armSync)
	}
	c.syncTimerFired()
	mustReady(t, c)
	c.advance(outcome{syncErr: syscall.EIO})
	if !errors.Is(c.err(), syscall.EIO) || !strings.Contains(logs.String(), "background sync failed") {
		t.Fatalf("failed background sync: err %v, logs %q", c.err(), logs.String())
	}
}

// TestCoreRequestedSync: Sync calls waiting together share one sync, in a
// round of its own after a write, and are answered with its result.
func TestCoreRequestedSync(t *testing.T) {
	for _, tt := range []struct {
		name    string
		syncErr error
	}{
		{"ok", nil},
		{"fails", syscall.EIO},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCore(t, fsyncMode(FsyncNever))
			req := appendOf(t, 1, 10, true)
			c.propose(req)
			a, b := make(chan error, 1), make(chan error, 1)
			c.requestSync(a)
			c.requestSync(b)
			if rd := mustReady(t, c); rd.write == nil || rd.sync {
				t.Fatalf("first round: write %v, sync %v; want the write alone", rd.write != nil, rd.sync)
			}
			c.advance(outcome{})
			rd := mustReady(t, c)
			if rd.write != nil || !rd.sync || len(rd.replies) != 1 {
				t.Fatalf("second round: write %v, sync %v, %d replies; want the sync and the write's answer", rd.write != nil, rd.sync, len(rd.replies))
			}
			c.advance(outcome{syncErr: tt.syncErr})
			rd = mustReady(t, c)
			if len(rd.syncReplies) != 2 || rd.syncReplies[0].to != a || rd.syncReplies[1].to != b {
				t.Fatalf("sync replies %+v, want a then b", rd.syncReplies)
			}
			for _, r := range rd.syncReplies {
				if (tt.syncErr == nil) != (r.err == nil) || (r.err != nil && !errors.Is(r.err, ErrFailed)) {
					t.Fatalf("sync reply %v for a sync that returned %v", r.err, tt.syncErr)
				}
			}
			c.advance(outcome{})
			mustBeIdle(t, c)
		})
	}
}

// TestCoreRetentionAfterRoll: retention runs after a write that rolled,
// and only when some retention is configured.
func TestCoreRetentionAfterRoll(t *testing.T) {
	for _, tt := range []struct {
		name   string
		bytes  int64
		age    time.Duration
		rolled bool
		want   bool
	}{
		{"roll, by size", 1 << 20, 0, true, true},
		{"roll, by age", 0, time.Hour, true, true},
		{"roll, keep all", 0, 0, true, false},
		{"no roll", 1 << 20, time.Hour, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCore(t, func(cfg *Config) { cfg.RetentionBytes, cfg.RetentionAge = tt.bytes, tt.age })
			c.propose(appendOf(t, 1, 10, true))
			mustReady(t, c)
			c.advance(outcome{rolled: tt.rolled})
			if rd := mustReady(t, c); rd.retain != tt.want {
				t.Fatalf("retain %v, want %v", rd.retain, tt.want)
			}
		})
	}
}

// TestCoreTail: the records of a commit are copied for Tail only while
// someone subscribes and only up to maxTailBytes; every subscriber is woken.
func TestCoreTail(t *testing.T) {
	for _, tt := range []struct {
		name     string
		subs     int
		size     int
		wantTail bool
	}{
		{"no subscriber", 0, 100, false},
		{"two subscribers", 2, 100, true},
		{"too big", 1, maxTailBytes, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := testCore(t, nil)
			for i := 0; i < tt.subs; i++ {
				c.subscribe(&Subscription{})
			}
			gone := &Subscription{}
			c.subscribe(gone)
			c.unsubscribe(gone)
			reqs := []*appendReq{appendOf(t, 2, tt.size, true), appendOf(t, 1, tt.size, true)}
			var want []byte
			for _, r := range reqs {
				c.propose(r)
			}
			mustReady(t, c)
			for _, r := range reqs { // before advance recycles the frames
				want = append(want, r.frame...)
			}
			c.advance(outcome{})
			rd := mustReady(t, c)
			if len(rd.wake) != tt.subs {
				t.Fatalf("woke %d, want %d", len(rd.wake), tt.subs)
			}
			for _, s := range rd.wake {
				if s == gone {
					t.Fatal("woke an unsubscribed subscription")
				}
			}
			tail := rd.commit.tail
			if (tail != nil) != tt.wantTail {
				t.Fatalf("tail %v, want one: %v", tail != nil, tt.wantTail)
			}
			if tail != nil && (tail.first != 0 || tail.next != 3 || !bytes.Equal(tail.data, want)) {
				t.Fatalf("tail [%d, %d) %d bytes, want [0, 3) %d bytes of the records", tail.first, tail.next, len(tail.data), len(want))
			}
		})
	}
}

// TestCoreGroupLimits: a group stops growing at maxGroupFrames requests or
// maxGroupBytes, and a shared group under fsync always asks for a yield.
func TestCoreGroupLimits(t *testing.T) {
	c, _ := testCore(t, fsyncMode(FsyncAlways))
	n := 0
	for ; !c.groupFull(); n++ {
		c.propose(appendOf(t, 1, 1, true))
	}
	if n != maxGroupFrames {
		t.Fatalf("group full after %d small requests, want %d", n, maxGroupFrames)
	}
	if c.groupWasShared() {
		t.Fatal("yield asked before any group")
	}
	mustReady(t, c)
	c.advance(outcome{})
	rd := mustReady(t, c)
	if len(rd.replies) != maxGroupFrames {
		t.Fatalf("%d replies, want %d", len(rd.replies), maxGroupFrames)
	}
	c.advance(outcome{})
	if !c.groupWasShared() {
		t.Fatal("no yield after a shared group under fsync always")
	}

	n = 0
	for ; !c.groupFull(); n++ {
		c.propose(appendOf(t, 1, DefaultMaxRecordBytes/2, true))
	}
	if want := maxGroupBytes/(DefaultMaxRecordBytes/2) + 1; n > want || n < want-1 {
		t.Fatalf("group full after %d half-MiB requests, want about %d", n, want)
	}

	never, _ := testCore(t, fsyncMode(FsyncNever))
	never.propose(appendOf(t, 1, 1, true))
	never.propose(appendOf(t, 1, 1, true))
	mustReady(t, never)
	never.advance(outcome{})
	if never.groupWasShared() {
		t.Fatal("yield asked under fsync never, where no sync is shared")
	}
}

// coreOnFaultFS is a core over a real Log on a FaultFS, with a fake clock.
type coreOnFaultFS struct {
	t     *testing.T
	ffs   *errorfs.FaultFS
	log   *Log
	core  *core
	logs  *bytes.Buffer
	clock time.Time
	step  time.Duration // how far the clock moves at each reading
	ops   map[errorfs.Op]int
}

func newCoreOnFaultFS(t *testing.T, configure func(*Config)) *coreOnFaultFS {
	t.Helper()
	h := &coreOnFaultFS{t: t, ffs: errorfs.NewFaultFS(), clock: time.Unix(1e9, 0), ops: map[errorfs.Op]int{}}
	cfg := testConfig()
	cfg.FS = h.ffs
	if configure != nil {
		configure(&cfg)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	h.log, _, _, err = openLog("/data/t-0", &cfg, segment.NewFileCache(cfg.FS, 16), cfg.Logger, false, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.log.CloseFailed() })
	h.logs = &bytes.Buffer{}
	h.core = newCore(&cfg, zerolog.New(h.logs), h.log.Next())
	// Only this goroutine does I/O: the core test has no other.
	h.ffs.SetHook(func(op errorfs.Op, name string) error {
		if strings.HasSuffix(name, ".log") {
			h.ops[op]++
		}
		return nil
	})
	return h
}

func (h *coreOnFaultFS) now() time.Time {
	h.clock = h.clock.Add(h.step)
	return h.clock
}

// round proposes reqs and runs the Ready loop as the actor does, with the
// I/O on the Log; it returns the ready that answered them.
func (h *coreOnFaultFS) round(reqs ...*appendReq) ready {
	h.t.Helper()
	for _, r := range reqs {
		h.core.propose(r)
	}
	rd := mustReady(h.t, h.core)
	h.core.advance(persist(h.log, &rd, h.now))
	answer := mustReady(h.t, h.core)
	if h.core.next != h.log.Next() {
		h.t.Fatalf("core's next offset %d, the log's %d", h.core.next, h.log.Next())
	}
	h.core.advance(outcome{})
	return answer
}

// TestCoreOnFaultFS drives the core over a real Log whose file system
// fails on demand, as the actor would but one step at a time.
func TestCoreOnFaultFS(t *testing.T) {
	h := newCoreOnFaultFS(t, fsyncMode(FsyncAlways))
	// The first append zero-fills the segment ahead (fsync always), with a
	// write and a sync of its own.
	h.round(appendOf(t, 1, 10, true))
	clear(h.ops)

	// Three appends: one write, one sync, three answers.
	reqs := []*appendReq{appendOf(t, 1, 10, true), appendOf(t, 2, 10, true), appendOf(t, 3, 10, true)}
	rd := h.round(reqs...)
	checkReplies(t, rd.replies, reqs, []appendResult{{base: 1, last: 1}, {base: 2, last: 3}, {base: 4, last: 6}})
	if h.ops[errorfs.OpWrite] != 1 || h.ops[errorfs.OpSync] != 1 {
		t.Fatalf("three appends cost %d writes and %d syncs of the .log, want 1 and 1", h.ops[errorfs.OpWrite], h.ops[errorfs.OpSync])
	}

	// A slow sync on the fake clock is measured and reported.
	h.step = time.Second
	rd = h.round(appendOf(t, 1, 10, true))
	if rd.commit.syncTook != time.Second || !strings.Contains(h.logs.String(), "slow sync") {
		t.Fatalf("sync took %s on the fake clock, logs %q; want 1s and a warning", rd.commit.syncTook, h.logs.String())
	}
	h.step = 0

	// A failed sync: no answer is OK, and later appends are refused.
	h.ffs.FailSync(1, syscall.EIO)
	lost := appendOf(t, 1, 10, true)
	rd = h.round(lost)
	checkReplies(t, rd.replies, []*appendReq{lost}, []appendResult{{err: syscall.EIO}})
	if h.core.durable != 8 || h.log.Next() != 9 {
		t.Fatalf("after the failed sync: durable %d, log next %d; want 8, 9", h.core.durable, h.log.Next())
	}
	writes := h.ops[errorfs.OpWrite]
	later := appendOf(t, 1, 10, true)
	h.core.propose(later)
	rd = mustReady(t, h.core)
	checkReplies(t, rd.replies, []*appendReq{later}, []appendResult{{err: ErrFailed}})
	if rd.write != nil || h.ops[errorfs.OpWrite] != writes {
		t.Fatal("a failed partition wrote")
	}
}

// TestCoreOnFaultFSDiskFull: on a real Log, a write refused for want of
// space is answered with ErrDiskFull and takes no offset; once space
// returns, the next append takes it.
func TestCoreOnFaultFSDiskFull(t *testing.T) {
	h := newCoreOnFaultFS(t, fsyncMode(FsyncNever)) // no zeros written ahead to absorb the writes
	h.round(appendOf(t, 1, 10, true))
	// Disk full: answered with the error; the next append takes its offset.
	h.ffs.SetCapacity(h.ffs.Used() + 10)
	full := appendOf(t, 1, 100, true)
	rd := h.round(full)
	checkReplies(t, rd.replies, []*appendReq{full}, []appendResult{{err: syscall.ENOSPC}})
	if !errors.Is(rd.replies[0].res.err, ErrDiskFull) || h.core.err() != nil {
		t.Fatalf("disk full: %v, core err %v; want ErrDiskFull and no failure", rd.replies[0].res.err, h.core.err())
	}
	h.ffs.SetCapacity(0)
	after := appendOf(t, 1, 100, true)
	rd = h.round(after)
	checkReplies(t, rd.replies, []*appendReq{after}, []appendResult{{base: 1, last: 1}})

}

// TestCoreOnFaultFSRollRetains: on a real Log, the round whose write rolls
// a segment, and only that round, asks for retention.
func TestCoreOnFaultFSRollRetains(t *testing.T) {
	h := newCoreOnFaultFS(t, func(cfg *Config) {
		cfg.Fsync = FsyncNever
		cfg.SegmentBytes = MinSegmentBytes
		cfg.RetentionBytes = 1
	})
	rolls := 0
	for i := 0; i < 20; i++ {
		segs := h.log.Segments()
		rd := h.round(appendOf(t, 1, 200, true))
		rolled := h.log.Segments() > segs
		if rd.retain != rolled {
			t.Fatalf("append %d: retain %v, rolled %v", i, rd.retain, rolled)
		}
		if rolled {
			rolls++
		}
	}
	if rolls < 2 {
		t.Fatalf("%d rolls in 20 appends of 200 B into 1 KiB segments; the test checked too little", rolls)
	}
}
