package server

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/partition/group"
	"github.com/logbroker/logbroker/pb"
)

// newGroupHarness serves real storage and a real group coordinator on one
// temporary data directory.
func newGroupHarness(t *testing.T, opts ...func(*Options)) (*harness, string) {
	t.Helper()
	dir := t.TempDir()
	reg, err := partition.Open(dir, partition.Config{Logger: testLogger(t), SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Close(); err != nil {
			t.Errorf("registry Close: %v", err)
		}
	})
	groups, err := group.Open(dir, group.Config{Topics: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: server, then groups, then storage.
	t.Cleanup(func() { groups.Close() })
	return serve(t, Options{Registry: FromRegistry(reg), Groups: groups}, opts...), dir
}

// member is one open JoinGroup stream.
type member struct {
	t      *testing.T
	cancel context.CancelFunc
	stream grpc.ServerStreamingClient[pb.GroupAssignment]
	last   *pb.GroupAssignment
}

func joinGroup(t *testing.T, c pb.BrokerServiceClient, grp, topic, id string) *member {
	t.Helper()
	// The deadline turns a missing assignment into a failure, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	stream, err := c.JoinGroup(ctx, &pb.JoinGroupRequest{Group: grp, Topic: topic, MemberId: id})
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, cancel: cancel, stream: stream}
	m.next()
	return m
}

// next waits for the member's next assignment.
func (m *member) next() *pb.GroupAssignment {
	m.t.Helper()
	a, err := m.stream.Recv()
	if err != nil {
		m.t.Fatalf("JoinGroup stream: %v", err)
	}
	if m.last != nil && a.GetGeneration() <= m.last.GetGeneration() {
		m.t.Fatalf("generation %d after %d", a.GetGeneration(), m.last.GetGeneration())
	}
	m.last = a
	return a
}

// until reads assignments until generation gen (assignments coalesce, so
// intermediate ones may be skipped).
func (m *member) until(gen uint64) *pb.GroupAssignment {
	m.t.Helper()
	for m.last.GetGeneration() < gen {
		m.next()
	}
	if m.last.GetGeneration() != gen {
		m.t.Fatalf("member %s at generation %d, want %d", m.last.GetMemberId(), m.last.GetGeneration(), gen)
	}
	return m.last
}

func checkSpread(t *testing.T, n int, want map[string]int, as ...*pb.GroupAssignment) {
	t.Helper()
	owner := map[uint32]string{}
	for _, a := range as {
		if len(a.GetPartitions()) != want[a.GetMemberId()] {
			t.Errorf("member %s owns %v, want %d partitions", a.GetMemberId(), a.GetPartitions(), want[a.GetMemberId()])
		}
		for _, p := range a.GetPartitions() {
			if o, dup := owner[p]; dup {
				t.Errorf("partition %d owned by %s and %s", p, o, a.GetMemberId())
			}
			owner[p] = a.GetMemberId()
		}
	}
	if len(owner) != n {
		t.Errorf("%d of %d partitions owned: %v", len(owner), n, owner)
	}
}

func TestGroupRebalanceOverGRPC(t *testing.T) {
	h, _ := newGroupHarness(t)
	h.createTopic(t, "orders", 6)
	a := joinGroup(t, h.client, "g", "orders", "a")
	b := joinGroup(t, h.client, "g", "orders", "b")
	c := joinGroup(t, h.client, "g", "orders", "c")
	gen := c.last.GetGeneration()
	checkSpread(t, 6, map[string]int{"a": 2, "b": 2, "c": 2}, a.until(gen), b.until(gen), c.until(gen))

	// b's stream ends: it leaves, and a and c take its partitions.
	b.cancel()
	gen++
	checkSpread(t, 6, map[string]int{"a": 3, "c": 3}, a.until(gen), c.until(gen))

	// Two more join: four members, 6 partitions.
	d := joinGroup(t, h.client, "g", "orders", "d")
	e := joinGroup(t, h.client, "g", "orders", "e")
	gen = e.last.GetGeneration()
	checkSpread(t, 6, map[string]int{"a": 2, "c": 2, "d": 1, "e": 1}, a.until(gen), c.until(gen), d.until(gen), e.until(gen))

	resp, err := h.client.ListGroups(testCtx(t), &pb.ListGroupsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.GroupInfo{Group: "g", Topic: "orders", Generation: gen, Members: []*pb.GroupMember{
		{MemberId: "a", Partitions: []uint32{0, 1}}, {MemberId: "c", Partitions: []uint32{2, 3}},
		{MemberId: "d", Partitions: []uint32{4}}, {MemberId: "e", Partitions: []uint32{5}},
	}}
	if len(resp.GetGroups()) != 1 || !equalInfo(resp.GetGroups()[0], want) {
		t.Errorf("ListGroups = %v, want %v", resp.GetGroups(), want)
	}
}

func equalInfo(a, b *pb.GroupInfo) bool {
	if a.GetGroup() != b.GetGroup() || a.GetTopic() != b.GetTopic() || a.GetGeneration() != b.GetGeneration() || len(a.GetMembers()) != len(b.GetMembers()) {
		return false
	}
	for i := range a.GetMembers() {
		x, y := a.GetMembers()[i], b.GetMembers()[i]
		if x.GetMemberId() != y.GetMemberId() || !reflect.DeepEqual(x.GetPartitions(), y.GetPartitions()) {
			return false
		}
	}
	return true
}

func TestGroupErrorsOverGRPC(t *testing.T) {
	h, _ := newGroupHarness(t)
	h.createTopic(t, "t", 2)
	h.createTopic(t, "u", 1)
	a := joinGroup(t, h.client, "g", "t", "a")
	gen := a.last.GetGeneration()
	joinGroup(t, h.client, "g", "t", "b")
	a.until(gen + 1)
	ctx := testCtx(t)
	commit := func(grp, topic string, gen uint64, offs ...*pb.PartitionOffset) error {
		_, err := h.client.CommitOffsets(ctx, &pb.CommitOffsetsRequest{Group: grp, Topic: topic, Generation: gen, Offsets: offs})
		return err
	}
	tests := []struct {
		name     string
		err      error
		wantCode codes.Code
		wantMsg  string
	}{
		{"stale generation", commit("g", "t", gen, &pb.PartitionOffset{Partition: 0, Offset: 1}), codes.FailedPrecondition, "generation"},
		{"current generation", commit("g", "t", gen+1, &pb.PartitionOffset{Partition: 0, Offset: 3}), codes.OK, ""},
		{"no generation check", commit("g", "t", 0, &pb.PartitionOffset{Partition: 1, Offset: 2}), codes.OK, ""},
		{"unknown partition", commit("g", "t", 0, &pb.PartitionOffset{Partition: 9}), codes.NotFound, "partition 9"},
		{"unknown topic", commit("g", "nope", 0, &pb.PartitionOffset{Partition: 0}), codes.NotFound, "nope"},
		{"bad group name", commit("a b", "t", 0), codes.InvalidArgument, "a b"},
		{"fetch bad topic name", fetchErr(h, ctx, "g", ""), codes.InvalidArgument, "topic"},
		{"fetch unknown topic", fetchErr(h, ctx, "g", "nope"), codes.NotFound, "nope"},
		{"join unknown topic", joinErr(h, ctx, "g2", "nope", ""), codes.NotFound, "nope"},
		{"join bad member ID", joinErr(h, ctx, "g2", "t", "x/y"), codes.InvalidArgument, "x/y"},
		{"join another topic than the members'", joinErr(h, ctx, "g", "u", ""), codes.FailedPrecondition, "\"t\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.wantCode, tt.wantMsg) })
	}
	resp, err := h.client.FetchOffsets(ctx, &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := offsetsOf(resp.GetOffsets()); !reflect.DeepEqual(got, map[uint32]uint64{0: 3, 1: 2}) {
		t.Errorf("FetchOffsets = %v, want only the accepted commits", got)
	}
}

func fetchErr(h *harness, ctx context.Context, grp, topic string) error {
	_, err := h.client.FetchOffsets(ctx, &pb.FetchOffsetsRequest{Group: grp, Topic: topic})
	return err
}

// joinErr opens a JoinGroup stream that is expected to fail.
func joinErr(h *harness, ctx context.Context, grp, topic, id string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.client.JoinGroup(ctx, &pb.JoinGroupRequest{Group: grp, Topic: topic, MemberId: id})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

func offsetsOf(offs []*pb.PartitionOffset) map[uint32]uint64 {
	m := map[uint32]uint64{}
	for _, o := range offs {
		m[o.GetPartition()] = o.GetOffset()
	}
	return m
}

// TestStartCommittedAndLag: START_COMMITTED starts at the committed offset
// (log start when none), and lag is next_offset - committed.
func TestStartCommittedAndLag(t *testing.T) {
	h, _ := newGroupHarness(t)
	h.createTopic(t, "t", 2)
	h.produce(t, "t", 0, values("a", "b", "c", "d", "e", "f", "g")...)
	h.produce(t, "t", 1, values("x", "y")...)
	ctx := testCtx(t)
	if _, err := h.client.CommitOffsets(ctx, &pb.CommitOffsetsRequest{Group: "g", Topic: "t",
		Offsets: []*pb.PartitionOffset{{Partition: 0, Offset: 4}}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		req       *pb.ConsumeRequest
		wantFirst uint64
		wantN     int
	}{
		{"committed partition", &pb.ConsumeRequest{Topic: "t", Partition: 0, Start: pb.Start_START_COMMITTED, Group: "g", StopAtEnd: true}, 4, 3},
		{"uncommitted partition starts at the log start", &pb.ConsumeRequest{Topic: "t", Partition: 1, Start: pb.Start_START_COMMITTED, Group: "g", StopAtEnd: true}, 0, 2},
		{"unknown group starts at the log start", &pb.ConsumeRequest{Topic: "t", Partition: 0, Start: pb.Start_START_COMMITTED, Group: "new", StopAtEnd: true}, 0, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := h.client.Consume(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := drain(t, stream.Recv)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantN || got[0].GetOffset() != tt.wantFirst {
				t.Errorf("got %d entries from %d, want %d from %d", len(got), got[0].GetOffset(), tt.wantN, tt.wantFirst)
			}
		})
	}
	stream, err := h.client.ConsumeBatches(ctx, &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_COMMITTED, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, stream.Recv)
	wantCode(t, err, codes.InvalidArgument, "group")

	offs, err := h.client.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	fetched, err := h.client.FetchOffsets(ctx, &pb.FetchOffsetsRequest{Group: "g", Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	committed := offsetsOf(fetched.GetOffsets())
	for _, o := range offs.GetPartitions() {
		c, ok := committed[o.GetPartition()]
		if !ok {
			c = o.GetLogStartOffset()
		}
		want := map[uint32]uint64{0: 3, 1: 2}[o.GetPartition()]
		if lag := o.GetNextOffset() - c; lag != want {
			t.Errorf("partition %d: lag %d (next %d - committed %d), want %d", o.GetPartition(), lag, o.GetNextOffset(), c, want)
		}
	}
}

// TestDeadMemberRemoved: a member whose connection goes silent (its host
// died) is removed once keepalive gives up, and the others take over its
// partitions.
func TestDeadMemberRemoved(t *testing.T) {
	h, _ := newGroupHarness(t, func(o *Options) {
		o.Keepalive = keepalive.ServerParameters{Time: time.Second, Timeout: 200 * time.Millisecond}
	})
	h.createTopic(t, "t", 4)
	px := newSilencer(t, h.addr)
	conn, err := grpc.NewClient(px.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dead := joinGroup(t, pb.NewBrokerServiceClient(conn), "g", "t", "dead")
	alive := joinGroup(t, h.client, "g", "t", "alive")
	gen := alive.last.GetGeneration()
	checkSpread(t, 4, map[string]int{"alive": 2, "dead": 2}, alive.last, dead.until(gen))

	px.silence()
	checkSpread(t, 4, map[string]int{"alive": 4}, alive.until(gen+1))
}

func TestGroupsUnimplementedWithoutCoordinator(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	ctx := testCtx(t)
	_, err := h.client.ListGroups(ctx, &pb.ListGroupsRequest{})
	wantCode(t, err, codes.Unimplemented, "")
	wantCode(t, joinErr(h, ctx, "g", "t", ""), codes.Unimplemented, "")
	stream, err := h.client.Consume(ctx, &pb.ConsumeRequest{Topic: "t", Start: pb.Start_START_COMMITTED, Group: "g", StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, stream.Recv)
	wantCode(t, err, codes.Unimplemented, "")
}

// TestJoinGroupEndsOnStop: broker shutdown ends JoinGroup streams with
// UNAVAILABLE, so members rejoin elsewhere.
func TestJoinGroupEndsOnStop(t *testing.T) {
	h, _ := newGroupHarness(t)
	h.createTopic(t, "t", 1)
	m := joinGroup(t, h.client, "g", "t", "a")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := m.stream.Recv()
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Recv after Stop: %v", err)
	}
	wantCode(t, err, codes.Unavailable, "")
}
