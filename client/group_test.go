package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/test/testbroker"
)

// startBroker runs real storage, a group coordinator and the gRPC server on
// loopback for one test; the group consumer needs all three.
func startBroker(t *testing.T) string {
	return testbroker.Start(t, partition.Config{SegmentBytes: 16 << 10})
}

func dialBroker(t *testing.T, addr string) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// topicBroker starts a broker with topic "t" of len(counts) partitions,
// partition i holding counts[i] records, and returns its address and a
// client of it.
func topicBroker(t *testing.T, counts ...int) (string, *Client) {
	t.Helper()
	addr := startBroker(t)
	c := dialBroker(t, addr)
	if _, err := c.CreateTopic(testCtx(t), "t", uint32(len(counts))); err != nil {
		t.Fatal(err)
	}
	for p, n := range counts {
		if n > 0 {
			produceN(t, c, "t", uint32(p), n)
		}
	}
	return addr, c
}

func produceN(t *testing.T, c *Client, topic string, p uint32, n int) {
	t.Helper()
	recs := make([]*pb.Record, n)
	for i := range recs {
		recs[i] = &pb.Record{Value: []byte(fmt.Sprintf("%d-%d", p, i))}
	}
	if _, err := c.Produce(testCtx(t), topic, p, pb.Acks_ACKS_LEADER, recs...); err != nil {
		t.Fatal(err)
	}
}

// ledger records what every member saw, for checks after the fact. One
// mutex: test code.
type ledger struct {
	mu        sync.Mutex
	delivered map[uint32]map[uint64]int // partition -> offset -> times delivered
	acked     map[uint32]uint64         // highest acknowledged commit per partition
	// violations found while running: a session starting below an
	// acknowledged commit, or entries out of order within a session.
	violations []string
	owner      map[uint32]string // member currently consuming each partition
	next       map[string]map[uint32]uint64
}

func newLedger() *ledger {
	return &ledger{delivered: map[uint32]map[uint64]int{}, acked: map[uint32]uint64{},
		owner: map[uint32]string{}, next: map[string]map[uint32]uint64{}}
}

func (l *ledger) failf(format string, args ...any) {
	l.violations = append(l.violations, fmt.Sprintf(format, args...))
}

// options wires a member's hooks into the ledger.
func (l *ledger) options(name string) GroupOptions {
	return GroupOptions{
		MemberID:       name,
		CommitInterval: 5 * time.Millisecond,
		MinBackoff:     10 * time.Millisecond,
		OnAssign: func(a GroupAssignment) {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.next[name] == nil {
				l.next[name] = map[uint32]uint64{}
			}
			for _, p := range a.Revoked {
				delete(l.next[name], p)
			}
			for p, start := range a.Start {
				// The broker's committed offset never falls below a commit it
				// acknowledged, so only uncommitted entries come again.
				if start < l.acked[p] {
					l.failf("%s starts partition %d at %d, below the acknowledged commit %d", name, p, start, l.acked[p])
				}
				l.next[name][p] = start
			}
		},
		OnCommit: func(_ uint64, offs []*pb.PartitionOffset) {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, o := range offs {
				l.acked[o.GetPartition()] = max(l.acked[o.GetPartition()], o.GetOffset())
			}
		},
	}
}

func (l *ledger) handler(name string) GroupHandler {
	return func(p uint32, e *pb.LogEntry) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		want, ok := l.next[name][p]
		switch {
		case !ok:
			l.failf("%s got partition %d offset %d without owning it", name, p, e.GetOffset())
		case e.GetOffset() != want:
			l.failf("%s got partition %d offset %d, want %d (gap or repeat within a session)", name, p, e.GetOffset(), want)
		}
		l.next[name][p] = e.GetOffset() + 1
		if l.delivered[p] == nil {
			l.delivered[p] = map[uint64]int{}
		}
		l.delivered[p][e.GetOffset()]++
		return nil
	}
}

// missing lists offsets below next that nobody delivered.
func (l *ledger) missing(next map[uint32]uint64) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for p, n := range next {
		for o := uint64(0); o < n; o++ {
			if l.delivered[p][o] == 0 {
				out = append(out, fmt.Sprintf("%d/%d", p, o))
				if len(out) > 10 {
					return out
				}
			}
		}
	}
	return out
}

func (l *ledger) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.delivered {
		n += len(m)
	}
	return n
}

// runner runs one member's ConsumeGroup.
type runner struct {
	name   string
	c      *Client
	cancel context.CancelFunc
	done   chan error
}

func startMember(t *testing.T, addr, topic string, l *ledger, name string) *runner {
	t.Helper()
	c, err := Dial(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	r := &runner{name: name, c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.ConsumeGroup(ctx, "g", topic, l.options(name), l.handler(name)) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop leaves gracefully: progress is committed, then the member leaves.
func (r *runner) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("member %s: %v", r.name, err)
	}
	r.c.Close()
}

// crash drops the member's connection: nothing more is committed.
func (r *runner) crash(t *testing.T) {
	r.c.Close()
	if err := <-r.done; err == nil {
		t.Errorf("member %s: ConsumeGroup returned nil after its connection closed", r.name)
	}
	r.cancel()
	r.cancel = nil
}

// TestGroupDeliveryUnderChurn runs members that consume and commit while
// others join, leave and crash, with producers still writing: no entry is
// skipped, entries of a partition arrive in order within each ownership,
// and every ownership starts at or above the last acknowledged commit.
func TestGroupDeliveryUnderChurn(t *testing.T) {
	addr := startBroker(t)
	admin := dialBroker(t, addr)
	const parts, perRound = 6, 50
	if _, err := admin.CreateTopic(testCtx(t), "t", parts); err != nil {
		t.Fatal(err)
	}
	l := newLedger()
	produced := 0
	produce := func() {
		for p := range uint32(parts) {
			produceN(t, admin, "t", p, perRound)
		}
		produced += parts * perRound
	}
	progressed := func(what string) {
		t.Helper()
		target := produced
		testutil.WaitFor(t, what, func() bool { return l.total() >= target })
	}

	produce()
	a := startMember(t, addr, "t", l, "a")
	b := startMember(t, addr, "t", l, "b")
	progressed("a and b to catch up")
	produce()
	c := startMember(t, addr, "t", l, "c")
	progressed("three members to catch up")
	produce()
	b.stop(t) // graceful leave
	progressed("a and c to take over b's partitions")
	produce()
	d := startMember(t, addr, "t", l, "d")
	produce()
	a.crash(t) // no final commit: its uncommitted entries come again
	progressed("c and d to take over a's partitions")
	produce()
	e := startMember(t, addr, "t", l, "e")
	produce()
	c.stop(t)

	offs, err := admin.GetOffsets(testCtx(t), "t")
	if err != nil {
		t.Fatal(err)
	}
	next := map[uint32]uint64{}
	for _, o := range offs {
		next[o.GetPartition()] = o.GetNextOffset()
	}
	// Deliveries alone do not say the group is done: a's uncommitted entries
	// count as delivered before d or e handle them again. The commits do.
	var resp *pb.FetchOffsetsResponse
	testutil.WaitFor(t, "d and e to commit everything", func() bool {
		resp, err = admin.Broker().FetchOffsets(testCtx(t), &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range resp.GetOffsets() {
			if o.GetOffset() != next[o.GetPartition()] {
				return false
			}
		}
		return len(resp.GetOffsets()) == parts
	})
	if m := l.missing(next); len(m) > 0 {
		t.Errorf("entries never delivered: %v", m)
	}
	d.stop(t)
	e.stop(t)
	l.mu.Lock()
	for _, v := range l.violations {
		t.Error(v)
	}
	dups := 0
	for _, m := range l.delivered {
		for _, n := range m {
			dups += n - 1
		}
	}
	l.mu.Unlock()
	t.Logf("%d entries delivered twice or more (handled but not committed before a rebalance or crash)", dups)

	// Committed offsets never go back: after everyone left, lag is 0.
	resp, err = admin.Broker().FetchOffsets(testCtx(t), &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range resp.GetOffsets() {
		if lag := next[o.GetPartition()] - o.GetOffset(); lag != 0 {
			t.Errorf("partition %d: committed %d, next %d: lag %d after a clean finish", o.GetPartition(), o.GetOffset(), next[o.GetPartition()], lag)
		}
	}
	if len(resp.GetOffsets()) != parts {
		t.Errorf("committed partitions %v, want all %d", resp.GetOffsets(), parts)
	}
}

// TestGroupRedeliversOnlyUncommitted: a member that crashes after handling
// offsets 0-9 with only 5 committed hands over at 5: exactly 5-9 come again.
func TestGroupRedeliversOnlyUncommitted(t *testing.T) {
	addr, admin := topicBroker(t, 10)

	a, err := Dial(testCtx(t), addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	sawLast := make(chan struct{})
	done := make(chan error, 1)
	opts := GroupOptions{MemberID: "a", CommitInterval: time.Hour} // no periodic commits
	go func() {
		done <- a.ConsumeGroup(ctx, "g", "t", opts, func(_ uint32, e *pb.LogEntry) error {
			if e.GetOffset() == 9 {
				close(sawLast)
			}
			return nil
		})
	}()
	<-sawLast
	// Progress as of offset 4, committed out of band (generation 0: no check).
	if _, err := admin.Broker().CommitOffsets(testCtx(t), &pb.CommitOffsetsRequest{Group: "g", Topic: "t",
		Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 5}}}); err != nil {
		t.Fatal(err)
	}
	a.Close() // crash: the final commit cannot reach the broker
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("crashed member returned %v", err)
	}

	var got []uint64
	var start uint64
	bctx, bcancel := context.WithCancel(testCtx(t))
	defer bcancel()
	b := dialBroker(t, addr)
	err = b.ConsumeGroup(bctx, "g", "t", GroupOptions{MemberID: "b", OnAssign: func(ga GroupAssignment) { start = ga.Start[0] }},
		func(_ uint32, e *pb.LogEntry) error {
			got = append(got, e.GetOffset())
			if e.GetOffset() == 9 {
				bcancel()
			}
			return nil
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if want := []uint64{5, 6, 7, 8, 9}; start != 5 || !slices.Equal(got, want) {
		t.Errorf("successor started at %d and got %v, want 5 and %v", start, got, want)
	}
}

// TestGroupGracefulLeaveCommitsAll: a member that stops cleanly commits
// everything it handled, so its successor redelivers nothing.
func TestGroupGracefulLeaveCommitsAll(t *testing.T) {
	addr, admin := topicBroker(t, 7, 3)
	c := dialBroker(t, addr)
	ctx, cancel := context.WithCancel(testCtx(t))
	seen := 0
	err := c.ConsumeGroup(ctx, "g", "t", GroupOptions{CommitInterval: time.Hour}, func(uint32, *pb.LogEntry) error {
		if seen++; seen == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	resp, err := admin.Broker().FetchOffsets(testCtx(t), &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]uint64{}
	for _, o := range resp.GetOffsets() {
		got[o.GetPartition()] = o.GetOffset()
	}
	if got[0] != 7 || got[1] != 3 {
		t.Errorf("committed after a clean stop: %v, want 0:7 1:3", got)
	}
}

// TestGroupRevokedPartitionStops: once a member learns a partition was
// revoked, its handler never sees that partition again, and the new owner
// gets what is produced there afterwards.
func TestGroupRevokedPartitionStops(t *testing.T) {
	addr, admin := topicBroker(t, 0, 0)
	var mu sync.Mutex
	revoked := false
	var late []string
	aAssigned, aRevoked := make(chan struct{}, 1), make(chan struct{})
	a := dialBroker(t, addr)
	actx, acancel := context.WithCancel(testCtx(t))
	adone := make(chan error, 1)
	go func() {
		adone <- a.ConsumeGroup(actx, "g", "t", GroupOptions{MemberID: "a",
			OnAssign: func(ga GroupAssignment) {
				if len(ga.Partitions) == 2 {
					select {
					case aAssigned <- struct{}{}:
					default:
					}
				}
				if slices.Contains(ga.Revoked, 1) {
					mu.Lock()
					revoked = true
					mu.Unlock()
					close(aRevoked)
				}
			}},
			func(p uint32, e *pb.LogEntry) error {
				mu.Lock()
				defer mu.Unlock()
				if revoked && p == 1 {
					late = append(late, fmt.Sprintf("1/%d", e.GetOffset()))
				}
				return nil
			})
	}()
	<-aAssigned
	produceN(t, admin, "t", 1, 5)

	b := dialBroker(t, addr)
	bctx, bcancel := context.WithCancel(testCtx(t))
	defer bcancel()
	bGot := make(chan uint64, 100)
	bdone := make(chan error, 1)
	go func() {
		bdone <- b.ConsumeGroup(bctx, "g", "t", GroupOptions{MemberID: "b"}, func(p uint32, e *pb.LogEntry) error {
			if p != 1 {
				return fmt.Errorf("b got partition %d", p)
			}
			bGot <- e.GetOffset()
			return nil
		})
	}()
	<-aRevoked
	produceN(t, admin, "t", 1, 5) // offsets 5-9: b's alone
	for {
		if o := <-bGot; o == 9 {
			break
		}
	}
	acancel()
	if err := <-adone; !errors.Is(err, context.Canceled) {
		t.Errorf("a: %v", err)
	}
	bcancel()
	if err := <-bdone; !errors.Is(err, context.Canceled) {
		t.Errorf("b: %v", err)
	}
	if len(late) > 0 {
		t.Errorf("a handled revoked partition entries after the rebalance: %v", late)
	}
}

func TestGroupBrokerErrorsAreReturned(t *testing.T) {
	addr := startBroker(t)
	c := dialBroker(t, addr)
	err := c.ConsumeGroup(testCtx(t), "g", "nope", GroupOptions{}, func(uint32, *pb.LogEntry) error { return nil })
	if status.Code(err) != codes.NotFound {
		t.Errorf("ConsumeGroup on an unknown topic: %v, want NOT_FOUND", err)
	}
}

func TestGroupHandlerErrorStops(t *testing.T) {
	_, c := topicBroker(t, 5)
	boom := errors.New("boom")
	err := c.ConsumeGroup(testCtx(t), "g", "t", GroupOptions{CommitInterval: time.Hour}, func(_ uint32, e *pb.LogEntry) error {
		if e.GetOffset() == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("ConsumeGroup = %v, want the handler's error", err)
	}
	resp, err := c.Broker().FetchOffsets(testCtx(t), &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetOffsets()) != 1 || resp.GetOffsets()[0].GetOffset() != 3 {
		t.Errorf("committed %v, want offset 3 (entries 0-2 handled)", resp.GetOffsets())
	}
}

// TestGroupAfterBatchErrorCommitsNothingOfTheBatch: when AfterBatch fails
// (lb consume --group could not flush its output), the batch's entries were
// not really handled: the commit on the way out does not cover them.
func TestGroupAfterBatchErrorCommitsNothingOfTheBatch(t *testing.T) {
	_, c := topicBroker(t, 5)
	broken := errors.New("broken pipe")
	opts := GroupOptions{CommitInterval: time.Hour, AfterBatch: func() error { return broken }}
	err := c.ConsumeGroup(testCtx(t), "g", "t", opts, func(uint32, *pb.LogEntry) error { return nil })
	if !errors.Is(err, broken) {
		t.Fatalf("ConsumeGroup = %v, want the AfterBatch error", err)
	}
	resp, err := c.Broker().FetchOffsets(testCtx(t), &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range resp.GetOffsets() {
		if o.GetOffset() != 0 {
			t.Errorf("committed offset %d of partition %d after the batch's AfterBatch failed, want nothing", o.GetOffset(), o.GetPartition())
		}
	}
}

// TestGroupSkippedGenerationRestartsPartitions: the broker sends a member
// only its newest assignment, so a member can go from generation G to G+2
// without seeing G+1, in which another member may have owned and committed
// its partition. The member then restarts the partition from the group's
// committed offset rather than keep reading (and later commit) from its own.
func TestGroupSkippedGenerationRestartsPartitions(t *testing.T) {
	_, c := topicBroker(t, 10)
	var starts []map[uint32]uint64
	gc := &groupConsumer{
		c: c, group: "g", topic: "t", h: func(uint32, *pb.LogEntry) error { return nil },
		opts:     GroupOptions{OnAssign: func(a GroupAssignment) { starts = append(starts, a.Start) }},
		fetchers: map[uint32]*fetcher{},
		batchc:   make(chan fetchedBatch, 100),
		errc:     make(chan fetchError, 100),
	}
	gc.committed, gc.progress = map[uint32]uint64{}, map[uint32]uint64{}
	defer gc.stopAll()
	ctx := testCtx(t)
	if err := gc.rebalance(ctx, &pb.GroupAssignment{MemberId: "a", Generation: 1, Partitions: []uint32{0}}); err != nil {
		t.Fatal(err)
	}
	gc.progress[0] = 3 // handled 0-2 in generation 1
	// Generation 2 (unseen): another member owned partition 0 and got to 8.
	if _, err := c.Broker().CommitOffsets(ctx, &pb.CommitOffsetsRequest{Group: "g", Topic: "t",
		Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 8}}}); err != nil {
		t.Fatal(err)
	}
	if err := gc.rebalance(ctx, &pb.GroupAssignment{MemberId: "a", Generation: 3, Partitions: []uint32{0}}); err != nil {
		t.Fatal(err)
	}
	if len(starts) != 2 || starts[1][0] != 8 {
		t.Fatalf("after generation 1 -> 3 the member's starts are %v; want partition 0 restarted at the committed 8", starts)
	}
	if gc.progress[0] != 8 {
		t.Errorf("progress %d after the restart, want 8", gc.progress[0])
	}
}
