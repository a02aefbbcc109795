package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/logbroker/logbroker/actor"
)

// Kafka's classic group protocol on the coordinator: the Kafka front end
// calls these methods; the group's actor runs the classic state machine
// (classic.go) beside the gRPC membership, over the same committed offsets
// and the same generation counter. A group's membership follows one
// protocol at a time: a join of one protocol while the group has members
// of the other gets ErrOtherProtocol.

// Clock is the coordinator's time: the classic protocol's session and
// rebalance timeouts run on it. Tests drive a fake one.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// TopicOffsets is one topic's offsets in a Kafka OffsetCommit.
type TopicOffsets struct {
	Topic   string
	Offsets []PartitionOffset
}

type kjoinReq struct {
	r     JoinRequest
	reply chan JoinResult
}

type ksyncReq struct {
	r     SyncRequest
	reply chan SyncResult
}

type kheartbeatReq struct {
	member     string
	generation uint64
	reply      chan error
}

type kleaveReq struct {
	members []string
	reply   chan []error
}

type kcommitReq struct {
	member     string
	generation int64
	topics     []TopicOffsets
	errs       [][]error // per topic and partition, filled by the actor
	reply      chan [][]error
}

type offsetsReq struct {
	reply chan offsetsResult
}

type offsetsResult struct {
	offsets map[string][]PartitionOffset
	err     error
}

// tickReq is the actor's own: the classic protocol's timer fired.
type tickReq struct{}

func (kjoinReq) isRequest()      {}
func (ksyncReq) isRequest()      {}
func (kheartbeatReq) isRequest() {}
func (kleaveReq) isRequest()     {}
func (*kcommitReq) isRequest()   {}
func (offsetsReq) isRequest()    {}
func (tickReq) isRequest()       {}

// JoinKafka handles a Kafka JoinGroup and returns once it is answered:
// at once (an error, a new member's ID with ErrMemberIDRequired, or the
// current generation again) or when the rebalance completes, which waits
// for the other members up to the rebalance timeout. Errors in the result
// are the request's answer; the returned error is the call's own (ctx,
// ErrStopped).
func (c *Coordinator) JoinKafka(ctx context.Context, group string, r JoinRequest) (JoinResult, error) {
	if err := validateName("group", group); err != nil {
		return JoinResult{}, err
	}
	// What the state machine would refuse at once must not make a group.
	cfg := c.cfg.Classic.withDefaults()
	switch {
	case r.InstanceID != "":
		return JoinResult{Err: fmt.Errorf("%w: group.instance.id %q", ErrStaticMembership, r.InstanceID)}, nil
	case r.SessionTimeout < cfg.MinSessionTimeout || r.SessionTimeout > cfg.MaxSessionTimeout:
		return JoinResult{Err: fmt.Errorf("%w: %v, served %v to %v", ErrInvalidSessionTimeout, r.SessionTimeout, cfg.MinSessionTimeout, cfg.MaxSessionTimeout)}, nil
	}
	g, err := c.newGroup(group, func() error { return nil })
	if err != nil {
		return JoinResult{}, err
	}
	if r.MemberID == "" {
		r.newID = newKafkaMemberID(r.ClientID)
	}
	req := kjoinReq{r: r, reply: make(chan JoinResult, 1)}
	return actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
}

// SyncKafka handles a Kafka SyncGroup; a follower's waits for the
// leader's.
func (c *Coordinator) SyncKafka(ctx context.Context, group string, r SyncRequest) (SyncResult, error) {
	g, err := c.existing(group, r.MemberID)
	if err != nil {
		return SyncResult{Err: err}, nil
	}
	req := ksyncReq{r: r, reply: make(chan SyncResult, 1)}
	return actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
}

// HeartbeatKafka handles a Kafka Heartbeat: nil, or the error to answer
// (ErrRebalanceInProgress, ErrUnknownMember, ErrStaleGeneration, ...).
func (c *Coordinator) HeartbeatKafka(ctx context.Context, group, member string, generation uint64) error {
	g, err := c.existing(group, member)
	if err != nil {
		return err
	}
	req := kheartbeatReq{member: member, generation: generation, reply: make(chan error, 1)}
	herr, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	if err != nil {
		return err
	}
	return herr
}

// LeaveKafka removes Kafka members (LeaveGroup) and returns each one's
// error, in order; the group rebalances without them.
func (c *Coordinator) LeaveKafka(ctx context.Context, group string, members []string) ([]error, error) {
	g, err := c.existing(group, "")
	if err != nil {
		errs := make([]error, len(members))
		for i := range errs {
			errs[i] = err
		}
		return errs, nil
	}
	req := kleaveReq{members: members, reply: make(chan []error, 1)}
	return actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
}

// CommitKafka handles a Kafka OffsetCommit and returns once the accepted
// offsets are on disk, with an error per topic and partition (nil: stored).
// generation -1 with no member ID is a commit outside any generation,
// allowed while the group has no Kafka member.
func (c *Coordinator) CommitKafka(ctx context.Context, group, member string, generation int64, topics []TopicOffsets) ([][]error, error) {
	if err := validateName("group", group); err != nil {
		return nil, err
	}
	g, err := c.newGroup(group, func() error {
		if generation >= 0 || member != "" {
			return fmt.Errorf("%w: commit of member %q with generation %d; group %q has never had a member",
				ErrStaleGeneration, member, generation, group)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	req := &kcommitReq{member: member, generation: generation, topics: topics, reply: make(chan [][]error, 1)}
	return actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
}

// Offsets returns every committed offset of group by topic, ascending by
// partition; an unknown group has none.
func (c *Coordinator) Offsets(ctx context.Context, group string) (map[string][]PartitionOffset, error) {
	if err := validateName("group", group); err != nil {
		return nil, err
	}
	g, err := c.group(group, false)
	if err != nil || g == nil {
		return nil, err
	}
	req := offsetsReq{reply: make(chan offsetsResult, 1)}
	res, err := actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	if err != nil {
		return nil, err
	}
	return res.offsets, res.err
}

// Describe describes one group; ok is false when it does not exist.
func (c *Coordinator) Describe(ctx context.Context, group string) (in Info, ok bool, err error) {
	if err := validateName("group", group); err != nil {
		return Info{}, false, err
	}
	g, err := c.group(group, false)
	if err != nil || g == nil {
		return Info{Group: group, State: StateDead}, false, err
	}
	req := infoReq{reply: make(chan Info, 1)}
	in, err = actor.Ask(ctx, g.loop, g.reqc, request(req), req.reply)
	return in, err == nil, err
}

// existing finds a group that a Sync, Heartbeat or Leave names: one that
// does not exist has no member.
func (c *Coordinator) existing(group, member string) (*group, error) {
	if err := validateName("group", group); err != nil {
		return nil, err
	}
	g, err := c.group(group, false)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("%w: %q: group %q does not exist", ErrUnknownMember, member, group)
	}
	return g, nil
}

// newKafkaMemberID names a new Kafka member as Kafka does: its client ID
// and a random suffix.
func newKafkaMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported systems
	return clientID + "-" + hex.EncodeToString(b[:])
}

// handleKafka runs one Kafka request on the group's state machine.
// Answers that wait for disk (commits) or for other members (joins,
// syncs) go out after the batch's write, in handleBatch.
func (g *group) handleKafka(now time.Time, req request, b *batchResult) {
	switch r := req.(type) {
	case kjoinReq:
		switch {
		case g.broken != nil:
			r.reply <- JoinResult{Err: g.broken}
		case len(g.members) > 0:
			r.reply <- JoinResult{Err: fmt.Errorf("%w: group %q has %d gRPC member(s) consuming %q; Kafka members may join once they have left",
				ErrOtherProtocol, g.name, len(g.members), g.cur.topic)}
		default:
			g.kafka.join(now, r.r, r.reply)
		}
	case ksyncReq:
		g.kafka.sync(now, r.r, r.reply)
	case kheartbeatReq:
		err := g.kafka.heartbeat(now, r.member, r.generation)
		b.later = append(b.later, func() { r.reply <- err })
	case kleaveReq:
		res := g.kafka.leave(now, r.members)
		b.later = append(b.later, func() { r.reply <- res })
	case *kcommitReq:
		g.handleKafkaCommit(now, r, b)
	case offsetsReq:
		b.reads = append(b.reads, r)
	case tickReq:
		g.kafka.tick(now)
	}
}

// handleKafkaCommit checks the committer, then each partition; the
// accepted offsets are staged for the batch's write.
func (g *group) handleKafkaCommit(now time.Time, r *kcommitReq, b *batchResult) {
	r.errs = make([][]error, len(r.topics))
	err := g.broken
	if err == nil {
		err = g.kafka.checkCommit(now, r.member, r.generation)
	}
	for i, t := range r.topics {
		r.errs[i] = make([]error, len(t.Offsets))
		n, known := g.c.partitions(t.Topic)
		for j, po := range t.Offsets {
			switch {
			case err != nil:
				r.errs[i][j] = err
			case !known:
				r.errs[i][j] = fmt.Errorf("%w: %q (group %q)", ErrUnknownTopic, t.Topic, g.name)
			case po.Partition >= n:
				r.errs[i][j] = fmt.Errorf("%w: partition %d of %q, which has %d", ErrUnknownPartition, po.Partition, t.Topic, n)
			default:
				g.stage(t.Topic, po)
			}
		}
	}
	b.kcommits = append(b.kcommits, r)
}

func (g *group) stage(topic string, po PartitionOffset) {
	if g.staged == nil {
		g.staged = map[string]map[uint32]uint64{}
	}
	if g.staged[topic] == nil {
		g.staged[topic] = map[uint32]uint64{}
	}
	g.staged[topic][po.Partition] = po.Offset
}

// answerKafka sends the state machine's ready answers and the batch's
// commits (err: the batch's write failed).
func (g *group) answerKafka(b *batchResult, err error) {
	for _, r := range g.kafka.take() {
		switch {
		case r.join != nil:
			r.tok.(chan JoinResult) <- *r.join
		case r.sync != nil:
			r.tok.(chan SyncResult) <- *r.sync
		}
	}
	for _, r := range b.kcommits {
		if err != nil {
			for _, errs := range r.errs {
				for j, e := range errs {
					if e == nil {
						errs[j] = err
					}
				}
			}
		}
		r.reply <- r.errs
	}
}

// armTimer sets the group's one timer to the state machine's next
// deadline.
func (g *group) armTimer(now time.Time) {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if at, ok := g.kafka.nextDeadline(); ok {
		g.timer = g.c.cfg.Clock.NewTimer(max(at.Sub(now), 0))
	}
}

// allOffsets copies the committed offsets of every topic.
func (g *group) allOffsets() offsetsResult {
	if g.broken != nil {
		return offsetsResult{err: g.broken}
	}
	out := make(map[string][]PartitionOffset, len(g.cur.offsets))
	for t, ps := range g.cur.offsets {
		if len(ps) > 0 {
			out[t] = sortedOffsets(ps)
		}
	}
	return offsetsResult{offsets: out}
}
