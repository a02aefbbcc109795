package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/logbroker/logbroker/pb"
)

// stuckAppend makes the partition's next append block, ignoring its
// context, until release; entered is closed once the append has begun.
func stuckAppend(t *testing.T, h *harness) (entered, release chan struct{}) {
	p := h.partition(t, "t", 0)
	entered, release = make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	p.onAppend = func() { close(entered); <-release }
	p.mu.Unlock()
	return entered, release
}

// TestProduceStreamStopAnswersTakenRequest: a ProduceStream request taken
// before Stop began is stored and answered, even when its append outlasts
// the grace Stop gives open streams; then the stream ends with UNAVAILABLE.
func TestProduceStreamStopAnswersTakenRequest(t *testing.T) {
	h := newHarness(t)
	h.createTopic(t, "t", 1)
	entered, release := stuckAppend(t, h)
	ps, err := h.client.ProduceStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&pb.ProduceRequest{Topic: "t", Records: values("a")}); err != nil {
		t.Fatal(err)
	}
	<-entered
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
	h.createTopic(t, "t", 1)
	entered, release := stuckAppend(t, h)
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	ps, err := h.client.ProduceStream(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ps.Send(&pb.ProduceRequest{Topic: "t", Records: values("a")}); err != nil {
		t.Fatal(err)
	}
	<-entered
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
	case <-time.After(waitTimeout):
		t.Errorf("Stop still waits for the stuck append %v after its deadline", waitTimeout)
		close(release)
		released = true
		<-stopped
	}
}
