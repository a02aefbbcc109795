package group

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/logbroker/logbroker/actor"
)

// Assignment is what one member owns in one generation.
type Assignment struct {
	MemberID   string
	Generation uint64
	Partitions []uint32 // ascending; may be empty (more members than partitions)
}

// Member is one member's handle: it holds the latest assignment the actor
// published and the wake-up that announces the next. Safe for concurrent use.
//
// The actor writes latest and signals; it never waits for the member to read.
// Assignments coalesce: a member that reads late sees only the newest, which
// is all it needs.
type Member struct {
	id     string
	g      *group
	latest atomic.Pointer[Assignment]
	sig    *actor.Signal
	// ended is closed by the actor when it ends the membership itself
	// (replaced, or the coordinator closing); endErr says why and is written
	// before the close.
	ended  chan struct{}
	endErr error
	leave  sync.Once
}

func newMember(id string, g *group) *Member {
	return &Member{id: id, g: g, sig: actor.NewSignal(), ended: make(chan struct{})}
}

// ID is the member's ID (the broker-given one if the join named none).
func (m *Member) ID() string { return m.id }

// Assignment is the newest assignment; after Join it is never the zero value.
func (m *Member) Assignment() Assignment {
	if a := m.latest.Load(); a != nil {
		return *a
	}
	return Assignment{} // not assigned yet: never after a successful Join
}

// Changed receives after one or more new assignments since the last receive.
func (m *Member) Changed() <-chan struct{} { return m.sig.C() }

// Done is closed when the coordinator ends the membership (replaced by a
// newer join with the same ID, or closing); Err says why.
func (m *Member) Done() <-chan struct{} { return m.ended }

// Err is why Done closed; nil before.
func (m *Member) Err() error {
	select {
	case <-m.ended:
		return m.endErr
	default:
		return nil
	}
}

// Leave removes the member from its group and waits until the group has
// rebalanced (and persisted its new generation). It is idempotent, and a no-op
// once the coordinator ended the membership or stopped.
func (m *Member) Leave() {
	m.leave.Do(func() {
		req := leaveReq{m: m, reply: make(chan struct{}, 1)}
		_, _ = actor.Ask(context.Background(), m.g.loop, m.g.reqc, request(req), req.reply)
	})
}

// publish is called by the actor only.
func (m *Member) publish(a *Assignment) {
	m.latest.Store(a)
	m.sig.Notify()
}

// end is called by the actor only, once per member.
func (m *Member) end(err error) {
	m.endErr = err
	close(m.ended)
}
