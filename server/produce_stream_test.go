package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/logbroker/logbroker/pb"
)

// stuckStream opens a ProduceStream whose first request's append blocks,
// ignoring its context, until release is closed; it returns once the
// append has begun.
func stuckStream(t *testing.T, h *harness) (pb.BrokerService_ProduceStreamClient, chan struct{}) {
	h.createTopic(t, "t", 1)
	p := h.partition(t, "t", 0)
	entered, release := make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	p.onAppend = func() { close(entered); <-release }
	p.mu.Unlock()
	ps, err := h.client.ProduceStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&pb.ProduceRequest{Topic: "t", Records: values("a")}); err != nil {
		t.Fatal(err)
	}
	<-entered
	return ps, release
}

// TestProduceStreamStopAnswersTakenRequest: a ProduceStream request taken
// before Stop began is stored and answered, even when its append outlasts
// the grace Stop gives open streams; then the stream ends with UNAVAILABLE.
func TestProduceStreamStopAnswersTakenRequest(t *testing.T) {
	h := newHarness(t)
	ps, release := stuckStream(t, h)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		stopped <- h.srv.Stop(ctx)
	}()
	// Longer than streamGrace: before the fix, Stop closed the connection
	// under the append.
	time.AfterFunc(streamGrace+500*time.Millisecond, func() { close(release) })
	resp, err := ps.Recv()
	if err != nil {
		t.Fatalf("the taken request was not answered: %v", err)
	}
	if resp.GetBaseOffset() != 0 || resp.GetLastOffset() != 0 {
		t.Errorf("answer [%d, %d], want [0, 0]", resp.GetBaseOffset(), resp.GetLastOffset())
	}
	_, err = ps.Recv()
	wantCode(t, err, codes.Unavailable, "")
	if err := <-stopped; err != nil {
		t.Errorf("Stop = %v", err)
	}
}

// TestStopDeadlineProduceStream: a ProduceStream append stuck in storage
// does not hold Stop past its deadline, also when the deadline is past the
// grace Stop gives open streams.
func TestStopDeadlineProduceStream(t *testing.T) {
	h := newHarness(t)
	_, release := stuckStream(t, h)
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), streamGrace+500*time.Millisecond)
		defer cancel()
		stopped <- h.srv.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v, want the context's error", err)
		}
		close(release)
	case <-time.After(waitTimeout):
		t.Errorf("Stop still waits for the stuck append %v after its deadline", waitTimeout)
		close(release)
		<-stopped
	}
}
