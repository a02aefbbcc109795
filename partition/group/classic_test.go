package group

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// The classic state machine is driven with explicit times: no clock, no
// sleeps. t0 is its epoch; tokens are strings naming the request.

var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	testSession   = 10 * time.Second
	testRebalance = 30 * time.Second
)

func newTestClassic() *classic {
	return newClassic(ClassicConfig{MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute, InitialRebalanceDelay: -1}, 0)
}

// joinReq is a consumer's JoinGroup with one or more protocols.
func kjoin(id string, protocols ...string) JoinRequest {
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	r := JoinRequest{MemberID: id, ClientID: "c", ProtocolType: "consumer", SessionTimeout: testSession, RebalanceTimeout: testRebalance}
	for _, p := range protocols {
		r.Protocols = append(r.Protocols, Protocol{Name: p, Metadata: []byte("meta-" + p)})
	}
	return r
}

// answers takes the ready answers by token, failing on a token answered
// twice.
func answers(t *testing.T, c *classic) map[any]classicReply {
	t.Helper()
	out := map[any]classicReply{}
	for _, r := range c.take() {
		if _, dup := out[r.tok]; dup {
			t.Fatalf("token %v answered twice", r.tok)
		}
		out[r.tok] = r
	}
	return out
}

// joinAll joins new members ids at now (IDs given, no KIP-394 round) and
// returns their answers once the rebalance completes.
func joinAll(t *testing.T, c *classic, now time.Time, ids ...string) map[string]JoinResult {
	t.Helper()
	for _, id := range ids {
		r := kjoin("", "range")
		r.newID = id
		c.join(now, r, "join-"+id)
	}
	got := answers(t, c)
	out := map[string]JoinResult{}
	for _, id := range ids {
		a, ok := got["join-"+id]
		if !ok || a.join == nil {
			t.Fatalf("join of %s not answered: %v", id, got)
		}
		out[id] = *a.join
	}
	return out
}

func TestClassicJoinSyncThreeMembers(t *testing.T) {
	c := newTestClassic()
	// Each join before the last keeps the join phase open for the members
	// already in: the first join completes at once, the next ones rebalance.
	c.join(t0, withID(kjoin("", "range"), "a"), "join-a")
	if a := answers(t, c)["join-a"]; a.join == nil || a.join.Err != nil || a.join.Generation != 1 || a.join.Leader != "a" {
		t.Fatalf("first join: %+v", a.join)
	}
	// b joins: a must rejoin; the phase waits for it.
	c.join(at(time.Second), withID(kjoin("", "range"), "b"), "join-b")
	c.join(at(time.Second), withID(kjoin("", "range"), "c"), "join-c")
	if got := answers(t, c); len(got) != 0 {
		t.Fatalf("answered before a rejoined: %v", got)
	}
	if c.state != StatePreparingRebalance {
		t.Fatalf("state %s", c.state)
	}
	if err := c.heartbeat(at(2*time.Second), "a", 1); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat during rebalance = %v, want ErrRebalanceInProgress", err)
	}
	c.join(at(2*time.Second), kjoin("a", "range"), "rejoin-a")
	got := answers(t, c)
	if len(got) != 3 {
		t.Fatalf("answers %v", got)
	}
	for tok, r := range got {
		j := r.join
		if j.Err != nil || j.Generation != 2 || j.Leader != "a" || j.Protocol != "range" || j.ProtocolType != "consumer" {
			t.Errorf("%v: %+v", tok, j)
		}
		if (j.MemberID == "a") != (len(j.Members) == 3) {
			t.Errorf("%v: leader gets members, others none: %+v", tok, j)
		}
	}
	wantMembers := []JoinMember{{"a", []byte("meta-range")}, {"b", []byte("meta-range")}, {"c", []byte("meta-range")}}
	if lm := got["rejoin-a"].join.Members; !reflect.DeepEqual(lm, wantMembers) {
		t.Errorf("leader's members %q, want %q", lm, wantMembers)
	}

	// Followers' syncs wait for the leader's.
	c.sync(at(3*time.Second), SyncRequest{MemberID: "b", Generation: 2}, "sync-b")
	if got := answers(t, c); len(got) != 0 {
		t.Fatalf("follower answered before the leader synced: %v", got)
	}
	if err := c.heartbeat(at(3*time.Second), "b", 2); err != nil {
		t.Fatalf("heartbeat while completing: %v", err)
	}
	assign := map[string][]byte{"a": []byte("A"), "b": []byte("B"), "c": []byte("C")}
	c.sync(at(3*time.Second), SyncRequest{MemberID: "a", Generation: 2, Assignments: assign}, "sync-a")
	c.sync(at(4*time.Second), SyncRequest{MemberID: "c", Generation: 2}, "sync-c")
	got = answers(t, c)
	for _, id := range []string{"a", "b", "c"} {
		s := got["sync-"+id].sync
		if s == nil || s.Err != nil || string(s.Assignment) != string(assign[id]) {
			t.Errorf("sync of %s: %+v", id, s)
		}
	}
	if c.state != StateStable {
		t.Fatalf("state %s, want Stable", c.state)
	}
	// A stable member's rejoin with nothing new is answered at once, with
	// no new generation.
	c.join(at(5*time.Second), kjoin("b", "range"), "again-b")
	if a := answers(t, c)["again-b"].join; a == nil || a.Generation != 2 || len(a.Members) != 0 {
		t.Errorf("unchanged rejoin: %+v", a)
	}
	// New metadata (the member wants other topics) rebalances.
	changed := kjoin("b")
	changed.Protocols[0].Metadata = []byte("new topics")
	c.join(at(5*time.Second), changed, "changed-b")
	if got := answers(t, c); len(got) != 0 || c.state != StatePreparingRebalance {
		t.Errorf("changed rejoin: answers %v, state %s", got, c.state)
	}
}

func withID(r JoinRequest, id string) JoinRequest {
	r.newID = id
	return r
}

// stable makes a stable group of ids (generation 1) at t0.
func stable(t *testing.T, ids ...string) *classic {
	t.Helper()
	c := newTestClassic()
	c.cfg.InitialRebalanceDelay = time.Second // all join in one generation
	for _, id := range ids {
		c.join(t0, withID(kjoin(""), id), "join-"+id)
	}
	c.tick(at(time.Second))
	got := answers(t, c)
	if len(got) != len(ids) || c.generation != 1 {
		t.Fatalf("join: %v, generation %d", got, c.generation)
	}
	c.sync(at(time.Second), SyncRequest{MemberID: ids[0], Generation: 1, Assignments: map[string][]byte{}}, "sync")
	answers(t, c)
	if c.state != StateStable || c.leader != ids[0] {
		t.Fatalf("state %s leader %s", c.state, c.leader)
	}
	return c
}

func TestClassicSessionTimeout(t *testing.T) {
	c := stable(t, "a", "b", "c")
	// a and c heartbeat; b stops. Its session (10 s from its last sync at
	// 1 s) lapses at 11 s.
	for s := 2; s <= 10; s += 2 {
		now := at(time.Duration(s) * time.Second)
		for _, id := range []string{"a", "c"} {
			if err := c.heartbeat(now, id, 1); err != nil {
				t.Fatalf("%s at %ds: %v", id, s, err)
			}
		}
	}
	if d, _ := c.nextDeadline(); !d.Equal(at(11 * time.Second)) {
		t.Fatalf("next deadline %v, want t0+11s", d.Sub(t0))
	}
	c.tick(at(10*time.Second + 999*time.Millisecond))
	if c.members["b"] == nil {
		t.Fatal("b removed before its session lapsed")
	}
	c.tick(at(11 * time.Second))
	if c.members["b"] != nil || c.state != StatePreparingRebalance {
		t.Fatalf("b not removed at its session's end: state %s", c.state)
	}
	if err := c.heartbeat(at(11*time.Second), "a", 1); !errors.Is(err, ErrRebalanceInProgress) {
		t.Fatalf("heartbeat = %v", err)
	}
	if err := c.heartbeat(at(11*time.Second), "b", 1); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("removed member's heartbeat = %v", err)
	}
	c.join(at(12*time.Second), kjoin("a"), "ja")
	c.join(at(12*time.Second), kjoin("c"), "jc")
	got := answers(t, c)
	if len(got) != 2 || got["ja"].join.Generation != 2 || got["ja"].join.Leader != "a" || len(got["ja"].join.Members) != 2 {
		t.Fatalf("rebalance without b: %+v", got)
	}
}

func TestClassicRebalanceTimeoutDropsMissingMember(t *testing.T) {
	c := stable(t, "a", "b", "c")
	// d joins at 2 s; a and d join, b keeps heartbeating but never rejoins,
	// c rejoins late. The phase ends at 2 s + the rebalance timeout.
	c.join(at(2*time.Second), withID(kjoin(""), "d"), "jd")
	c.join(at(3*time.Second), kjoin("a"), "ja")
	c.join(at(4*time.Second), kjoin("c"), "jc")
	for s := 4; s < 32; s += 3 {
		if err := c.heartbeat(at(time.Duration(s)*time.Second), "b", 1); !errors.Is(err, ErrRebalanceInProgress) {
			t.Fatalf("b's heartbeat at %ds = %v", s, err)
		}
	}
	if got := answers(t, c); len(got) != 0 {
		t.Fatalf("answered while b is awaited: %v", got)
	}
	if d, _ := c.nextDeadline(); !d.Equal(at(32 * time.Second)) {
		t.Fatalf("deadline t0+%v, want t0+32s", d.Sub(t0))
	}
	c.tick(at(32 * time.Second))
	got := answers(t, c)
	if len(got) != 3 {
		t.Fatalf("answers %v", got)
	}
	for _, tok := range []string{"ja", "jc", "jd"} {
		if j := got[tok].join; j.Err != nil || j.Generation != 2 || j.Leader != "a" {
			t.Errorf("%s: %+v", tok, j)
		}
	}
	if c.members["b"] != nil {
		t.Error("b, which did not rejoin, is still a member")
	}
	if err := c.heartbeat(at(33*time.Second), "b", 1); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("b's heartbeat = %v, want ErrUnknownMember", err)
	}
}

func TestClassicLeaderLeavesNewLeader(t *testing.T) {
	c := stable(t, "a", "b", "c")
	errs := c.leave(at(2*time.Second), []string{"a", "nobody"})
	if errs[0] != nil || !errors.Is(errs[1], ErrUnknownMember) {
		t.Fatalf("leave errors %v", errs)
	}
	c.join(at(3*time.Second), kjoin("b"), "jb")
	c.join(at(3*time.Second), kjoin("c"), "jc")
	got := answers(t, c)
	if j := got["jb"].join; j == nil || j.Leader != "b" || j.Generation != 2 || len(j.Members) != 2 {
		t.Fatalf("after the leader left: %+v", got)
	}
	// The last members leave: the group is empty, in a new generation.
	c.leave(at(4*time.Second), []string{"b", "c"})
	if c.state != StateEmpty || c.hasMembers() || c.generation != 3 {
		t.Fatalf("state %s, generation %d", c.state, c.generation)
	}
}

func TestClassicCommitChecks(t *testing.T) {
	c := stable(t, "a", "b")
	tests := []struct {
		name    string
		member  string
		gen     int64
		wantErr error
	}{
		{"current member and generation", "a", 1, nil},
		{"stale generation", "a", 0, ErrStaleGeneration},
		{"future generation", "b", 2, ErrStaleGeneration},
		{"unknown member", "zed", 1, ErrUnknownMember},
		{"no generation while the group has members", "", -1, ErrUnknownMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.checkCommit(at(time.Second), tt.member, tt.gen); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("checkCommit = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// After a rebalance the old generation is refused.
	c.join(at(2*time.Second), withID(kjoin(""), "c"), "jc")
	c.join(at(2*time.Second), kjoin("a"), "ja")
	c.join(at(2*time.Second), kjoin("b"), "jb")
	answers(t, c)
	if err := c.checkCommit(at(2*time.Second), "a", 1); !errors.Is(err, ErrStaleGeneration) {
		t.Errorf("commit of generation 1 in generation %d = %v", c.generation, err)
	}
	if err := c.checkCommit(at(2*time.Second), "a", 2); !errors.Is(err, ErrRebalanceInProgress) {
		t.Errorf("commit before the sync = %v, want ErrRebalanceInProgress", err)
	}
	// A group without members takes commits outside any generation.
	e := newTestClassic()
	if err := e.checkCommit(t0, "", -1); err != nil {
		t.Errorf("simple commit = %v", err)
	}
}

func TestClassicMemberIDRequired(t *testing.T) {
	c := newTestClassic()
	r := kjoin("")
	r.RequireKnownID, r.newID = true, "given"
	c.join(t0, r, "first")
	a := answers(t, c)["first"].join
	if a == nil || !errors.Is(a.Err, ErrMemberIDRequired) || a.MemberID != "given" || c.state != StateEmpty || !c.hasMembers() {
		t.Fatalf("first join: %+v, state %s", a, c.state)
	}
	// Not used within the session timeout: the ID lapses.
	c.tick(at(testSession))
	if c.hasMembers() {
		t.Fatal("handed-out ID did not lapse")
	}
	c.join(at(testSession), kjoin("given"), "late")
	if a := answers(t, c)["late"].join; a == nil || !errors.Is(a.Err, ErrUnknownMember) {
		t.Fatalf("join with a lapsed ID: %+v", a)
	}
	// Used in time: the member joins with it.
	r.newID = "given2"
	c.join(at(11*time.Second), r, "first2")
	answers(t, c)
	c.join(at(12*time.Second), kjoin("given2"), "second")
	if a := answers(t, c)["second"].join; a == nil || a.Err != nil || a.MemberID != "given2" || a.Leader != "given2" {
		t.Fatalf("join with the given ID: %+v", a)
	}
}

func TestClassicProtocols(t *testing.T) {
	tests := []struct {
		name    string
		members [][]string // each member's protocols, in preference order
		want    string
		wantErr int // index of the member refused, -1 for none
	}{
		{"one protocol", [][]string{{"range"}, {"range"}}, "range", -1},
		{"majority preference", [][]string{{"sticky", "range"}, {"range", "sticky"}, {"range", "sticky"}}, "range", -1},
		{"only common one", [][]string{{"cooperative-sticky", "range"}, {"range"}}, "range", -1},
		{"nothing in common", [][]string{{"range"}, {"roundrobin"}}, "range", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClassic()
			c.cfg.InitialRebalanceDelay = time.Second
			for i, ps := range tt.members {
				id := fmt.Sprint("m", i)
				c.join(t0, withID(kjoin("", ps...), id), id)
			}
			c.tick(at(time.Second))
			got := answers(t, c)
			for i := range tt.members {
				j := got[fmt.Sprint("m", i)].join
				if i == tt.wantErr {
					if !errors.Is(j.Err, ErrInconsistentProtocol) {
						t.Errorf("member %d: %v, want ErrInconsistentProtocol", i, j.Err)
					}
					continue
				}
				if j.Err != nil || j.Protocol != tt.want {
					t.Errorf("member %d: protocol %q err %v, want %q", i, j.Protocol, j.Err, tt.want)
				}
			}
		})
	}
}

func TestClassicRefusals(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*JoinRequest)
		wantErr error
	}{
		{"static membership", func(r *JoinRequest) { r.InstanceID = "i-1" }, ErrStaticMembership},
		{"session too short", func(r *JoinRequest) { r.SessionTimeout = time.Millisecond }, ErrInvalidSessionTimeout},
		{"session too long", func(r *JoinRequest) { r.SessionTimeout = time.Hour }, ErrInvalidSessionTimeout},
		{"no protocol type", func(r *JoinRequest) { r.ProtocolType = "" }, ErrInconsistentProtocol},
		{"no protocols", func(r *JoinRequest) { r.Protocols = nil }, ErrInconsistentProtocol},
		{"unknown member", func(r *JoinRequest) { r.MemberID = "ghost" }, ErrUnknownMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClassic()
			r := withID(kjoin(""), "x")
			tt.edit(&r)
			c.join(t0, r, "j")
			if a := answers(t, c)["j"].join; a == nil || !errors.Is(a.Err, tt.wantErr) {
				t.Fatalf("join: %+v, want %v", a, tt.wantErr)
			}
			if c.hasMembers() {
				t.Error("a refused join made a member")
			}
		})
	}
}

func TestClassicLeaderSyncMissing(t *testing.T) {
	c := newTestClassic()
	c.cfg.InitialRebalanceDelay = time.Second
	c.join(t0, withID(kjoin(""), "a"), "ja")
	c.join(t0, withID(kjoin(""), "b"), "jb")
	c.tick(at(time.Second))
	answers(t, c)
	// b syncs; the leader a never does, yet heartbeats. At the sync
	// deadline (the rebalance timeout after the join phase ended), a is
	// removed and b is told to rejoin.
	c.sync(at(2*time.Second), SyncRequest{MemberID: "b", Generation: 1}, "sb")
	for s := 3; s < 31; s += 3 {
		if err := c.heartbeat(at(time.Duration(s)*time.Second), "a", 1); err != nil {
			t.Fatal(err)
		}
	}
	c.tick(at(31 * time.Second))
	s := answers(t, c)["sb"].sync
	if s == nil || !errors.Is(s.Err, ErrRebalanceInProgress) || c.members["a"] != nil {
		t.Fatalf("sync of b: %+v; a still a member: %v", s, c.members["a"] != nil)
	}
}
