package main

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestClaimSourceMatchesPace(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		rate float64
		n    int64
		end  time.Duration
	}{
		{"bounded by end", 1000, 100, 5 * ms},
		{"bounded by count", 4000, 3, time.Hour},
		{"uneven interval", 3000, 1000, 7 * ms},
		{"no end, bounded by count", 10, 10, 0},
		{"one send before end", 10, 10, 1},
	}
	for _, tt := range tests {
		var want []time.Duration
		wantN := pace(context.Background(), &fakeClock{}, 0, tt.rate, tt.n, tt.end, func(_ int64, due time.Duration) {
			want = append(want, due)
		})
		s := newClaimSource(0, tt.rate, tt.n, tt.end)
		var got []time.Duration
		for {
			i, due, ok := s.claim()
			if !ok {
				break
			}
			if i != int64(len(got)) {
				t.Errorf("%s: claim %d got number %d", tt.name, len(got), i)
			}
			got = append(got, due)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: claimed due times %v, pace's %v", tt.name, got, want)
		}
		select {
		case <-s.ended():
		default:
			t.Errorf("%s: not ended after a refused claim", tt.name)
		}
		if s.scheduled() != wantN {
			t.Errorf("%s: scheduled %d, want %d", tt.name, s.scheduled(), wantN)
		}
		if _, _, ok := s.claim(); ok {
			t.Errorf("%s: a claim after the end succeeded", tt.name)
		}
	}
}

func TestClaimSourceConcurrent(t *testing.T) {
	const n = 5000
	s := newClaimSource(0, 1e6, n, time.Hour)
	var mu sync.Mutex
	var got []int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for {
				i, _, ok := s.claim()
				if !ok {
					break
				}
				mine = append(mine, i)
			}
			mu.Lock()
			got = append(got, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(got)
	for k, i := range got {
		if i != int64(k) {
			t.Fatalf("claims sorted: position %d holds %d (each number once, none skipped)", k, i)
		}
	}
	if len(got) != n || s.scheduled() != n {
		t.Errorf("%d claims, scheduled %d; want %d", len(got), s.scheduled(), n)
	}
}

func TestClaimWaiterNeverEarly(t *testing.T) {
	// No timing assertion: a claimed send must only never come early.
	clk := realClock{base: time.Now()}
	s := newClaimSource(clk.now(), 20000, 50, time.Hour)
	next, release := s.waiter(clk)
	defer release()
	n := 0
	for {
		i, due, ok := next(context.Background())
		if !ok {
			break
		}
		if now := clk.now(); now < due {
			t.Errorf("send %d at %v, before its due time %v", i, now, due)
		}
		n++
	}
	if n != 50 {
		t.Errorf("%d sends, want 50", n)
	}
}

func TestClaimWaiterCancel(t *testing.T) {
	// One send a minute: the second claim falls due a minute ahead.
	clk := realClock{base: time.Now()}
	s := newClaimSource(clk.now(), 1.0/60, 10, time.Hour)
	next, release := s.waiter(clk)
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, ok := next(ctx); !ok {
		t.Fatal("the first send was refused")
	}
	done := make(chan bool)
	go func() {
		_, _, ok := next(ctx)
		done <- ok
	}()
	cancel()
	select {
	case ok := <-done:
		if ok {
			t.Error("a cancelled wait returned a send")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled wait did not return")
	}
}

func TestChanSource(t *testing.T) {
	clk := realClock{base: time.Now(), spin: true}
	s := newChanSource(context.Background(), clk, 20000, 50, time.Hour)
	next, release := s.waiter(clk)
	defer release()
	for k := range int64(50) {
		i, due, ok := next(context.Background())
		if !ok || i != k || clk.now() < due {
			t.Fatalf("send %d: got %d, due %v, ok %v (now %v)", k, i, due, ok, clk.now())
		}
	}
	if _, _, ok := next(context.Background()); ok {
		t.Error("a send after the schedule's end")
	}
	<-s.ended()
	if s.scheduled() != 50 {
		t.Errorf("scheduled %d, want 50", s.scheduled())
	}
}
