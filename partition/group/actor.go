package group

import (
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/actor"
)

// group is one group's coordinator actor: the only goroutine that touches the
// group's members, generation, assignment and offsets.
type group struct {
	name   string
	c      *Coordinator
	logger zerolog.Logger
	loop   *actor.Loop
	reqc   chan request

	// Owned by the actor goroutine (run and handle*); nothing else touches them.
	cur        state               // generation and topic as the members know them; offsets as on disk
	members    map[string]*Member  // by ID: present while their streams are open
	assignment map[string][]uint32 // member ID -> partitions, for Info
	broken     error               // set when the offsets file is corrupt; refuses all work
	unsynced   bool                // cur.generation moved on without reaching the disk
	batch      []request           // reused mailbox drain buffer
	staged     map[string]map[uint32]uint64
	kafka      *classic // the Kafka members (classic protocol)
	timer      Timer    // at the classic protocol's next deadline; nil when none
}

// request is one of the typed messages below; each carries its own reply
// channel of capacity 1, made by the caller.
type request interface{ isRequest() }

type joinReq struct {
	topic string
	m     *Member
	reply chan error
}

type leaveReq struct {
	m     *Member
	reply chan struct{}
}

type commitReq struct {
	topic      string
	generation uint64
	offsets    []PartitionOffset
	reply      chan error
}

type fetchReq struct {
	topic string
	reply chan fetchResult
}

type fetchResult struct {
	offsets []PartitionOffset
	err     error
}

type infoReq struct{ reply chan Info }

func (joinReq) isRequest()   {}
func (leaveReq) isRequest()  {}
func (commitReq) isRequest() {}
func (fetchReq) isRequest()  {}
func (infoReq) isRequest()   {}

const (
	mailboxSize = 256
	// maxBatch bounds how many requests share one file write.
	maxBatch = 256
)

func startGroup(c *Coordinator, st *state, broken error) *group {
	if st.offsets == nil {
		st.offsets = map[string]map[uint32]uint64{}
	}
	g := &group{
		name:       st.group,
		c:          c,
		logger:     c.logger.With().Str("group", st.group).Logger(),
		reqc:       make(chan request, mailboxSize),
		cur:        *st,
		members:    map[string]*Member{},
		assignment: map[string][]uint32{},
		broken:     broken,
		kafka:      newClassic(c.cfg.Classic, st.generation),
	}
	g.loop = actor.Start(g.run)
	return g
}

func (g *group) run(stop <-chan struct{}) {
	defer g.shutdown()
	for {
		var tick <-chan time.Time
		if g.timer != nil {
			tick = g.timer.C()
		}
		select {
		case <-stop:
			return
		case <-tick:
			g.timer = nil
			g.handleBatch([]request{tickReq{}})
		case req := <-g.reqc:
			// Group commit: take what else is queued, write once, answer all.
			g.batch = append(g.batch[:0], req)
		drain:
			for len(g.batch) < maxBatch {
				select {
				case r := <-g.reqc:
					g.batch = append(g.batch, r)
				default:
					break drain
				}
			}
			g.handleBatch(g.batch)
			clear(g.batch)
		}
	}
}

// shutdown ends every membership; requests still queued are failed by
// actor.Ask with ErrStopped.
func (g *group) shutdown() {
	if g.timer != nil {
		g.timer.Stop()
	}
	for id, m := range g.members {
		m.end(fmt.Errorf("%w: group %q closed", ErrStopped, g.name))
		delete(g.members, id)
	}
}

// batchResult collects what handleBatch answers once the batch is on disk.
type batchResult struct {
	joins    []joinReq
	replaced []*Member // ended only once the joins that replaced them are durable
	leaves   []leaveReq
	commits  []commitReq
	reads    []request
	kcommits []*kcommitReq
	changed  bool // membership changed: new generation and assignment
	// later are answers decided during the batch (Kafka heartbeats and
	// leaves) that go out after the group's timer is armed, so a caller
	// who has its answer finds the deadline it implies already set.
	later []func()
}

func (g *group) handleBatch(batch []request) {
	var b batchResult
	g.staged = nil
	before := maps.Clone(g.members)
	topic := g.cur.topic
	now := g.c.cfg.Clock.Now()
	for _, req := range batch {
		switch r := req.(type) {
		case joinReq:
			g.handleJoin(r, &b, &topic)
		case leaveReq:
			g.handleLeave(r, &b)
		case commitReq:
			g.handleCommit(r, &b)
		case fetchReq, infoReq:
			b.reads = append(b.reads, r)
		default:
			g.handleKafka(now, r, &b)
		}
	}
	// A topic is set by the first join or commit and changes only when a join
	// finds the group empty.
	if topic == "" && len(b.commits) > 0 {
		topic = b.commits[0].topic
	}
	next := g.cur
	next.topic = topic
	// One generation counter for both protocols, so that a generation is
	// never handed out twice, whichever protocol held the group.
	next.generation = max(next.generation, g.kafka.generation)
	if b.changed {
		next.generation++
	}
	g.kafka.generation = next.generation
	var err error
	if b.changed || g.staged != nil || next.topic != g.cur.topic || g.unsynced || next.generation != g.cur.generation {
		next.offsets = g.mergedOffsets()
		err = writeFileAtomic(g.c.cfg.FS, g.c.dir, fileName(g.name), encodeState(&next))
	}
	if err != nil {
		g.logger.Error().Err(err).Msg("writing group offsets failed; refusing this batch's joins and commits")
		g.failBatch(&b, before, err)
		if g.kafka.generation > g.cur.generation { // held in memory, as failBatch does
			g.cur.generation, g.unsynced = g.kafka.generation, true
		}
		g.kafka.generation = g.cur.generation
	} else {
		g.cur = next
		g.unsynced = false
	}
	// Publish before answering: a joined member's first assignment is ready
	// when Join returns, and the timer is set to what the batch decided.
	if b.changed {
		g.rebalance()
	}
	g.armTimer(now)
	for _, answer := range b.later {
		answer()
	}
	if err == nil {
		for _, m := range b.replaced {
			m.end(fmt.Errorf("%w: member %q of group %q", ErrReplaced, m.id, g.name))
		}
		for _, r := range b.joins {
			if g.members[r.m.id] != r.m {
				// A later join of this batch with the same ID replaced it
				// before it was ever assigned anything.
				r.reply <- fmt.Errorf("%w: member %q of group %q", ErrReplaced, r.m.id, g.name)
				continue
			}
			r.reply <- nil
		}
		for _, r := range b.commits {
			r.reply <- nil
		}
	}
	for _, r := range b.leaves {
		r.reply <- struct{}{}
	}
	g.answerKafka(&b, err)
	for _, req := range b.reads {
		g.answerRead(req)
	}
}

func (g *group) handleJoin(r joinReq, b *batchResult, topic *string) {
	if g.broken != nil {
		r.reply <- g.broken
		return
	}
	if _, err := g.c.checkTopic(g.name, r.topic); err != nil {
		r.reply <- err
		return
	}
	if g.kafka.hasMembers() {
		r.reply <- fmt.Errorf("%w: group %q has Kafka-protocol members; gRPC members may join once they have left",
			ErrOtherProtocol, g.name)
		return
	}
	if len(g.members) > 0 && r.topic != *topic {
		r.reply <- fmt.Errorf("%w: group %q consumes %q, not %q, while it has members",
			ErrTopicMismatch, g.name, *topic, r.topic)
		return
	}
	if old := g.members[r.m.id]; old != nil {
		b.replaced = append(b.replaced, old)
	}
	g.members[r.m.id] = r.m
	*topic = r.topic
	b.joins = append(b.joins, r)
	b.changed = true
}

func (g *group) handleLeave(r leaveReq, b *batchResult) {
	if g.members[r.m.id] == r.m { // a replaced member's late leave must not remove its successor
		delete(g.members, r.m.id)
		b.changed = true
	}
	b.leaves = append(b.leaves, r)
}

// handleCommit checks the generation against the one the members were last
// told: requests in one batch are concurrent, so ordering the commit before
// the batch's joins and leaves is a valid order.
func (g *group) handleCommit(r commitReq, b *batchResult) {
	if g.broken != nil {
		r.reply <- g.broken
		return
	}
	if r.generation != 0 && (r.generation != g.cur.generation || r.topic != g.cur.topic) {
		r.reply <- fmt.Errorf("%w: commit for %q carries generation %d; group %q is at generation %d of topic %q",
			ErrStaleGeneration, r.topic, r.generation, g.name, g.cur.generation, g.cur.topic)
		return
	}
	if err := g.c.checkOffsets(g.name, r.topic, r.offsets); err != nil {
		r.reply <- err
		return
	}
	if len(r.offsets) > 0 {
		if g.staged == nil {
			g.staged = map[string]map[uint32]uint64{}
		}
		if g.staged[r.topic] == nil {
			g.staged[r.topic] = map[uint32]uint64{}
		}
		for _, po := range r.offsets {
			g.staged[r.topic][po.Partition] = po.Offset
		}
	}
	b.commits = append(b.commits, r)
}

// mergedOffsets is cur.offsets with this batch's commits applied, sharing
// the maps that did not change.
func (g *group) mergedOffsets() map[string]map[uint32]uint64 {
	if g.staged == nil {
		return g.cur.offsets
	}
	out := maps.Clone(g.cur.offsets)
	for t, ps := range g.staged {
		m := maps.Clone(out[t])
		if m == nil {
			m = map[uint32]uint64{}
		}
		maps.Copy(m, ps)
		out[t] = m
	}
	return out
}

// failBatch refuses the batch's joins and commits: nothing they asked for is
// durable. Leaves stand (the member is gone either way), and so do
// replacements (the newer join with an ID is the live client), so the
// remaining members may still need a new generation; it is held in memory
// until a write succeeds.
func (g *group) failBatch(b *batchResult, before map[string]*Member, err error) {
	for _, m := range b.replaced {
		m.end(fmt.Errorf("%w: member %q of group %q", ErrReplaced, m.id, g.name))
	}
	for _, r := range b.joins {
		if g.members[r.m.id] == r.m {
			delete(g.members, r.m.id)
		}
		r.reply <- err
	}
	for _, r := range b.commits {
		r.reply <- err
	}
	b.changed = !sameMembers(before, g.members)
	if b.changed {
		g.cur.generation++
		g.unsynced = true
	}
}

func sameMembers(a, b map[string]*Member) bool {
	if len(a) != len(b) {
		return false
	}
	for id, m := range a {
		if b[id] != m {
			return false
		}
	}
	return true
}

// rebalance computes the assignment of the current generation and hands each
// member its part without waiting for any of them.
func (g *group) rebalance() {
	n, _ := g.c.partitions(g.cur.topic) // a deleted topic has nothing to assign
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	g.assignment = assignRange(ids, n)
	for id, m := range g.members {
		m.publish(&Assignment{MemberID: id, Generation: g.cur.generation, Partitions: g.assignment[id]})
	}
	g.logger.Info().Uint64("generation", g.cur.generation).Str("topic", g.cur.topic).
		Int("members", len(g.members)).Uint32("partitions", n).Msg("group rebalanced")
}

func (g *group) answerRead(req request) {
	switch r := req.(type) {
	case fetchReq:
		if g.broken != nil {
			r.reply <- fetchResult{err: g.broken}
			return
		}
		r.reply <- fetchResult{offsets: sortedOffsets(g.cur.offsets[r.topic])}
	case infoReq:
		r.reply <- g.info()
	case offsetsReq:
		r.reply <- g.allOffsets()
	}
}

func (g *group) info() Info {
	in := Info{Group: g.name, Topic: g.cur.topic, Generation: g.cur.generation,
		Members: make([]MemberInfo, 0, len(g.members)), Err: g.broken}
	for id := range g.members {
		in.Members = append(in.Members, MemberInfo{ID: id, Partitions: g.assignment[id]})
	}
	sort.Slice(in.Members, func(i, j int) bool { return in.Members[i].ID < in.Members[j].ID })
	k := g.kafka
	in.State, in.ProtocolType = StateEmpty, k.protocolType
	switch {
	case len(g.members) > 0:
		in.Protocol, in.State = ProtocolGRPC, StateStable
	case k.hasMembers():
		in.Protocol, in.State, in.ProtocolName = ProtocolKafka, k.state, k.protocol
		for _, id := range k.order {
			m := k.members[id]
			in.Members = append(in.Members, MemberInfo{ID: id, ClientID: m.clientID, ClientHost: m.clientHost,
				Metadata: m.metadata(k.protocol), Assignment: m.assignment})
		}
	}
	return in
}
