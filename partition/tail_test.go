package partition

import (
	"bytes"
	"context"
	"testing"
)

// TestTail: the last commit is served from memory exactly as a read would
// serve it, only while someone subscribes, and only within maxBytes.
func TestTail(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	if _, _, err := p.Append(ctx, []Record{{Value: value(0)}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Tail(0, 0); ok {
		t.Fatal("Tail served a commit made with no subscriber")
	}
	sub, err := p.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	recs := []Record{{Value: value(1)}, {Key: []byte("k"), Value: value(2)}, {Value: value(3), Headers: []Header{{Key: "h", Value: []byte("v")}}}}
	base, last, err := p.Append(ctx, recs)
	if err != nil || base != 1 || last != 3 {
		t.Fatalf("Append = %d..%d, %v; want 1..3", base, last, err)
	}
	for _, tt := range []struct {
		offset    uint64
		maxBytes  int
		wantOK    bool
		wantCount int
	}{
		{0, 0, false, 0},  // before the last commit: read the file
		{1, 0, true, 3},   // the whole commit
		{2, 0, true, 2},   // from inside it
		{3, 0, true, 1},   // its last record
		{4, 0, true, 0},   // caught up
		{5, 0, false, 0},  // past the end: the reader must get the error
		{1, 10, false, 0}, // more than maxBytes: read the file
	} {
		got, ok := p.Tail(tt.offset, tt.maxBytes)
		if ok != tt.wantOK || got.Count != tt.wantCount {
			t.Errorf("Tail(%d, %d) = %d records, %v; want %d, %v", tt.offset, tt.maxBytes, got.Count, ok, tt.wantCount, tt.wantOK)
			continue
		}
		if !ok || got.Count == 0 {
			continue
		}
		want, err := p.Read(ctx, tt.offset, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Data, want.Data) || got.First != want.First || got.Next != want.Next {
			t.Errorf("Tail(%d) = [%d, %d) %x; Read gives [%d, %d) %x", tt.offset, got.First, got.Next, got.Data, want.First, want.Next, want.Data)
		}
	}
	// A commit too big to copy is left to reads.
	big := make([]Record, 100)
	for i := range big {
		big[i] = Record{Value: make([]byte, 1000)}
	}
	if _, _, err := p.Append(ctx, big); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Tail(4, 1<<20); ok {
		t.Fatal("Tail served a 100 KB commit")
	}
}
