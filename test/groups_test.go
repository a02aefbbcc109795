package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logbroker/logbroker/pb"
)

// groupMinAcks is how many commits each group must have acknowledged in a
// cycle before the kill.
const groupMinAcks = 5

// TestGroupCommitsSurviveSIGKILL kills the broker (SIGKILL) at a random
// moment while committers commit increasing offsets for several groups, one
// of them with a live member's generation, restarts it and checks, for
// every group:
//
//   - the committed offset is at least the last acknowledged commit and at
//     most the last one attempted (an acknowledged commit is never lost);
//
//   - every partition holds the same value (a commit of several partitions
//     is all or nothing);
//
//   - a member joining after the restart gets a higher generation than any
//     handed out before it (generations never repeat, so a member fenced
//     before a crash stays fenced).
//
// Every cycle, each group must have groupMinAcks commits acknowledged
// before the kill, and a commit that fails before the kill fails the test:
// a broker that refuses or stalls commits has nothing here to lose, so
// without these the checks above would pass against it.
//
//	short: 10 cycles, kill 50-500 ms in (later if the minimum takes longer)
//	long:  LOGBROKER_LONG=1, 200 cycles
//	knobs: LOGBROKER_GROUP_CRASH_CYCLES
func TestGroupCommitsSurviveSIGKILL(t *testing.T) {
	const (
		topic      = "events"
		partitions = 4
		groups     = 3
	)
	cycles := faultKnob(t, "LOGBROKER_GROUP_CRASH_CYCLES", 10, 200)
	b := StartProcBroker(t, ProcOptions{})
	if _, err := b.Client().CreateTopic(faultCtx(t, time.Minute), &pb.CreateTopicRequest{Name: topic, Partitions: partitions}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	acked := make([]uint64, groups)     // last acknowledged commit per group
	attempted := make([]uint64, groups) // last commit sent per group
	var lastGen uint64
	var commits uint64
	for cycle := 1; cycle <= cycles; cycle++ {
		// Group 0 commits with a member's generation; it must be current.
		mctx, mcancel := context.WithCancel(context.Background())
		stream, err := b.Client().JoinGroup(mctx, &pb.JoinGroupRequest{Group: "g0", Topic: topic, MemberId: "m"})
		if err != nil {
			t.Fatalf("cycle %d: JoinGroup: %v", cycle, err)
		}
		a, err := stream.Recv()
		if err != nil {
			t.Fatalf("cycle %d: first assignment: %v", cycle, err)
		}
		if a.GetGeneration() <= lastGen {
			t.Fatalf("cycle %d: generation %d after a restart, not above %d handed out before", cycle, a.GetGeneration(), lastGen)
		}
		lastGen = a.GetGeneration()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex // guards acked, attempted, commits and cycleAcks
		cycleAcks := make([]int, groups)
		var killed atomic.Bool
		errs := make(chan error, groups) // a commit that failed before the kill
		for g := range groups {
			gen := uint64(0)
			if g == 0 {
				gen = a.GetGeneration()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					mu.Lock()
					attempted[g]++
					v := attempted[g]
					mu.Unlock()
					req := &pb.CommitOffsetsRequest{Group: fmt.Sprintf("g%d", g), Topic: topic, Generation: gen}
					for p := range uint32(partitions) {
						req.Offsets = append(req.Offsets, &pb.PartitionOffset{Partition: p, Offset: v})
					}
					if _, err := b.Client().CommitOffsets(ctx, req); err != nil {
						if !killed.Load() {
							errs <- fmt.Errorf("g%d: commit %d failed before the kill: %w", g, v, err)
						}
						return // the broker is gone (or refused; reported above)
					}
					mu.Lock()
					acked[g] = v
					commits++
					cycleAcks[g]++
					mu.Unlock()
				}
			}()
		}
		// The kill moment is random, but not before every group has had
		// groupMinAcks commits acknowledged in this cycle.
		killAt := time.Now().Add(time.Duration(50+rng.IntN(451)) * time.Millisecond)
		deadline := time.Now().Add(procWait)
		var failed error
		for failed == nil {
			mu.Lock()
			least := cycleAcks[0]
			for _, n := range cycleAcks {
				least = min(least, n)
			}
			mu.Unlock()
			now := time.Now()
			if least >= groupMinAcks && !now.Before(killAt) {
				break
			}
			if now.After(deadline) {
				mu.Lock()
				failed = fmt.Errorf("acknowledged commits per group after %s: %v, want at least %d each before the kill", procWait, cycleAcks, groupMinAcks)
				mu.Unlock()
				break
			}
			select {
			case failed = <-errs:
			case <-time.After(5 * time.Millisecond):
			}
		}
		killed.Store(true)
		b.Kill()
		cancel()
		wg.Wait()
		mcancel()
		if failed != nil {
			t.Fatalf("cycle %d: %v", cycle, failed)
		}
		select {
		case err := <-errs: // failed between the last check and the kill
			t.Fatalf("cycle %d: %v", cycle, err)
		default:
		}

		b.Start()
		for g := range groups {
			name := fmt.Sprintf("g%d", g)
			resp, err := b.Client().FetchOffsets(faultCtx(t, time.Minute), &pb.FetchOffsetsRequest{Group: name, Topic: topic})
			if err != nil {
				t.Fatalf("cycle %d: FetchOffsets(%s): %v", cycle, name, err)
			}
			if acked[g] == 0 && len(resp.GetOffsets()) == 0 {
				continue
			}
			if len(resp.GetOffsets()) != partitions {
				t.Fatalf("cycle %d: %s has %d committed partitions after SIGKILL, want %d: %v", cycle, name, len(resp.GetOffsets()), partitions, resp.GetOffsets())
			}
			for _, o := range resp.GetOffsets() {
				if o.GetOffset() < acked[g] || o.GetOffset() > attempted[g] {
					t.Fatalf("cycle %d: %s partition %d committed %d after SIGKILL; acknowledged %d, attempted up to %d",
						cycle, name, o.GetPartition(), o.GetOffset(), acked[g], attempted[g])
				}
				if o.GetOffset() != resp.GetOffsets()[0].GetOffset() {
					t.Fatalf("cycle %d: %s holds a torn commit: %v", cycle, name, resp.GetOffsets())
				}
			}
			// The next cycle goes on from what survived.
			acked[g] = resp.GetOffsets()[0].GetOffset()
			attempted[g] = acked[g]
		}
	}
	t.Logf("FIGURE group commits under SIGKILL: %d cycles, %d acknowledged commits, 0 lost", cycles, commits)
}
