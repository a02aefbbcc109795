package partition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
)

// newTestPartition opens a one-partition topic in a fresh registry.
func newTestPartition(t *testing.T, cfg Config) (*Registry, *Partition) {
	t.Helper()
	r := openTest(t, t.TempDir(), cfg)
	t.Cleanup(func() { r.Close() })
	if _, err := r.CreateTopic(context.Background(), "t", 1); err != nil {
		t.Fatal(err)
	}
	p, err := r.Partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return r, p
}

func value(i int) []byte { return []byte(fmt.Sprintf("value-%06d", i)) }

// readAll reads [from, next) and decodes every record.
func readAll(t *testing.T, p *Partition, from uint64, maxBytes int) []batch.Record {
	t.Helper()
	ctx := context.Background()
	var out []batch.Record
	off := from
	for {
		b, err := p.Read(ctx, off, maxBytes)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if b.Count == 0 {
			return out
		}
		if b.First != off {
			t.Fatalf("Read(%d) starts at %d", off, b.First)
		}
		for _, d := range decodeBatches(t, b.Data, off) {
			if d.Offset != off {
				t.Fatalf("record offset %d, want %d", d.Offset, off)
			}
			out = append(out, d)
			off++
		}
		if off != b.Next {
			t.Fatalf("batch Next %d, decoded up to %d", b.Next, off)
		}
	}
}

// decodeBatches decodes the records at or past from of checked batches.
// Records alias data.
func decodeBatches(t *testing.T, data []byte, from uint64) []batch.Record {
	t.Helper()
	var out []batch.Record
	var it batch.Iter
	for len(data) > 0 {
		h, err := batch.Check(data, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := it.Reset(data[:h.Size()]); err != nil {
			t.Fatal(err)
		}
		var r batch.Record
		for it.Next(&r) {
			if r.Offset >= from {
				r.Headers = append([]batch.RecordHeader(nil), r.Headers...)
				out = append(out, r)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		data = data[h.Size():]
	}
	return out
}

func TestAppendReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	hdrs := []Header{{Key: "h", Value: []byte("hv")}}
	for i := 0; i < 300; i += 3 {
		recs := []Record{{Value: value(i)}, {Key: []byte("k"), Value: value(i + 1), Headers: hdrs}, {Value: value(i + 2), TimestampMs: 42}}
		base, last, err := p.Append(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		if base != uint64(i) || last != uint64(i+2) {
			t.Fatalf("Append = %d..%d, want %d..%d", base, last, i, i+2)
		}
	}
	for _, maxBytes := range []int{1, 100, 1000, 0} {
		got := readAll(t, p, 0, maxBytes)
		if len(got) != 300 {
			t.Fatalf("maxBytes %d: read %d records, want 300", maxBytes, len(got))
		}
		for i, r := range got {
			if !bytes.Equal(r.Value, value(i)) {
				t.Fatalf("record %d value %q", i, r.Value)
			}
			if i%3 == 1 && (string(r.Key) != "k" || len(r.Headers) != 1 || r.Headers[0].Key != "h") {
				t.Fatalf("record %d key/headers %q %v", i, r.Key, r.Headers)
			}
			if i%3 == 2 && r.TimestampMs != 42 {
				t.Fatalf("record %d timestamp %d, want 42", i, r.TimestampMs)
			}
			if i%3 == 0 && r.TimestampMs == 0 {
				t.Fatalf("record %d not stamped", i)
			}
		}
	}
	// Reads from the middle of batches and segments.
	if got := readAll(t, p, 151, 0); len(got) != 149 || !bytes.Equal(got[0].Value, value(151)) {
		t.Fatalf("read from 151: %d records", len(got))
	}
	o, _ := p.Offsets(ctx)
	if o.LogStart != 0 || o.Next != 300 {
		t.Fatalf("Offsets = %+v", o)
	}
	if p.plog == nil {
		t.Fatal("no log")
	}
}

func TestReadBounds(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	if _, _, err := p.Append(ctx, []Record{{Value: make([]byte, 500)}, {Value: make([]byte, 500)}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		off       uint64
		max       int
		wantCount int
		wantErr   error
	}{
		{0, 1, 2, nil},     // a read carries at least one whole stored batch
		{0, 10000, 2, nil}, // both fit
		{1, 0, 1, nil},     // from the middle of a frame
		{2, 0, 0, nil},     // caught up
		{3, 0, 0, ErrOffsetOutOfRange},
	} {
		b, err := p.Read(ctx, tt.off, tt.max)
		if !errors.Is(err, tt.wantErr) || b.Count != tt.wantCount {
			t.Errorf("Read(%d, %d) = %d records, %v; want %d, %v", tt.off, tt.max, b.Count, err, tt.wantCount, tt.wantErr)
		}
	}
}

func TestAppendValidation(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.MaxRecordBytes = 100
	_, p := newTestPartition(t, cfg)
	if _, _, err := p.Append(ctx, nil); !errors.Is(err, ErrNoRecords) {
		t.Errorf("empty append: %v", err)
	}
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("ok")}, {Value: make([]byte, 200)}}); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("large record: %v", err)
	}
	if o, _ := p.Offsets(ctx); o.Next != 0 {
		t.Errorf("rejected append stored records: next %d", o.Next)
	}
}

func TestConcurrentAppendsAreDenseAndOrdered(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, _, err := p.Append(ctx, []Record{{Key: []byte{byte(w)}, Value: []byte(fmt.Sprint(i))}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got := readAll(t, p, 0, 0)
	if len(got) != writers*each {
		t.Fatalf("read %d records, want %d", len(got), writers*each)
	}
	nextPerWriter := make([]int, writers)
	for _, r := range got {
		w := int(r.Key[0])
		if string(r.Value) != fmt.Sprint(nextPerWriter[w]) {
			t.Fatalf("writer %d: got %s, want %d", w, r.Value, nextPerWriter[w])
		}
		nextPerWriter[w]++
	}
}

func TestSubscribeWakesOnAppend(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	sub, err := p.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.C():
	case <-time.After(time.Minute):
		t.Fatal("subscriber not woken by an append")
	}
}

func TestSlowSubscriberNeverBlocksAppends(t *testing.T) {
	ctx := context.Background()
	_, p := newTestPartition(t, testConfig())
	for i := 0; i < 100; i++ {
		sub, err := p.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close() // never read
	}
	for i := 0; i < 200; i++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStoppedPartitionAnswersStopped(t *testing.T) {
	r, p := newTestPartition(t, testConfig())
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := p.Append(ctx, []Record{{Value: []byte("x")}}); !errors.Is(err, ErrStopped) {
		t.Errorf("Append after close: %v", err)
	}
	if _, err := p.Read(ctx, 0, 0); !errors.Is(err, ErrStopped) {
		t.Errorf("Read after close: %v", err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed")
	}
}

func TestRollAndRetention(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.RetentionBytes = 3 * 4096
	_, p := newTestPartition(t, cfg)
	for i := 0; i < 2000; i++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	o, _ := p.Offsets(ctx)
	if o.LogStart == 0 || o.Next != 2000 {
		t.Fatalf("Offsets = %+v: retention removed nothing", o)
	}
	if _, err := p.Read(ctx, o.LogStart-1, 0); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Errorf("read below log start: %v", err)
	}
	got := readAll(t, p, o.LogStart, 0)
	if uint64(len(got)) != o.Next-o.LogStart || !bytes.Equal(got[0].Value, value(int(o.LogStart))) {
		t.Fatalf("read %d records from log start %d", len(got), o.LogStart)
	}
}

func TestReopenAfterCrashAndClean(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := openTest(t, dir, testConfig())
	r.CreateTopic(ctx, "t", 1)
	p, _ := r.Partition("t", 0)
	for i := 0; i < 500; i++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Simulate a crash: stop the actors without the clean marker.
	r.mu.Lock()
	r.closed = true
	close(r.retainStop)
	<-r.retainDone
	p.stop()
	r.unlock()
	r.mu.Unlock()

	r = openTest(t, dir, testConfig())
	rec := r.Recovery()
	if rec.Clean || rec.ScannedSegments != 1 {
		t.Errorf("after crash: Recovery() = %+v, want unclean with a scan", rec)
	}
	p, _ = r.Partition("t", 0)
	if got := readAll(t, p, 0, 0); len(got) != 500 {
		t.Fatalf("after crash read %d records, want 500", len(got))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r = openTest(t, dir, testConfig())
	defer r.Close()
	if rec := r.Recovery(); !rec.Clean || rec.ScannedSegments != 0 || rec.Segments < 2 {
		t.Errorf("after clean close: Recovery() = %+v, want clean, no scan, several segments", rec)
	}
	p, _ = r.Partition("t", 0)
	if got := readAll(t, p, 0, 0); len(got) != 500 {
		t.Fatalf("after clean close read %d records, want 500", len(got))
	}
	if _, _, err := p.Append(ctx, []Record{{Value: value(500)}}); err != nil {
		t.Fatal(err)
	}
}

type commitCounter struct {
	mu                     sync.Mutex
	frames, records, syncs int
}

func (c *commitCounter) ObserveCommit(frames, records, bytes int, sync time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames += frames
	c.records += records
	if sync > 0 {
		c.syncs++
	}
}

func TestStatsAndObserver(t *testing.T) {
	ctx := context.Background()
	obs := &commitCounter{}
	cfg := testConfig()
	cfg.Observer = obs
	r, p := newTestPartition(t, cfg)
	for i := 0; i < 100; i++ {
		if _, _, err := p.Append(ctx, []Record{{Value: value(i)}, {Value: value(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	st := p.Stats()
	if st.RecordsAppended != 200 || st.Next != 200 || st.LogStart != 0 || st.Segments < 2 || st.SizeBytes == 0 || st.BytesAppended != uint64(st.SizeBytes) {
		t.Fatalf("Stats() = %+v", st)
	}
	if all := r.Stats(); len(all) != 1 || all[0] != st {
		t.Fatalf("Registry.Stats() = %+v, want [%+v]", all, st)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.frames != 100 || obs.records != 200 || obs.syncs == 0 {
		t.Fatalf("observer saw %d frames, %d records, %d syncs; want 100, 200, >0", obs.frames, obs.records, obs.syncs)
	}
}

// TestMixedAcksInOneGroupCommit puts acks=none and acked appends in one group
// commit: acknowledged offsets must be where the records really are.
func TestMixedAcksInOneGroupCommit(t *testing.T) {
	cfg, err := testConfig().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l, _, _, err := openLog(t.TempDir(), &cfg, segment.NewFileCache(cfg.FS, 16), cfg.Logger, false, false)
	if err != nil {
		t.Fatal(err)
	}
	// The actor is not running yet: queue everything, then run one group
	// commit by hand, so all requests certainly share it.
	p := newPartition("t", 0, l, &cfg)
	var reqs []*appendReq
	for i := 0; i < 6; i++ {
		f := encode([]Record{{Value: value(2 * i)}, {Value: value(2*i + 1)}})
		if err := f.check(cfg.MaxRecordBytes); err != nil {
			t.Fatal(err)
		}
		req := f.request()
		if i%2 == 1 {
			req.reply = make(chan appendResult, 1)
		}
		reqs = append(reqs, req)
		if i > 0 {
			p.appendc <- req
		}
	}
	p.handleAppends(reqs[0])
	p.loop = actor.Start(p.run)
	defer p.stop()
	for i, req := range reqs {
		if req.reply == nil {
			continue
		}
		res := <-req.reply
		if res.err != nil || res.base != uint64(2*i) || res.last != uint64(2*i+1) {
			t.Fatalf("request %d acked at %d..%d (%v), want %d..%d", i, res.base, res.last, res.err, 2*i, 2*i+1)
		}
	}
	got := readAll(t, p, 0, 0)
	if len(got) != 12 {
		t.Fatalf("read %d records, want 12", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.Value, value(i)) {
			t.Fatalf("offset %d holds %q", i, r.Value)
		}
	}
}
