package partition

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestOffsetForTime looks up every stored timestamp and its neighbours in a
// partition of many segments against brute force: with timestamps rising
// and out of order, after retention removed segments, and after a clean
// or crashed restart.
func TestOffsetForTime(t *testing.T) {
	tests := []struct {
		name      string
		retention bool
		restart   string // "", "clean" or "crash"
	}{
		{"several segments", false, ""},
		{"after retention", true, ""},
		{"after a clean restart", false, "clean"},
		{"after a crash", false, "crash"},
		{"after retention and a clean restart", true, "clean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			cfg := testConfig()
			if tt.retention {
				cfg.RetentionBytes = 4 * 4096
			}
			dir := t.TempDir()
			r := openTest(t, dir, cfg)
			defer func() { r.Close() }()
			if _, err := r.CreateTopic(ctx, "t", 1); err != nil {
				t.Fatal(err)
			}
			p, _ := r.Partition("t", 0)
			if got, err := p.OffsetForTime(ctx, 5); err != nil || got != 0 {
				t.Fatalf("empty: OffsetForTime = %d, %v; want 0", got, err)
			}
			rng := rand.New(rand.NewPCG(5, 8))
			var all []int64 // every record's timestamp, by offset
			for i := 0; len(all) < 1500; i++ {
				var recs []Record
				for j := range 1 + rng.IntN(4) {
					ts := int64(10_000 + 10*len(all) + j)
					if rng.IntN(5) == 0 {
						ts = 10_000 + rng.Int64N(int64(10*len(all)+1)) // late, out of order
					}
					recs = append(recs, Record{Value: value(len(all) + j), TimestampMs: ts})
				}
				if _, _, err := p.Append(ctx, recs); err != nil {
					t.Fatal(err)
				}
				for _, rc := range recs {
					all = append(all, rc.TimestampMs)
				}
			}
			switch tt.restart {
			case "clean":
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
				r = openTest(t, dir, cfg)
			case "crash":
				crash(r, p)
				r = openTest(t, dir, cfg)
			}
			p, _ = r.Partition("t", 0)
			o, err := p.Offsets(ctx)
			if err != nil || o.Next != uint64(len(all)) {
				t.Fatalf("Offsets = %+v, %v", o, err)
			}
			if tt.retention == (o.LogStart == 0) {
				t.Fatalf("log start %d with retention %v", o.LogStart, tt.retention)
			}
			queries := []int64{-1, 0, 1 << 62}
			for _, ts := range all {
				queries = append(queries, ts-1, ts, ts+1)
			}
			slices.Sort(queries)
			for _, q := range slices.Compact(queries) {
				want := o.Next
				for off := o.LogStart; off < o.Next; off++ {
					if all[off] >= q {
						want = off
						break
					}
				}
				got, err := p.OffsetForTime(ctx, q)
				if err != nil || got != want {
					t.Fatalf("OffsetForTime(%d) = %d, %v; want %d (log [%d, %d))", q, got, err, want, o.LogStart, o.Next)
				}
			}
		})
	}
}

// crash stops r's partition actors without the clean-shutdown marker, as
// TestReopenAfterCrashAndClean does.
func crash(r *Registry, p *Partition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	close(r.retainStop)
	<-r.retainDone
	p.stop()
	r.unlock()
}

// TestOffsetForTimeStopped answers ErrStopped from a stopped partition.
func TestOffsetForTimeStopped(t *testing.T) {
	r, p := newTestPartition(t, testConfig())
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.OffsetForTime(context.Background(), 1); !errors.Is(err, ErrStopped) {
		t.Fatalf("OffsetForTime on a stopped partition: %v, want ErrStopped", err)
	}
}
