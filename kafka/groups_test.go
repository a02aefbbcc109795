package kafka

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// The tests in this file run consumer groups of franz-go's kgo clients, and
// look at them with kadm and with the coordinator calls that gRPC's
// FetchOffsets, CommitOffsets and JoinGroup make.

// groupConsumer is one kgo group member polling in its own goroutine; the
// records it got go to recs.
type groupConsumer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	recs []*kgo.Record
	errs []error
	stop context.CancelFunc
	done chan struct{}
}

func (b *testBroker) joinGroup(grp string, topics []string, opts ...kgo.Opt) *groupConsumer {
	b.t.Helper()
	opts = append([]kgo.Opt{
		kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topics...),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(5 * time.Second), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100 * time.Millisecond),
	}, opts...)
	gc := &groupConsumer{cl: b.newClient(opts...), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	gc.stop = cancel
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := gc.cl.PollFetches(ctx)
			gc.mu.Lock()
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.Canceled) {
					gc.errs = append(gc.errs, err)
				}
			})
			gc.recs = append(gc.recs, fs.Records()...)
			gc.mu.Unlock()
		}
	}()
	b.t.Cleanup(gc.close)
	return gc
}

// close stops polling and leaves the group (kgo's Close sends LeaveGroup).
func (gc *groupConsumer) close() {
	gc.stop()
	<-gc.done
	gc.cl.Close()
}

func (gc *groupConsumer) records() []*kgo.Record {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return append([]*kgo.Record(nil), gc.recs...)
}

func (gc *groupConsumer) errors() []error {
	gc.mu.Lock()
	defer gc.mu.Unlock()
	return append([]error(nil), gc.errs...)
}

// waitStable waits until grp is Stable with members members that between
// them own every partition of topic exactly once, and returns each member's
// partitions. It asks the broker again and again; nothing sleeps.
func (b *testBroker) waitStable(adm *kadm.Client, grp, topic string, members, partitions int) map[string][]int32 {
	b.t.Helper()
	ctx := testContext(b.t)
	var last string
	for ctx.Err() == nil {
		ds, err := adm.DescribeGroups(ctx, grp)
		if err != nil {
			b.t.Fatal(err)
		}
		d := ds[grp]
		owned := map[string][]int32{}
		count := map[int32]int{}
		for _, m := range d.Members {
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					if t.Topic == topic {
						owned[m.MemberID] = append(owned[m.MemberID], t.Partitions...)
						for _, p := range t.Partitions {
							count[p]++
						}
					}
				}
			}
		}
		once := len(count) == partitions
		for _, n := range count {
			once = once && n == 1
		}
		last = fmt.Sprintf("state %s, %d members, owned %v", d.State, len(d.Members), owned)
		if d.State == group.StateStable && len(d.Members) == members && once {
			return owned
		}
		time.Sleep(10 * time.Millisecond) // between asks only; the condition decides
	}
	b.t.Fatalf("group %s never stable with %d members over %d partitions: %s", grp, members, partitions, last)
	return nil
}

// produceN writes n records round-robin over topic's partitions, values
// "v<start+i>".
func (b *testBroker) produceN(topic string, partitions, start, n int) {
	b.t.Helper()
	cl := b.newClient(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32((start + i) % partitions), Value: []byte(fmt.Sprint("v", start+i))}
	}
	if err := cl.ProduceSync(testContext(b.t), recs...).FirstErr(); err != nil {
		b.t.Fatal(err)
	}
	cl.Close()
}

// waitRecords waits until the consumers have n records between them and
// returns the values each got.
func waitRecords(t *testing.T, n int, gcs ...*groupConsumer) [][]string {
	t.Helper()
	ctx := testContext(t)
	for {
		total := 0
		out := make([][]string, len(gcs))
		for i, gc := range gcs {
			for _, r := range gc.records() {
				out[i] = append(out[i], string(r.Value))
			}
			total += len(out[i])
			if errs := gc.errors(); len(errs) > 0 {
				t.Fatalf("consumer %d: %v", i, errs)
			}
		}
		if total >= n {
			return out
		}
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGroupThreeConsumersSixPartitions(t *testing.T) {
	b := startBroker(t)
	b.createTopic("orders", 6)
	adm := b.admin()
	gcs := []*groupConsumer{b.joinGroup("g", []string{"orders"}), b.joinGroup("g", []string{"orders"}), b.joinGroup("g", []string{"orders"})}
	owned := b.waitStable(adm, "g", "orders", 3, 6)
	for id, ps := range owned {
		if len(ps) != 2 {
			t.Errorf("member %s owns %v, want 2 partitions", id, ps)
		}
	}

	// Records produced now go to their partition's one owner: each is
	// consumed once.
	b.produceN("orders", 6, 0, 60)
	got := waitRecords(t, 60, gcs...)
	seen := map[string]int{}
	for _, vs := range got {
		for _, v := range vs {
			seen[v]++
		}
	}
	for i := 0; i < 60; i++ {
		if n := seen[fmt.Sprint("v", i)]; n != 1 {
			t.Errorf("record v%d consumed %d times", i, n)
		}
	}

	// ListGroups and DescribeGroups show the group.
	ls, err := adm.ListGroups(testContext(t))
	if err != nil || ls["g"].State != group.StateStable || ls["g"].ProtocolType != "consumer" {
		t.Fatalf("ListGroups = %+v, %v", ls, err)
	}

	// A member leaves: two share the six; one joins: three again.
	gcs[0].close()
	b.waitStable(adm, "g", "orders", 2, 6)
	b.joinGroup("g", []string{"orders"})
	b.waitStable(adm, "g", "orders", 3, 6)
}

func TestGroupCommitsAcrossProtocolsAndRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBrokerIn(t, dir)
	b.createTopic("orders", 3)
	ctx := testContext(t)
	b.produceN("orders", 3, 0, 30)

	gc := b.joinGroup("g", []string{"orders"})
	b.waitStable(b.admin(), "g", "orders", 1, 3)
	waitRecords(t, 30, gc)
	if err := gc.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	// kadm's OffsetFetch and the coordinator's Fetch (gRPC FetchOffsets)
	// read the Kafka commit.
	want := []group.PartitionOffset{{Partition: 0, Offset: 10}, {Partition: 1, Offset: 10}, {Partition: 2, Offset: 10}}
	if got, err := b.groups.Fetch(ctx, "g", "orders"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("gRPC-side Fetch = %v, %v; want %v", got, err, want)
	}
	offs, err := b.admin().FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		if o, ok := offs.Lookup("orders", p); !ok || o.At != 10 || o.Err != nil {
			t.Errorf("kadm FetchOffsets orders/%d = %+v", p, o)
		}
	}
	gc.close()

	// Five records more, then a restart: the group resumes from its
	// commits, and gets only those five.
	b.produceN("orders", 3, 30, 5)
	b.stop()
	b2 := startBrokerIn(t, dir)
	gc2 := b2.joinGroup("g", []string{"orders"})
	got := waitRecords(t, 5, gc2)[0]
	sort.Strings(got)
	if want := []string{"v30", "v31", "v32", "v33", "v34"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart consumed %v, want %v", got, want)
	}
	// Nothing more comes (no redelivery): one more record is the next one.
	b2.produceN("orders", 3, 35, 1)
	if got := waitRecords(t, 6, gc2)[0]; len(got) != 6 || got[5] != "v35" {
		t.Fatalf("consumed %v", got)
	}
}

func TestGroupSimpleCommitsCrossProtocol(t *testing.T) {
	b := startBroker(t)
	b.createTopic("orders", 2)
	ctx := testContext(t)
	adm := b.admin()
	// A simple consumer's commit (generation -1, no member) through Kafka...
	var os kadm.Offsets
	os.AddOffset("orders", 1, 42, -1)
	if resps, err := adm.CommitOffsets(ctx, "tool", os); err != nil || resps.Error() != nil {
		t.Fatalf("CommitOffsets: %v %v", err, resps.Error())
	}
	if got, err := b.groups.Fetch(ctx, "tool", "orders"); err != nil || !reflect.DeepEqual(got, []group.PartitionOffset{{Partition: 1, Offset: 42}}) {
		t.Fatalf("gRPC-side Fetch = %v, %v", got, err)
	}
	// ...and a gRPC commit read through Kafka.
	if err := b.groups.Commit(ctx, "tool", "orders", 0, []group.PartitionOffset{{Partition: 0, Offset: 7}}); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsetsForTopics(ctx, "tool", "orders")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 7, 1: 42} {
		if o, ok := offs.Lookup("orders", p); !ok || o.At != want {
			t.Errorf("orders/%d = %+v, want %d", p, o, want)
		}
	}
	// An unknown topic is refused per partition.
	var bad kadm.Offsets
	bad.AddOffset("nope", 0, 1, -1)
	resps, err := adm.CommitOffsets(ctx, "tool", bad)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := resps.Lookup("nope", 0); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("commit of an unknown topic: %v", r.Err)
	}
}

func TestGroupOneProtocolAtATime(t *testing.T) {
	b := startBroker(t)
	b.createTopic("orders", 2)
	ctx := testContext(t)

	// A gRPC member holds the group: a Kafka consumer is refused with
	// INCONSISTENT_GROUP_PROTOCOL (and keeps retrying).
	m, err := b.groups.Join(ctx, "g", "orders", "grpc-member")
	if err != nil {
		t.Fatal(err)
	}
	gc := b.joinGroup("g", []string{"orders"})
	for {
		if errs := gc.errors(); len(errs) > 0 {
			if !errors.Is(errs[0], kerr.InconsistentGroupProtocol) {
				t.Fatalf("kgo got %v, want INCONSISTENT_GROUP_PROTOCOL", errs[0])
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("kgo consumer saw no error")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The gRPC group shows in Kafka's tools, with its member's partitions.
	ds, err := b.admin().DescribeGroups(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if d := ds["g"]; d.State != group.StateStable || len(d.Members) != 1 || !d.AssignedPartitions().Lookup("orders", 1) {
		t.Errorf("DescribeGroups of the gRPC group = %+v", d)
	}
	// Once the gRPC member leaves, the Kafka consumer gets in; then a gRPC
	// join is refused, naming Kafka.
	m.Leave()
	b.waitStable(b.admin(), "g", "orders", 1, 2)
	if _, err := b.groups.Join(ctx, "g", "orders", "grpc-2"); !errors.Is(err, group.ErrOtherProtocol) {
		t.Fatalf("gRPC join while a Kafka member is in = %v", err)
	}
}

// TestFindCoordinator: every group's coordinator is this broker, in the one
// key (v3) and batched (v4) forms; a name LogBroker cannot keep gets
// INVALID_GROUP_ID, and a transaction coordinator the refusal a
// transactional producer gets everywhere else.
func TestFindCoordinator(t *testing.T) {
	b := startBroker(t)
	c := b.dial()
	for _, tt := range []struct {
		key      string
		keyType  int8
		wantCode int16
	}{
		{"billing", 0, 0},
		{"bad/name", 0, kerr.InvalidGroupID.Code},
		{"my-txn", 1, kerr.TransactionalIDAuthorizationFailed.Code},
	} {
		v3 := kmsg.NewPtrFindCoordinatorRequest()
		v3.Version, v3.CoordinatorKey, v3.CoordinatorType = 3, tt.key, tt.keyType
		r3 := c.roundTrip(v3).(*kmsg.FindCoordinatorResponse)
		if r3.ErrorCode != tt.wantCode || (tt.wantCode == 0) != (r3.NodeID == NodeID) {
			t.Errorf("v3 %q type %d: code %d node %d, want code %d", tt.key, tt.keyType, r3.ErrorCode, r3.NodeID, tt.wantCode)
		}
		v4 := kmsg.NewPtrFindCoordinatorRequest()
		v4.Version, v4.CoordinatorKeys, v4.CoordinatorType = 4, []string{tt.key}, tt.keyType
		r4 := c.roundTrip(v4).(*kmsg.FindCoordinatorResponse)
		if len(r4.Coordinators) != 1 || r4.Coordinators[0].ErrorCode != tt.wantCode || r4.Coordinators[0].Key != tt.key {
			t.Errorf("v4 %q type %d: %+v, want code %d", tt.key, tt.keyType, r4.Coordinators, tt.wantCode)
		}
	}
}
