package group

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

const waitTimeout = 20 * time.Second

// fakeTopics is a mutable topic list for tests.
type fakeTopics struct {
	mu     sync.Mutex
	topics map[string]uint32
}

func newTopics(kv ...any) *fakeTopics {
	ft := &fakeTopics{topics: map[string]uint32{}}
	for i := 0; i < len(kv); i += 2 {
		ft.topics[kv[i].(string)] = uint32(kv[i+1].(int))
	}
	return ft
}

func (f *fakeTopics) Topics() []partition.TopicInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]partition.TopicInfo, 0, len(f.topics))
	for n, p := range f.topics {
		out = append(out, partition.TopicInfo{Name: n, Partitions: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func open(t *testing.T, dir string, topics Topics, fsys vfs.FS) *Coordinator {
	t.Helper()
	c, err := Open(dir, Config{Topics: topics, FS: fsys, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func join(t *testing.T, c *Coordinator, group, topic, id string) *Member {
	t.Helper()
	m, err := c.Join(context.Background(), group, topic, id)
	if err != nil {
		t.Fatalf("Join(%s, %s, %q): %v", group, topic, id, err)
	}
	return m
}

// waitGeneration waits until m has seen generation gen, by its signal.
func waitGeneration(t *testing.T, m *Member, gen uint64) Assignment {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		if a := m.Assignment(); a.Generation >= gen {
			return a
		}
		select {
		case <-m.Changed():
		case <-deadline:
			t.Fatalf("member %s: no generation %d within %s (has %d)", m.ID(), gen, waitTimeout, m.Assignment().Generation)
		}
	}
}

// checkAssignments checks that the members of one generation own every
// partition of an n-partition topic exactly once, with the wanted counts.
func checkAssignments(t *testing.T, ms []*Member, gen uint64, n uint32, wantCounts map[string]int) {
	t.Helper()
	owner := map[uint32]string{}
	for _, m := range ms {
		a := waitGeneration(t, m, gen)
		if a.Generation != gen {
			t.Fatalf("member %s at generation %d, want %d", m.ID(), a.Generation, gen)
		}
		if len(a.Partitions) != wantCounts[m.ID()] {
			t.Errorf("member %s owns %v, want %d partitions", m.ID(), a.Partitions, wantCounts[m.ID()])
		}
		for _, p := range a.Partitions {
			if prev, dup := owner[p]; dup {
				t.Errorf("partition %d owned by %s and %s", p, prev, m.ID())
			}
			owner[p] = m.ID()
		}
	}
	if uint32(len(owner)) != n {
		t.Errorf("%d of %d partitions owned: %v", len(owner), n, owner)
	}
}

func TestJoinLeaveRebalance(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("orders", 6), nil)
	a := join(t, c, "g", "orders", "a")
	b := join(t, c, "g", "orders", "b")
	m3 := join(t, c, "g", "orders", "c")
	gen := m3.Assignment().Generation
	checkAssignments(t, []*Member{a, b, m3}, gen, 6, map[string]int{"a": 2, "b": 2, "c": 2})

	// One leaves: its partitions go to the others, in a higher generation.
	b.Leave()
	checkAssignments(t, []*Member{a, m3}, gen+1, 6, map[string]int{"a": 3, "c": 3})

	// A fourth member (b2) joins the two: 4 members, 6 partitions.
	b2 := join(t, c, "g", "orders", "b2")
	d := join(t, c, "g", "orders", "d")
	checkAssignments(t, []*Member{a, b2, m3, d}, gen+3, 6, map[string]int{"a": 2, "b2": 2, "c": 1, "d": 1})

	infos, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{{Group: "g", Topic: "orders", Generation: gen + 3, Members: []MemberInfo{
		{ID: "a", Partitions: []uint32{0, 1}}, {ID: "b2", Partitions: []uint32{2, 3}},
		{ID: "c", Partitions: []uint32{4}}, {ID: "d", Partitions: []uint32{5}},
	}, Protocol: ProtocolGRPC, State: StateStable}}
	if !reflect.DeepEqual(infos, want) {
		t.Errorf("List = %+v, want %+v", infos, want)
	}
}

func TestGenerationsIncreaseOnEveryChange(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	a := join(t, c, "g", "t", "a")
	last := a.Assignment().Generation
	for i := range 5 {
		m := join(t, c, "g", "t", fmt.Sprintf("m%d", i))
		g := waitGeneration(t, a, last+1).Generation
		if g <= last {
			t.Fatalf("join %d: generation %d, not above %d", i, g, last)
		}
		last = g
		m.Leave()
		g = waitGeneration(t, a, last+1).Generation
		if g <= last {
			t.Fatalf("leave %d: generation %d, not above %d", i, g, last)
		}
		last = g
	}
}

func TestCommitFencing(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 4), nil)
	ctx := context.Background()
	a := join(t, c, "g", "t", "a")
	old := a.Assignment().Generation
	join(t, c, "g", "t", "b")
	cur := waitGeneration(t, a, old+1).Generation
	tests := []struct {
		name    string
		topic   string
		gen     uint64
		offsets []PartitionOffset
		wantErr error
	}{
		{"stale generation", "t", old, []PartitionOffset{{0, 5}}, ErrStaleGeneration},
		{"future generation", "t", cur + 1, []PartitionOffset{{0, 5}}, ErrStaleGeneration},
		{"current generation", "t", cur, []PartitionOffset{{0, 7}}, nil},
		{"no generation check", "t", 0, []PartitionOffset{{1, 3}}, nil},
		{"unknown partition", "t", cur, []PartitionOffset{{4, 1}}, ErrUnknownPartition},
		{"unknown topic", "nope", 0, []PartitionOffset{{0, 1}}, ErrUnknownTopic},
		{"generation of another topic", "u", cur, []PartitionOffset{{0, 1}}, ErrStaleGeneration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Commit(ctx, "g", tt.topic, tt.gen, tt.offsets)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Commit(gen %d) = %v, want %v", tt.gen, err, tt.wantErr)
			}
		})
	}
	// Only the accepted commits are there.
	got, err := c.Fetch(ctx, "g", "t")
	if err != nil {
		t.Fatal(err)
	}
	if want := []PartitionOffset{{0, 7}, {1, 3}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Fetch = %v, want %v", got, want)
	}
}

func TestCommitsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	topics := newTopics("t", 3, "u", 1)
	ctx := context.Background()
	c, err := Open(dir, Config{Topics: topics, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	m := join(t, c, "g", "t", "a")
	gen := m.Assignment().Generation
	if err := c.Commit(ctx, "g", "t", gen, []PartitionOffset{{0, 10}, {2, 30}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, "g", "t", gen, []PartitionOffset{{0, 11}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Commit(ctx, "other", "u", 0, []PartitionOffset{{0, 1}}); err != nil {
		t.Fatal(err)
	}
	c.Close() // the member's stream would end here; it never left
	if err := m.Err(); !errors.Is(err, ErrStopped) {
		t.Errorf("member after Close: Err = %v, want ErrStopped", err)
	}

	c2 := open(t, dir, topics, nil)
	tests := []struct {
		group, topic string
		want         []PartitionOffset
	}{
		{"g", "t", []PartitionOffset{{0, 11}, {2, 30}}},
		{"other", "u", []PartitionOffset{{0, 1}}},
		{"g", "u", nil},
		{"never", "t", nil},
	}
	for _, tt := range tests {
		got, err := c2.Fetch(ctx, tt.group, tt.topic)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Fetch(%s, %s) after reopen = %v, %v; want %v", tt.group, tt.topic, got, err, tt.want)
		}
	}
	// Generations never repeat: a stale member from before the restart stays fenced.
	if err := c2.Commit(ctx, "g", "t", gen, []PartitionOffset{{0, 1}}); err != nil {
		t.Errorf("commit at the persisted generation %d after reopen: %v", gen, err)
	}
	m2 := join(t, c2, "g", "t", "b")
	if g := m2.Assignment().Generation; g <= gen {
		t.Errorf("generation after reopen %d, want above %d", g, gen)
	}
	if err := c2.Commit(ctx, "g", "t", gen, []PartitionOffset{{0, 1}}); !errors.Is(err, ErrStaleGeneration) {
		t.Errorf("commit at generation %d after rejoin: %v, want ErrStaleGeneration", gen, err)
	}
}

// TestCommitSurvivesPowerLoss acknowledges commits, cuts the power after each
// one (unsynced bytes and directory entries vanish) and checks every
// acknowledged commit is read back.
func TestCommitSurvivesPowerLoss(t *testing.T) {
	ffs := errorfs.NewFaultFS()
	if err := ffs.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ffs.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	topics := newTopics("t", 2)
	ctx := context.Background()
	for i := uint64(1); i <= 20; i++ {
		c, err := Open("/data", Config{Topics: topics, FS: ffs, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatalf("cycle %d: Open: %v", i, err)
		}
		got, err := c.Fetch(ctx, "g", "t")
		if err != nil {
			t.Fatalf("cycle %d: Fetch: %v", i, err)
		}
		if want := []PartitionOffset{{0, i - 1}, {1, 2 * (i - 1)}}; i > 1 && !reflect.DeepEqual(got, want) {
			t.Fatalf("cycle %d: after power loss Fetch = %v, want %v", i, got, want)
		}
		if err := c.Commit(ctx, "g", "t", 0, []PartitionOffset{{0, i}, {1, 2 * i}}); err != nil {
			t.Fatalf("cycle %d: Commit: %v", i, err)
		}
		ffs.Crash() // before Close: nothing after the ack may be needed
		c.Close()
	}
}

// TestFailedWriteIsNotAcknowledged fails each step of the safe write in turn
// (create, write, sync, rename, directory sync), then cuts the power: the
// commit is refused, and the file holds the previous commit or, when only
// the directory sync failed, possibly the new one; never a mix or nothing.
func TestFailedWriteIsNotAcknowledged(t *testing.T) {
	for step := 1; step <= 5; step++ {
		t.Run(fmt.Sprint("step", step), func(t *testing.T) {
			ffs := errorfs.NewFaultFS()
			if err := ffs.MkdirAll("/data", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := ffs.SyncDir("/"); err != nil {
				t.Fatal(err)
			}
			topics := newTopics("t", 1)
			ctx := context.Background()
			c, err := Open("/data", Config{Topics: topics, FS: ffs, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Commit(ctx, "g", "t", 0, []PartitionOffset{{0, 1}}); err != nil {
				t.Fatal(err)
			}
			n := 0
			injected := errors.New("injected fault")
			ffs.SetHook(func(op errorfs.Op, name string) error {
				if filepath.Dir(name) != "/data/"+Dir && name != "/data/"+Dir {
					return nil
				}
				n++
				if n == step {
					return injected
				}
				return nil
			})
			if err := c.Commit(ctx, "g", "t", 0, []PartitionOffset{{0, 2}}); !errors.Is(err, injected) {
				t.Fatalf("commit with step %d failing: %v, want the injected error", step, err)
			}
			ffs.SetHook(nil)
			if got, _ := c.Fetch(ctx, "g", "t"); !reflect.DeepEqual(got, []PartitionOffset{{0, 1}}) {
				t.Errorf("Fetch after a refused commit = %v, want the previous commit", got)
			}
			c.Close()
			ffs.Crash()
			c2, err := Open("/data", Config{Topics: topics, FS: ffs, Logger: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			defer c2.Close()
			got, err := c2.Fetch(ctx, "g", "t")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, []PartitionOffset{{0, 1}}) && !reflect.DeepEqual(got, []PartitionOffset{{0, 2}}) {
				t.Errorf("after power loss Fetch = %v, want offset 1 (or 2)", got)
			}
		})
	}
}

func TestCorruptFileFencesOnlyItsGroup(t *testing.T) {
	dir := t.TempDir()
	topics := newTopics("t", 1)
	ctx := context.Background()
	c := open(t, dir, topics, nil)
	for _, g := range []string{"bad", "good"} {
		if err := c.Commit(ctx, g, "t", 0, []PartitionOffset{{0, 42}}); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	path := filepath.Join(dir, Dir, "bad"+fileSuffix)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c2 := open(t, dir, topics, nil)
	if _, err := c2.Fetch(ctx, "bad", "t"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Fetch of the corrupt group: %v, want ErrCorrupt", err)
	}
	if err := c2.Commit(ctx, "bad", "t", 0, []PartitionOffset{{0, 1}}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Commit to the corrupt group: %v, want ErrCorrupt", err)
	}
	if _, err := c2.Join(ctx, "bad", "t", "x"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Join of the corrupt group: %v, want ErrCorrupt", err)
	}
	if got, err := c2.Fetch(ctx, "good", "t"); err != nil || !reflect.DeepEqual(got, []PartitionOffset{{0, 42}}) {
		t.Errorf("Fetch of the good group = %v, %v", got, err)
	}
	// The damaged file is left for a person to look at.
	if after, _ := os.ReadFile(path); !reflect.DeepEqual(after, data) {
		t.Error("the corrupt file was rewritten")
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := encodeState(&state{group: "g", topic: "t", generation: 3,
		offsets: map[string]map[uint32]uint64{"t": {0: 1, 5: 9}}})
	if s, err := decodeState(good); err != nil || s.generation != 3 || s.offsets["t"][5] != 9 {
		t.Fatalf("decode(encode) = %+v, %v", s, err)
	}
	for i := range good {
		for _, bit := range []byte{0x01, 0x20, 0x80} {
			bad := append([]byte(nil), good...)
			bad[i] ^= bit
			if _, err := decodeState(bad); err == nil {
				t.Fatalf("flip of bit %#x at byte %d not detected", bit, i)
			}
		}
	}
	for n := range len(good) {
		if _, err := decodeState(good[:n]); err == nil {
			t.Fatalf("truncation to %d bytes not detected", n)
		}
	}
}

func TestRequestErrors(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2, "u", 2), nil)
	ctx := context.Background()
	join(t, c, "busy", "t", "a")
	tests := []struct {
		name                 string
		group, topic, member string
		wantErr              error
	}{
		{"bad group name", "a/b", "t", "", ErrInvalidName},
		{"dot-dot group", "..", "t", "", ErrInvalidName},
		{"empty group", "", "t", "", ErrInvalidName},
		{"bad topic name", "g", "t t", "", ErrInvalidName},
		{"bad member ID", "g", "t", "x y", ErrInvalidName},
		{"unknown topic", "g", "nope", "", ErrUnknownTopic},
		{"other topic than the members'", "busy", "u", "", ErrTopicMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Join(ctx, tt.group, tt.topic, tt.member); !errors.Is(err, tt.wantErr) {
				t.Errorf("Join(%q, %q, %q) = %v, want %v", tt.group, tt.topic, tt.member, err, tt.wantErr)
			}
		})
	}
	if _, err := c.Fetch(ctx, "a/b", "t"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Fetch with a bad group name: %v", err)
	}
	if _, err := c.Fetch(ctx, "g", "nope"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("Fetch of an unknown topic: %v, want ErrUnknownTopic", err)
	}
	infos, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Group == "busy" && len(in.Members) != 1 {
			t.Errorf("refused joins changed the busy group: %+v", in)
		}
		if in.Group == "g" && len(in.Members) != 0 {
			t.Errorf("refused joins left members: %+v", in)
		}
	}
}

func TestBrokerNamesMembers(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	a := join(t, c, "g", "t", "")
	b := join(t, c, "g", "t", "")
	if a.ID() == "" || a.ID() == b.ID() || validateName("member", a.ID()) != nil {
		t.Errorf("broker-made IDs %q and %q", a.ID(), b.ID())
	}
	if got := waitGeneration(t, a, b.Assignment().Generation).MemberID; got != a.ID() {
		t.Errorf("assignment for %q, want %q", got, a.ID())
	}
}

func TestSameIDReplacesMember(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	old := join(t, c, "g", "t", "a")
	other := join(t, c, "g", "t", "b")
	fresh := join(t, c, "g", "t", "a")
	select {
	case <-old.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the replaced member's Done did not close")
	}
	if !errors.Is(old.Err(), ErrReplaced) {
		t.Errorf("replaced member's Err = %v", old.Err())
	}
	old.Leave() // a late leave of the replaced member must not remove its successor
	gen := fresh.Assignment().Generation
	checkAssignments(t, []*Member{fresh, other}, gen, 2, map[string]int{"a": 1, "b": 1})
	infos, err := c.List(context.Background())
	if err != nil || len(infos) != 1 || len(infos[0].Members) != 2 || infos[0].Generation != gen {
		t.Errorf("List after a late leave of the replaced member = %+v, %v", infos, err)
	}
}

// TestSlowMemberNeverBlocks: a member that never reads its assignments does
// not hold up rebalances or commits.
func TestSlowMemberNeverBlocks(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 8), nil)
	join(t, c, "g", "t", "sleeper") // never reads Changed
	for i := range 50 {
		m := join(t, c, "g", "t", fmt.Sprint("m", i))
		if err := c.Commit(context.Background(), "g", "t", m.Assignment().Generation, []PartitionOffset{{0, uint64(i)}}); err != nil {
			t.Fatal(err)
		}
		m.Leave()
	}
}

func TestJoinWithEndedContextLeavesNoMember(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	for range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if m, err := c.Join(ctx, "g", "t", ""); err == nil {
			m.Leave()
		}
	}
	infos, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if len(in.Members) != 0 {
			t.Errorf("members left behind by cancelled joins: %+v", in.Members)
		}
	}
}

func TestClosedCoordinator(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	m := join(t, c, "g", "t", "a")
	c.Close()
	select {
	case <-m.Done():
	default:
		t.Fatal("member's Done open after Close")
	}
	m.Leave() // no hang on a stopped actor
	ctx := context.Background()
	if _, err := c.Join(ctx, "g", "t", "b"); !errors.Is(err, ErrStopped) {
		t.Errorf("Join after Close: %v", err)
	}
	if err := c.Commit(ctx, "g", "t", 0, nil); !errors.Is(err, ErrStopped) {
		t.Errorf("Commit after Close: %v", err)
	}
	if _, err := c.List(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("List after Close: %v", err)
	}
}

// TestRegistryIgnoresGroupsDir opens the partition registry on a data
// directory holding the groups directory: it must take it for no topic.
func TestRegistryIgnoresGroupsDir(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, newTopics("t", 1), nil)
	if err := c.Commit(context.Background(), "g", "t", 0, []PartitionOffset{{0, 1}}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	reg, err := partition.Open(dir, partition.Config{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if ts := reg.Topics(); len(ts) != 0 {
		t.Errorf("registry found topics %v in a data dir holding only %s/", ts, Dir)
	}
	if _, err := reg.CreateTopic(context.Background(), "g", 1); err != nil {
		t.Errorf("a topic named like a group: %v", err)
	}
	if _, err := reg.CreateTopic(context.Background(), "t", 1); err != nil {
		t.Fatal(err)
	}
	c2 := open(t, dir, reg, nil)
	if got, err := c2.Fetch(context.Background(), "g", "t"); err != nil || len(got) != 1 {
		t.Errorf("Fetch beside a live registry = %v, %v", got, err)
	}
}

// gateTopics is a topic list whose blockAt-th Topics call blocks until gate
// closes, so that a test can hold the group's actor inside a request.
type gateTopics struct {
	*fakeTopics
	calls   atomic.Int32
	blockAt int32
	entered chan struct{}
	gate    chan struct{}
}

func (g *gateTopics) Topics() []partition.TopicInfo {
	if g.calls.Add(1) == g.blockAt {
		close(g.entered)
		<-g.gate
	}
	return g.fakeTopics.Topics()
}

// TestSameIDJoinsInOneBatch: two joins with one member ID handled in the
// same batch: the later one is the member; the earlier one is told it was
// replaced, not that it joined with no assignment.
func TestSameIDJoinsInOneBatch(t *testing.T) {
	// Call 1 is Join's check before it makes the group; call 2 is the
	// actor's, inside member y's join: the actor waits there while x's two
	// joins queue.
	gt := &gateTopics{fakeTopics: newTopics("t", 2), blockAt: 2, entered: make(chan struct{}), gate: make(chan struct{})}
	c := open(t, t.TempDir(), gt, nil)
	first := make(chan error, 1)
	go func() { _, err := c.Join(context.Background(), "g", "t", "y"); first <- err }()
	<-gt.entered
	type result struct {
		m   *Member
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			m, err := c.Join(context.Background(), "g", "t", "x")
			results <- result{m, err}
		}()
	}
	g, err := c.group("g", false)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for len(g.reqc) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two joins never queued")
		}
		time.Sleep(time.Millisecond)
	}
	close(gt.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	joined := 0
	for range 2 {
		r := <-results
		switch {
		case r.err == nil:
			joined++
			if a := r.m.Assignment(); a.Generation == 0 {
				t.Errorf("a join that succeeded has no assignment: %+v", a)
			}
		case !errors.Is(r.err, ErrReplaced):
			t.Errorf("the replaced join: %v, want ErrReplaced", r.err)
		}
	}
	if joined != 1 {
		t.Errorf("%d of the two same-ID joins succeeded, want 1", joined)
	}
}

// TestRefusedRequestsMakeNoGroup: joins and commits refused for their
// topic, partition or generation leave no group behind (each would be an
// actor for good, and garbage requests could make them without bound).
func TestRefusedRequestsMakeNoGroup(t *testing.T) {
	c := open(t, t.TempDir(), newTopics("t", 2), nil)
	ctx := context.Background()
	if _, err := c.Join(ctx, "j", "nope", "m"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("join of an unknown topic: %v", err)
	}
	if err := c.Commit(ctx, "c1", "nope", 0, []PartitionOffset{{Partition: 0, Offset: 1}}); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("commit to an unknown topic: %v", err)
	}
	if err := c.Commit(ctx, "c2", "t", 0, []PartitionOffset{{Partition: 2, Offset: 1}}); !errors.Is(err, ErrUnknownPartition) {
		t.Errorf("commit to a partition past the topic's: %v", err)
	}
	if err := c.Commit(ctx, "c3", "t", 7, []PartitionOffset{{Partition: 0, Offset: 1}}); !errors.Is(err, ErrStaleGeneration) {
		t.Errorf("commit with a generation to a group never joined: %v", err)
	}
	infos, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Errorf("refused requests left %d groups: %+v", len(infos), infos)
	}
	// A good commit still makes its group.
	if err := c.Commit(ctx, "ok", "t", 0, []PartitionOffset{{Partition: 1, Offset: 5}}); err != nil {
		t.Fatal(err)
	}
	if infos, _ := c.List(ctx); len(infos) != 1 || infos[0].Group != "ok" {
		t.Errorf("after a good commit: %+v", infos)
	}
}

// TestLongGroupName: group names of the longest valid length (249, past
// what a file name with its suffixes can hold) commit, join and survive a
// restart on a real file system, and list under their own name.
func TestLongGroupName(t *testing.T) {
	dir := t.TempDir()
	topics := newTopics("t", 2)
	ctx := context.Background()
	long := strings.Repeat("g", 249)
	short := strings.Repeat("s", 243) // the longest kept as <name>.offsets
	c := open(t, dir, topics, nil)
	for i, name := range []string{long, short} {
		if err := c.Commit(ctx, name, "t", 0, []PartitionOffset{{Partition: 1, Offset: uint64(10 + i)}}); err != nil {
			t.Fatalf("commit for a %d-byte group name: %v", len(name), err)
		}
		m := join(t, c, name, "t", "m")
		m.Leave()
	}
	c.Close()
	c = open(t, dir, topics, nil)
	for i, name := range []string{long, short} {
		got, err := c.Fetch(ctx, name, "t")
		if err != nil {
			t.Fatal(err)
		}
		if want := []PartitionOffset{{1, uint64(10 + i)}}; !reflect.DeepEqual(got, want) {
			t.Errorf("after restart, a %d-byte group name's offsets: %v, want %v", len(name), got, want)
		}
	}
	infos, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Group != long || infos[1].Group != short {
		t.Errorf("List after restart: %d groups, want the two by name", len(infos))
	}
}
