package group

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeClock is a Clock that moves only when told. Advance delivers each
// due timer's tick synchronously to the actor that owns it (or sees the
// timer stopped), so what a test asks after Advance is served after the
// tick.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at    time.Time
	c     chan time.Time
	stopc chan struct{}
	once  sync.Once
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time), stopc: make(chan struct{})}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool          { t.once.Do(func() { close(t.stopc) }); return true }

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	var due, rest []*fakeTimer
	for _, t := range c.timers {
		if !t.at.After(now) {
			due = append(due, t)
		} else {
			rest = append(rest, t)
		}
	}
	c.timers = rest
	c.mu.Unlock()
	for _, t := range due {
		select {
		case t.c <- now:
		case <-t.stopc:
		}
	}
}

func openKafka(t *testing.T, dir string, clk Clock, topics Topics) *Coordinator {
	t.Helper()
	c, err := Open(dir, Config{Topics: topics, Logger: zerolog.Nop(), Clock: clk,
		Classic: ClassicConfig{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, InitialRebalanceDelay: -1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// kafkaMember joins group as one Kafka consumer and syncs as the leader
// assigning itself everything; it returns the member ID and generation.
func kafkaMember(t *testing.T, c *Coordinator, group string) (string, uint64) {
	t.Helper()
	ctx := context.Background()
	r := kjoin("")
	r.RequireKnownID = true
	j, err := c.JoinKafka(ctx, group, r)
	if err != nil || !errors.Is(j.Err, ErrMemberIDRequired) || j.MemberID == "" {
		t.Fatalf("first join: %+v, %v", j, err)
	}
	j, err = c.JoinKafka(ctx, group, kjoin(j.MemberID))
	if err != nil || j.Err != nil || j.Leader != j.MemberID {
		t.Fatalf("join: %+v, %v", j, err)
	}
	s, err := c.SyncKafka(ctx, group, SyncRequest{MemberID: j.MemberID, Generation: j.Generation, Assignments: map[string][]byte{j.MemberID: []byte("all")}})
	if err != nil || s.Err != nil || string(s.Assignment) != "all" {
		t.Fatalf("sync: %+v, %v", s, err)
	}
	return j.MemberID, j.Generation
}

func TestKafkaAndGRPCOneProtocolAtATime(t *testing.T) {
	clk := &fakeClock{now: t0}
	c := openKafka(t, t.TempDir(), clk, newTopics("orders", 4))
	ctx := context.Background()

	id, gen := kafkaMember(t, c, "g")
	if _, err := c.Join(ctx, "g", "orders", "grpc-1"); !errors.Is(err, ErrOtherProtocol) {
		t.Fatalf("gRPC join while a Kafka member is in = %v, want ErrOtherProtocol", err)
	}
	in, ok, err := c.Describe(ctx, "g")
	if err != nil || !ok || in.Protocol != ProtocolKafka || in.State != StateStable || len(in.Members) != 1 || in.Members[0].ID != id || string(in.Members[0].Assignment) != "all" {
		t.Fatalf("Describe = %+v, %v, %v", in, ok, err)
	}
	// The member stops heartbeating: at its session's end (the fake clock's
	// timer) it is removed, and the group is free for gRPC members.
	clk.Advance(testSession - time.Millisecond)
	if err := c.HeartbeatKafka(ctx, "g", id, gen); err != nil {
		t.Fatalf("heartbeat in time: %v", err)
	}
	clk.Advance(testSession)
	if err := c.HeartbeatKafka(ctx, "g", id, gen); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("heartbeat after the session lapsed = %v, want ErrUnknownMember", err)
	}
	m, err := c.Join(ctx, "g", "orders", "grpc-1")
	if err != nil {
		t.Fatalf("gRPC join once the Kafka member is gone: %v", err)
	}
	if m.Assignment().Generation <= gen {
		t.Errorf("gRPC generation %d not above the Kafka one %d", m.Assignment().Generation, gen)
	}
	r := kjoin("")
	j, err := c.JoinKafka(ctx, "g", r)
	if err != nil || !errors.Is(j.Err, ErrOtherProtocol) {
		t.Fatalf("Kafka join while a gRPC member is in = %+v, %v", j, err)
	}
	m.Leave()
	if _, gen2 := kafkaMember(t, c, "g"); gen2 <= m.Assignment().Generation {
		t.Errorf("Kafka generation %d not above the gRPC one %d", gen2, m.Assignment().Generation)
	}
}

func TestKafkaCommitsShareTheStore(t *testing.T) {
	dir := t.TempDir()
	clk := &fakeClock{now: t0}
	topics := newTopics("orders", 4, "audit", 2)
	c := openKafka(t, dir, clk, topics)
	ctx := context.Background()

	// A simple consumer's commit (no generation), over two topics, with a
	// bad partition and an unknown topic refused on their own.
	errs, err := c.CommitKafka(ctx, "g", "", -1, []TopicOffsets{
		{Topic: "orders", Offsets: []PartitionOffset{{0, 10}, {3, 30}, {9, 1}}},
		{Topic: "audit", Offsets: []PartitionOffset{{1, 5}}},
		{Topic: "nope", Offsets: []PartitionOffset{{0, 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0][0] != nil || errs[0][1] != nil || !errors.Is(errs[0][2], ErrUnknownPartition) || errs[1][0] != nil || !errors.Is(errs[2][0], ErrUnknownTopic) {
		t.Fatalf("commit errors %v", errs)
	}
	// gRPC reads what Kafka committed, and the other way round.
	if got, err := c.Fetch(ctx, "g", "orders"); err != nil || !reflect.DeepEqual(got, []PartitionOffset{{0, 10}, {3, 30}}) {
		t.Fatalf("gRPC Fetch = %v, %v", got, err)
	}
	if err := c.Commit(ctx, "g", "orders", 0, []PartitionOffset{{1, 11}}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]PartitionOffset{"orders": {{0, 10}, {1, 11}, {3, 30}}, "audit": {{1, 5}}}
	if got, err := c.Offsets(ctx, "g"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Offsets = %v, %v", got, err)
	}

	// A member's commits are fenced by generation.
	id, gen := kafkaMember(t, c, "g")
	commit := func(member string, g int64) error {
		errs, err := c.CommitKafka(ctx, "g", member, g, []TopicOffsets{{Topic: "orders", Offsets: []PartitionOffset{{2, 22}}}})
		if err != nil {
			t.Fatal(err)
		}
		return errs[0][0]
	}
	if err := commit(id, int64(gen)); err != nil {
		t.Fatalf("member's commit: %v", err)
	}
	if err := commit(id, int64(gen)-1); !errors.Is(err, ErrStaleGeneration) {
		t.Errorf("stale commit = %v", err)
	}
	if err := commit("stranger", int64(gen)); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("stranger's commit = %v", err)
	}
	if err := commit("", -1); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("commit without generation while the group has a member = %v", err)
	}

	// Everything survives a restart, and the generation stays ahead.
	c.Close()
	c2 := openKafka(t, dir, clk, topics)
	want["orders"] = []PartitionOffset{{0, 10}, {1, 11}, {2, 22}, {3, 30}}
	if got, err := c2.Offsets(ctx, "g"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Offsets after reopen = %v, %v", got, err)
	}
	if _, gen2 := kafkaMember(t, c2, "g"); gen2 <= gen {
		t.Errorf("generation after reopen %d, before %d", gen2, gen)
	}
}

func TestKafkaJoinWaitsForRebalanceTimeout(t *testing.T) {
	clk := &fakeClock{now: t0}
	c := openKafka(t, t.TempDir(), clk, newTopics("orders", 4))
	ctx := context.Background()
	a, _ := kafkaMember(t, c, "g")
	// b joins; a never rejoins. b's JoinGroup waits on the actor until the
	// rebalance timeout, driven by the fake clock.
	res := make(chan JoinResult, 1)
	go func() {
		j, err := c.JoinKafka(ctx, "g", kjoin(""))
		if err != nil {
			j.Err = err
		}
		res <- j
	}()
	// Wait (by asking the actor, not by sleeping) until b is in.
	for {
		in, _, err := c.Describe(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		if in.State == StatePreparingRebalance && len(in.Members) == 2 {
			break
		}
		select {
		case j := <-res:
			t.Fatalf("join answered early: %+v", j)
		default:
		}
	}
	// a heartbeats (keeping its session) but does not rejoin.
	for i := 0; i < 3; i++ {
		clk.Advance(testSession / 2)
		if err := c.HeartbeatKafka(ctx, "g", a, 1); !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("heartbeat = %v", err)
		}
	}
	clk.Advance(testRebalance)
	j := <-res
	if j.Err != nil || j.Leader != j.MemberID || len(j.Members) != 1 {
		t.Fatalf("join after the rebalance timeout: %+v", j)
	}
}
