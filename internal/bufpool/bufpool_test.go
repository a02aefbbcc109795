package bufpool

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClasses(t *testing.T) {
	p := &Pool{}
	for _, tt := range []struct{ n, wantCap int }{
		{1, 256}, {256, 256}, {257, 512}, {110_000, 128 << 10}, {1 << 20, 1 << 20}, {4 << 20, 4 << 20}, {4<<20 + 1, 4<<20 + 1},
	} {
		b := p.Get(tt.n)
		if len(*b) != tt.n || cap(*b) != tt.wantCap {
			t.Fatalf("Get(%d): len %d cap %d, want len %d cap %d", tt.n, len(*b), cap(*b), tt.n, tt.wantCap)
		}
		p.Put(b)
	}
	// A recycled buffer keeps its class and comes back at the asked length.
	b := p.Get(3000)
	p.Put(b)
	if b = p.Get(2100); len(*b) != 2100 || cap(*b) != 4096 {
		t.Fatalf("recycled: len %d cap %d, want 2100 and 4096", len(*b), cap(*b))
	}
	// Buffers not from the pool are dropped, not mis-filed.
	odd := make([]byte, 1000)
	p.Put(&odd)
	if b = p.Get(600); cap(*b) != 1024 {
		t.Fatalf("after an odd Put: cap %d, want 1024", cap(*b))
	}
}
