package test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logbroker/logbroker/pb"
)

// TestGetOffsetsByTime asks GetOffsets by time over gRPC, against brute
// force over what Consume returns: across many segments, with producers'
// timestamps out of order and broker-stamped ones, after a clean restart,
// and after every .timeindex was deleted while the broker was down.
func TestGetOffsetsByTime(t *testing.T) {
	b := startInproc(t, smallSegments)
	b.createTopic("events", 2)
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 120 {
		for p := range uint32(2) {
			var recs []*pb.Record
			for j := range 1 + rng.IntN(3) {
				ts := int64(1_700_000_000_000 + 1000*i + j)
				switch {
				case rng.IntN(6) == 0:
					ts -= rng.Int64N(50_000) // late
				case i == 100 && p == 1:
					ts = 0 // stamped by the broker at append
				}
				recs = append(recs, &pb.Record{Value: []byte("v"), TimestampMs: ts})
			}
			b.produce("events", p, recs...)
		}
	}
	check := func(when string) {
		t.Helper()
		var all [2][]*pb.LogEntry
		queries := []int64{-1, 1, 1 << 62}
		for p := range uint32(2) {
			all[p] = b.readAll("events", p, 0)
			for _, e := range all[p] {
				queries = append(queries, e.GetTimestampMs()-1, e.GetTimestampMs(), e.GetTimestampMs()+1)
			}
		}
		slices.Sort(queries)
		for _, q := range slices.Compact(queries) {
			if q == 0 {
				continue // asks for no time
			}
			resp, err := b.client.GetOffsets(testContext(t), &pb.GetOffsetsRequest{Topic: "events", TimestampMs: q})
			if err != nil {
				t.Fatalf("%s: GetOffsets at %d: %v", when, q, err)
			}
			for _, po := range resp.GetPartitions() {
				want := po.GetNextOffset()
				for _, e := range all[po.GetPartition()] {
					if e.GetTimestampMs() >= q {
						want = e.GetOffset()
						break
					}
				}
				if po.GetTimestampOffset() != want {
					t.Fatalf("%s: partition %d at %d: timestamp_offset %d, want %d", when, po.GetPartition(), q, po.GetTimestampOffset(), want)
				}
			}
		}
	}
	check("live")
	b.Restart()
	check("after a clean restart")
	b.stop()
	removed, err := filepath.Glob(filepath.Join(b.dir, "events-*", "*.timeindex"))
	if err != nil || len(removed) < 4 {
		t.Fatalf("found %d .timeindex files (%v), want several segments' worth", len(removed), err)
	}
	for _, name := range removed {
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	b.start()
	check("after every .timeindex was deleted")
}
