package actor

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type echoReq struct {
	v     int
	reply chan int
}

func startEcho(t *testing.T) (*Loop, chan echoReq) {
	t.Helper()
	mbox := make(chan echoReq)
	l := Start(func(stop <-chan struct{}) {
		for {
			select {
			case r := <-mbox:
				r.reply <- r.v * 2
			case <-stop:
				return
			}
		}
	})
	return l, mbox
}

func TestAsk(t *testing.T) {
	l, mbox := startEcho(t)
	defer l.Stop()
	for _, tt := range []struct{ in, want int }{{1, 2}, {0, 0}, {-4, -8}} {
		reply := make(chan int, 1)
		got, err := Ask(context.Background(), l, mbox, echoReq{tt.in, reply}, reply)
		if err != nil || got != tt.want {
			t.Fatalf("Ask(%d) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestAskAfterStop(t *testing.T) {
	l, mbox := startEcho(t)
	l.Stop()
	reply := make(chan int, 1)
	if _, err := Ask(context.Background(), l, mbox, echoReq{1, reply}, reply); !errors.Is(err, ErrStopped) {
		t.Fatalf("Ask after Stop: err = %v, want ErrStopped", err)
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}

func TestAskHonoursContext(t *testing.T) {
	// An actor that never reads its mailbox: Ask must return on ctx.
	mbox := make(chan echoReq)
	l := Start(func(stop <-chan struct{}) { <-stop })
	defer l.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	reply := make(chan int, 1)
	if _, err := Ask(ctx, l, mbox, echoReq{1, reply}, reply); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestAskStopWhileWaiting(t *testing.T) {
	// The actor accepts the request, then stops without answering.
	mbox := make(chan echoReq)
	accepted := make(chan struct{})
	l := Start(func(stop <-chan struct{}) {
		<-mbox
		close(accepted)
		<-stop
	})
	go func() { <-accepted; l.Stop() }()
	reply := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Ask(ctx, l, mbox, echoReq{1, reply}, reply); !errors.Is(err, ErrStopped) {
		t.Fatalf("err = %v, want ErrStopped", err)
	}
}

func TestSignalCoalescesAndNeverBlocks(t *testing.T) {
	s := NewSignal()
	for i := 0; i < 1000; i++ {
		s.Notify() // must not block with nobody receiving
	}
	<-s.C()
	select {
	case <-s.C():
		t.Fatal("1000 notifies delivered more than one wake-up")
	default:
	}
	s.Notify()
	<-s.C()
}

// TestSendWithCancelledContext: a caller that already gave up queues nothing,
// even when the mailbox has room (select alone would pick at random).
func TestSendWithCancelledContext(t *testing.T) {
	mbox := make(chan int, 1000)
	l := Start(func(stop <-chan struct{}) { <-stop })
	defer l.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 1000 {
		if err := Send(ctx, l, mbox, i); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send %d with a cancelled context = %v, want context.Canceled", i, err)
		}
	}
	if n := len(mbox); n != 0 {
		t.Errorf("%d requests queued for a caller that had given up", n)
	}
}

// TestAskTakesReadyReply: when the answer is already there as ctx ends,
// Ask returns the answer: the work was done, and reporting ctx's error
// would invite a retry that repeats it.
func TestAskTakesReadyReply(t *testing.T) {
	type req struct {
		reply  chan int
		cancel context.CancelFunc
	}
	mbox := make(chan req)
	l := Start(func(stop <-chan struct{}) {
		for {
			select {
			case r := <-mbox:
				r.reply <- 7
				r.cancel() // the caller's deadline passes just after
			case <-stop:
				return
			}
		}
	})
	defer l.Stop()
	for i := range 1000 {
		ctx, cancel := context.WithCancel(context.Background())
		reply := make(chan int, 1)
		got, err := Ask(ctx, l, mbox, req{reply, cancel}, reply)
		if err != nil || got != 7 {
			t.Fatalf("request %d: Ask = %d, %v; want the answer 7", i, got, err)
		}
	}
}
