package main

import (
	"sync"
	"testing"
)

func TestSeqSet(t *testing.T) {
	s := newSeqSet(130)
	tests := []struct {
		seq     int64
		wantNew bool
	}{
		{0, true}, {63, true}, {64, true}, {129, true}, {0, false}, {64, false}, {1, true},
	}
	for _, tt := range tests {
		if got := s.add(tt.seq); got != tt.wantNew {
			t.Errorf("add(%d) = %v, want %v", tt.seq, got, tt.wantNew)
		}
	}
	for _, tt := range []struct {
		seq  int64
		want bool
	}{{-1, false}, {0, true}, {129, true}, {130, false}} {
		if got := s.holds(tt.seq); got != tt.want {
			t.Errorf("holds(%d) = %v, want %v", tt.seq, got, tt.want)
		}
	}
	o := newSeqSet(130)
	o.add(63)
	o.add(100) // in o only: not counted
	if got := s.countNotIn(o); got != 4 {
		t.Errorf("countNotIn = %d, want 4 (0, 1, 64, 129)", got)
	}
}

func TestSeqSetConcurrent(t *testing.T) {
	s := newSeqSet(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range int64(1000) {
				if (i+int64(g))%2 == 0 && s.add(i) { // two goroutines race for each seq
					n++
				}
			}
			mu.Lock()
			news += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if news != 1000 {
		t.Errorf("%d adds reported new, want 1000 (each seq once)", news)
	}
	if got := s.countNotIn(newSeqSet(1000)); got != 1000 {
		t.Errorf("%d members, want 1000", got)
	}
}
