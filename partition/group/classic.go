package group

import (
	"fmt"
	"slices"
	"time"
)

// classic is one group's membership under Kafka's classic group protocol
// (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), as a plain state machine:
// requests and the time come in, answers go out. Clients assign partitions
// themselves; the machine elects a leader, relays every member's protocol
// metadata to it in the JoinGroup answer and its assignments to every
// member in the SyncGroup answer, as opaque bytes, picks the protocol all
// members support, bumps generations, and removes members whose session
// times out or who miss a rebalance.
//
// The states are Kafka's:
//
//	Empty ──join──▶ PreparingRebalance ──all joined, or rebalance timeout──▶
//	CompletingRebalance ──leader's SyncGroup──▶ Stable
//
// and any join of a new member, leave, protocol change, a leader's
// rejoin or an expired session sends the group back to PreparingRebalance
// (Empty when no member is left).
//
// A request that must wait (a JoinGroup until the rebalance completes, a
// SyncGroup until the leader's arrives) leaves its caller's token with the
// member; the answer comes out of take, with the token, when it is ready.
//
// classic is not safe for concurrent use: its single owner is the group's
// actor goroutine. It starts no goroutine, uses no channel and reads no
// clock: every call takes the time, and nextDeadline says when the owner
// must call tick.
type classic struct {
	cfg ClassicConfig

	state        string
	generation   uint64 // shared with the gRPC membership; the owner keeps it in step
	protocolType string // the members'; kept when the group empties, as Kafka does
	protocol     string // chosen for the current generation
	leader       string
	members      map[string]*cmember
	order        []string             // member IDs in join order: the first is the next leader
	pending      map[string]time.Time // IDs given with MEMBER_ID_REQUIRED -> when they lapse
	deadline     time.Time            // PreparingRebalance: when the join phase ends regardless
	delayed      bool                 // the deadline is the initial delay: do not end early
	syncDeadline time.Time            // CompletingRebalance: members not synced by then are removed

	out []classicReply // answers ready for take
}

// ClassicConfig bounds the classic protocol's timeouts, as Kafka's broker
// settings of the same names do.
type ClassicConfig struct {
	// MinSessionTimeout and MaxSessionTimeout bound what a member may ask
	// for (group.min/max.session.timeout.ms); outside them its JoinGroup
	// gets INVALID_SESSION_TIMEOUT. Defaults 6 s and 30 min.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group
	// this long (at most the rebalance timeout) so that members starting
	// together join one generation (group.initial.rebalance.delay.ms).
	// Default 3 s; negative means none.
	InitialRebalanceDelay time.Duration
}

// Defaults of ClassicConfig, Kafka's.
const (
	DefaultMinSessionTimeout     = 6 * time.Second
	DefaultMaxSessionTimeout     = 30 * time.Minute
	DefaultInitialRebalanceDelay = 3 * time.Second
)

func (c ClassicConfig) withDefaults() ClassicConfig {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = DefaultMinSessionTimeout
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = DefaultMaxSessionTimeout
	}
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = DefaultInitialRebalanceDelay
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	return c
}

// The classic protocol's states, named as Kafka's DescribeGroups names them.
const (
	StateEmpty               = "Empty"
	StatePreparingRebalance  = "PreparingRebalance"
	StateCompletingRebalance = "CompletingRebalance"
	StateStable              = "Stable"
	StateDead                = "Dead" // a group that does not exist
)

// Protocol is one assignment protocol a member supports, with its opaque
// metadata (for "consumer" groups: the topics it wants and its
// ownership).
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup.
type JoinRequest struct {
	MemberID   string // empty: a new member
	InstanceID string // static membership; refused
	ClientID   string
	ClientHost string
	// ProtocolType is "consumer" for consumers; every member's must match.
	ProtocolType string
	Protocols    []Protocol // in the member's order of preference
	// SessionTimeout: a member not heard from this long is removed.
	SessionTimeout time.Duration
	// RebalanceTimeout: how long the group waits for the member to rejoin
	// when it rebalances.
	RebalanceTimeout time.Duration
	// RequireKnownID (JoinGroup v4+): a new member first gets an ID with
	// ErrMemberIDRequired and joins again with it (KIP-394).
	RequireKnownID bool

	newID string // the ID a new member gets; made by the caller
}

// JoinResult answers a JoinGroup. Err is one of the package's sentinels
// (wrapped); MemberID is set with ErrMemberIDRequired too.
type JoinResult struct {
	Err          error
	MemberID     string
	Generation   uint64
	ProtocolType string
	Protocol     string
	Leader       string
	Members      []JoinMember // the leader's answer only: every member, its metadata for Protocol
}

// JoinMember is one member as the leader sees it.
type JoinMember struct {
	ID       string
	Metadata []byte
}

// SyncRequest is a SyncGroup; only the leader's carries assignments.
type SyncRequest struct {
	MemberID     string
	Generation   uint64
	ProtocolType string // checked when non-empty (SyncGroup v5)
	Protocol     string // checked when non-empty (SyncGroup v5)
	Assignments  map[string][]byte
}

// SyncResult answers a SyncGroup: the member's assignment.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// cmember is one member of a classic group.
type cmember struct {
	id, clientID, clientHost string
	protocols                []Protocol
	session, rebalance       time.Duration
	expires                  time.Time // removed at this time unless heard from, or waiting
	joinTok, syncTok         any       // the callers' tokens of a waiting JoinGroup / SyncGroup
	synced                   bool      // sent SyncGroup in this generation
	assignment               []byte
}

// classicReply is an answer ready for its caller: the token it left and
// a *JoinResult or a *SyncResult.
type classicReply struct {
	tok  any
	join *JoinResult
	sync *SyncResult
}

func newClassic(cfg ClassicConfig, generation uint64) *classic {
	return &classic{
		cfg:        cfg.withDefaults(),
		state:      StateEmpty,
		generation: generation,
		members:    map[string]*cmember{},
		pending:    map[string]time.Time{},
	}
}

// hasMembers reports whether the classic protocol holds the group: a
// member, or a new member's ID handed out and not yet lapsed.
func (c *classic) hasMembers() bool { return len(c.members) > 0 || len(c.pending) > 0 }

// take hands out the answers made ready since the last take.
func (c *classic) take() []classicReply {
	out := c.out
	c.out = nil
	return out
}

func (c *classic) answerJoin(tok any, r JoinResult) {
	c.out = append(c.out, classicReply{tok: tok, join: &r})
}

func (c *classic) answerSync(tok any, r SyncResult) {
	c.out = append(c.out, classicReply{tok: tok, sync: &r})
}

// join handles a JoinGroup. Its answer comes out of take, now or once the
// rebalance completes.
func (c *classic) join(now time.Time, r JoinRequest, tok any) {
	fail := func(err error) { c.answerJoin(tok, JoinResult{Err: err, MemberID: r.MemberID}) }
	switch {
	case r.InstanceID != "":
		fail(fmt.Errorf("%w: group.instance.id %q", ErrStaticMembership, r.InstanceID))
		return
	case r.SessionTimeout < c.cfg.MinSessionTimeout || r.SessionTimeout > c.cfg.MaxSessionTimeout:
		fail(fmt.Errorf("%w: %v, served %v to %v", ErrInvalidSessionTimeout, r.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout))
		return
	case r.ProtocolType == "" || len(r.Protocols) == 0:
		fail(fmt.Errorf("%w: empty protocol type or no protocols", ErrInconsistentProtocol))
		return
	}
	if r.RebalanceTimeout <= 0 {
		r.RebalanceTimeout = r.SessionTimeout // JoinGroup v0 has none
	}
	m := c.members[r.MemberID]
	if r.MemberID == "" {
		if !c.compatible(r, "") {
			fail(fmt.Errorf("%w: protocol type %q or protocols %v not those of the members", ErrInconsistentProtocol, r.ProtocolType, protocolNames(r.Protocols)))
			return
		}
		if r.RequireKnownID {
			c.pending[r.newID] = now.Add(r.SessionTimeout)
			c.answerJoin(tok, JoinResult{Err: ErrMemberIDRequired, MemberID: r.newID})
			return
		}
		c.add(now, r, r.newID, tok)
		return
	}
	if m == nil {
		if _, ok := c.pending[r.MemberID]; !ok {
			fail(fmt.Errorf("%w: %q", ErrUnknownMember, r.MemberID))
			return
		}
		if !c.compatible(r, "") {
			fail(fmt.Errorf("%w: protocol type %q or protocols %v not those of the members", ErrInconsistentProtocol, r.ProtocolType, protocolNames(r.Protocols)))
			return
		}
		delete(c.pending, r.MemberID)
		c.add(now, r, r.MemberID, tok)
		return
	}
	if !c.compatible(r, m.id) {
		fail(fmt.Errorf("%w: protocol type %q or protocols %v not those of the other members", ErrInconsistentProtocol, r.ProtocolType, protocolNames(r.Protocols)))
		return
	}
	changed := !sameProtocols(m.protocols, r.Protocols)
	m.update(now, r)
	switch c.state {
	case StatePreparingRebalance:
		if m.joinTok != nil { // a retried join: the newer one waits
			c.answerJoin(m.joinTok, JoinResult{Err: fmt.Errorf("%w: member %q joined again", ErrRebalanceInProgress, m.id), MemberID: m.id})
		}
		m.joinTok = tok
		c.maybeCompleteJoin(now)
	case StateCompletingRebalance, StateStable:
		if changed || (c.state == StateStable && m.id == c.leader) {
			m.joinTok = tok
			c.prepareRebalance(now)
			return
		}
		// Nothing new: the member lost our answer; give it again.
		c.answerJoin(tok, c.joinResult(m))
	}
}

// add makes a new member that waits in the join phase.
func (c *classic) add(now time.Time, r JoinRequest, id string, tok any) {
	m := &cmember{id: id}
	m.update(now, r)
	m.joinTok = tok
	c.members[id] = m
	c.order = append(c.order, id)
	if len(c.members) == 1 {
		c.protocolType = r.ProtocolType
	}
	if c.state == StatePreparingRebalance {
		c.maybeCompleteJoin(now)
		return
	}
	c.prepareRebalance(now)
}

func (m *cmember) update(now time.Time, r JoinRequest) {
	m.clientID, m.clientHost = r.ClientID, r.ClientHost
	m.protocols = r.Protocols
	m.session, m.rebalance = r.SessionTimeout, r.RebalanceTimeout
	m.expires = now.Add(m.session)
}

// compatible: r's protocol type is the members' and one protocol is
// supported by r and every member but except.
func (c *classic) compatible(r JoinRequest, except string) bool {
	others := 0
	for id := range c.members {
		if id != except {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if r.ProtocolType != c.protocolType {
		return false
	}
	for _, p := range r.Protocols {
		if c.supportedByAll(p.Name, except) {
			return true
		}
	}
	return false
}

func (c *classic) supportedByAll(name, except string) bool {
	for id, m := range c.members {
		if id != except && !slices.ContainsFunc(m.protocols, func(p Protocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// prepareRebalance starts a join phase: every member must join again
// within the longest rebalance timeout.
func (c *classic) prepareRebalance(now time.Time) {
	if c.state == StateCompletingRebalance {
		c.failSyncs(now)
	}
	var longest time.Duration
	for _, m := range c.members {
		longest = max(longest, m.rebalance)
	}
	c.delayed = c.state == StateEmpty && c.cfg.InitialRebalanceDelay > 0
	if c.delayed {
		longest = min(longest, c.cfg.InitialRebalanceDelay)
	}
	c.state = StatePreparingRebalance
	c.deadline = now.Add(longest)
	c.maybeCompleteJoin(now)
}

// failSyncs answers every waiting SyncGroup with REBALANCE_IN_PROGRESS.
func (c *classic) failSyncs(now time.Time) {
	for _, id := range c.order {
		m := c.members[id]
		if m.syncTok != nil {
			c.answerSync(m.syncTok, SyncResult{Err: fmt.Errorf("%w: group rebalancing", ErrRebalanceInProgress)})
			m.syncTok = nil
			m.expires = now.Add(m.session)
		}
		m.assignment = nil
	}
}

// maybeCompleteJoin ends the join phase once every member and every
// handed-out ID has joined, unless it waits out the initial delay.
func (c *classic) maybeCompleteJoin(now time.Time) {
	if c.state != StatePreparingRebalance || c.delayed || len(c.pending) > 0 {
		return
	}
	for _, m := range c.members {
		if m.joinTok == nil {
			return
		}
	}
	c.completeJoin(now)
}

// completeJoin ends the join phase: members that did not join are
// removed, and the rest start a new generation.
func (c *classic) completeJoin(now time.Time) {
	for _, id := range slices.Clone(c.order) {
		if c.members[id].joinTok == nil {
			c.remove(id)
		}
	}
	clear(c.pending)
	c.generation++
	c.delayed = false
	if len(c.members) == 0 {
		c.state, c.protocol, c.leader = StateEmpty, "", ""
		return
	}
	c.protocol = c.selectProtocol()
	if c.members[c.leader] == nil {
		c.leader = c.order[0]
	}
	c.state = StateCompletingRebalance
	var longest time.Duration
	for _, id := range c.order {
		m := c.members[id]
		m.synced = false
		m.expires = now.Add(m.session)
		longest = max(longest, m.rebalance)
		c.answerJoin(m.joinTok, c.joinResult(m))
		m.joinTok = nil
	}
	c.syncDeadline = now.Add(longest)
}

// joinResult is m's JoinGroup answer in the current generation.
func (c *classic) joinResult(m *cmember) JoinResult {
	r := JoinResult{MemberID: m.id, Generation: c.generation, ProtocolType: c.protocolType, Protocol: c.protocol, Leader: c.leader}
	if m.id == c.leader {
		for _, id := range c.order {
			r.Members = append(r.Members, JoinMember{ID: id, Metadata: c.members[id].metadata(c.protocol)})
		}
	}
	return r
}

func (m *cmember) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// selectProtocol is the protocol all members support that most members
// prefer (each votes for its first supported one); ties go to the leader
// candidate's preference.
func (c *classic) selectProtocol() string {
	votes := map[string]int{}
	for _, m := range c.members {
		for _, p := range m.protocols {
			if c.supportedByAll(p.Name, "") {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	first := c.members[c.order[0]]
	if l := c.members[c.leader]; l != nil {
		first = l
	}
	for _, p := range first.protocols {
		if v := votes[p.Name]; v > bestVotes {
			best, bestVotes = p.Name, v
		}
	}
	return best
}

// remove drops a member; a waiting JoinGroup or SyncGroup of it is
// answered with UNKNOWN_MEMBER_ID.
func (c *classic) remove(id string) {
	m := c.members[id]
	if m.joinTok != nil {
		c.answerJoin(m.joinTok, JoinResult{Err: fmt.Errorf("%w: %q removed", ErrUnknownMember, id), MemberID: id})
	}
	if m.syncTok != nil {
		c.answerSync(m.syncTok, SyncResult{Err: fmt.Errorf("%w: %q removed", ErrUnknownMember, id)})
	}
	delete(c.members, id)
	c.order = slices.DeleteFunc(c.order, func(s string) bool { return s == id })
}

// removed rebalances after members went away.
func (c *classic) removed(now time.Time) {
	switch c.state {
	case StateStable, StateCompletingRebalance:
		c.prepareRebalance(now)
	case StatePreparingRebalance:
		c.maybeCompleteJoin(now)
	}
}

// member finds a member of generation gen, refreshing its session.
func (c *classic) member(now time.Time, id string, gen uint64) (*cmember, error) {
	m := c.members[id]
	if m == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	if gen != c.generation {
		return nil, fmt.Errorf("%w: generation %d; the group is at generation %d", ErrStaleGeneration, gen, c.generation)
	}
	if m.joinTok == nil && m.syncTok == nil {
		m.expires = now.Add(m.session)
	}
	return m, nil
}

// sync handles a SyncGroup. Its answer comes out of take, now or once
// the leader's has come.
func (c *classic) sync(now time.Time, r SyncRequest, tok any) {
	m, err := c.member(now, r.MemberID, r.Generation)
	if err == nil && ((r.ProtocolType != "" && r.ProtocolType != c.protocolType) || (r.Protocol != "" && r.Protocol != c.protocol)) {
		err = fmt.Errorf("%w: protocol %s/%s, the group's is %s/%s", ErrInconsistentProtocol, r.ProtocolType, r.Protocol, c.protocolType, c.protocol)
	}
	if err == nil && c.state == StatePreparingRebalance {
		err = fmt.Errorf("%w: join again", ErrRebalanceInProgress)
	}
	if err != nil {
		c.answerSync(tok, SyncResult{Err: err})
		return
	}
	if c.state == StateStable {
		c.answerSync(tok, c.syncResult(m))
		return
	}
	// CompletingRebalance.
	if m.syncTok != nil {
		c.answerSync(m.syncTok, SyncResult{Err: fmt.Errorf("%w: member %q synced again", ErrRebalanceInProgress, m.id)})
	}
	m.syncTok, m.synced = tok, true
	if m.id != c.leader {
		return
	}
	for _, id := range c.order {
		c.members[id].assignment = r.Assignments[id]
	}
	c.state = StateStable
	for _, id := range c.order {
		mm := c.members[id]
		if mm.syncTok != nil {
			c.answerSync(mm.syncTok, c.syncResult(mm))
			mm.syncTok = nil
			mm.expires = now.Add(mm.session)
		}
	}
}

func (c *classic) syncResult(m *cmember) SyncResult {
	return SyncResult{ProtocolType: c.protocolType, Protocol: c.protocol, Assignment: m.assignment}
}

// heartbeat handles a Heartbeat: nil while stable, ErrRebalanceInProgress
// when the member must join again.
func (c *classic) heartbeat(now time.Time, id string, gen uint64) error {
	if _, err := c.member(now, id, gen); err != nil {
		return err
	}
	if c.state == StatePreparingRebalance {
		return fmt.Errorf("%w: join again", ErrRebalanceInProgress)
	}
	return nil
}

// leave removes members (LeaveGroup); the error of each ID, in order.
func (c *classic) leave(now time.Time, ids []string) []error {
	errs := make([]error, len(ids))
	left := false
	for i, id := range ids {
		if _, ok := c.pending[id]; ok {
			delete(c.pending, id)
			left = true
			continue
		}
		if c.members[id] == nil {
			errs[i] = fmt.Errorf("%w: %q", ErrUnknownMember, id)
			continue
		}
		c.remove(id)
		left = true
	}
	if left {
		c.removed(now)
	}
	return errs
}

// checkCommit allows an OffsetCommit: from a member of the current
// generation while no assignment is being handed out, or, with generation
// -1 and no member ID, while the group has no member (a consumer that
// assigns itself and only stores offsets here).
func (c *classic) checkCommit(now time.Time, id string, gen int64) error {
	if gen < 0 && id == "" && !c.hasMembers() {
		return nil
	}
	if gen < 0 {
		return fmt.Errorf("%w: %q commits without a generation while the group has members", ErrUnknownMember, id)
	}
	if _, err := c.member(now, id, uint64(gen)); err != nil {
		return err
	}
	if c.state == StateCompletingRebalance {
		return fmt.Errorf("%w: assignment not yet synced", ErrRebalanceInProgress)
	}
	return nil
}

// tick removes members whose session lapsed, handed-out IDs not used in
// time, and, past the deadlines, members that missed the join or sync.
func (c *classic) tick(now time.Time) {
	for id, at := range c.pending {
		if !now.Before(at) {
			delete(c.pending, id)
		}
	}
	gone := false
	for _, id := range slices.Clone(c.order) {
		m := c.members[id]
		late := m.joinTok == nil && m.syncTok == nil && !now.Before(m.expires)
		unsynced := c.state == StateCompletingRebalance && !m.synced && !now.Before(c.syncDeadline)
		if late || unsynced {
			c.remove(id)
			gone = true
		}
	}
	if gone {
		c.removed(now)
	}
	if c.state == StatePreparingRebalance && !now.Before(c.deadline) {
		c.completeJoin(now)
		return
	}
	c.maybeCompleteJoin(now) // a lapsed handed-out ID may have been the last awaited
}

// nextDeadline is when tick must next run; ok is false when nothing is due.
func (c *classic) nextDeadline() (at time.Time, ok bool) {
	earliest := func(t time.Time) {
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	for _, t := range c.pending {
		earliest(t)
	}
	for _, m := range c.members {
		if m.joinTok == nil && m.syncTok == nil {
			earliest(m.expires)
		}
	}
	switch c.state {
	case StatePreparingRebalance:
		earliest(c.deadline)
	case StateCompletingRebalance:
		earliest(c.syncDeadline)
	}
	return at, ok
}

func sameProtocols(a, b []Protocol) bool {
	return slices.EqualFunc(a, b, func(x, y Protocol) bool { return x.Name == y.Name && string(x.Metadata) == string(y.Metadata) })
}

func protocolNames(ps []Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
