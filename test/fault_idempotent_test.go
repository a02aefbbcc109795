package test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logbroker/logbroker/internal/kproxy"
)

// TestIdempotentRetryAfterSIGKILL is the crash between storing a batch and
// answering it, with the real process: a proxy between an idempotent kgo
// producer and the broker holds back the answer to a Produce the broker
// has stored (and synced: --fsync always), the broker is SIGKILLed, started
// again on the same data directory, and only then is the producer's
// connection dropped. kgo resends the batch with the same producer id,
// epoch and sequences; the restarted broker, which rebuilt its producer
// state from the log, must answer with the offsets of the stored copy and
// store nothing twice.
func TestIdempotentRetryAfterSIGKILL(t *testing.T) {
	px, err := kproxy.New("")
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	b := StartProcBroker(t, ProcOptions{Args: []string{"--kafka-advertise-addr=" + px.Addr(), "--segment-bytes=65536"}})
	px.SetUpstream(b.Started().KafkaAddr)
	ctx := faultCtx(t, 2*time.Minute)

	cl, err := kgo.NewClient(kgo.SeedBrokers(px.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	// Enough earlier records to roll segments: the producer state comes
	// back from a snapshot and the active segment's batch headers.
	const before = 3000
	for i := 0; i < before; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: "idem", Value: []byte(fmt.Sprintf("before-%04d-%040d", i, 0))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	held := make(chan struct{})
	release := make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	px.OnProduceResponse(func(int) bool {
		if !armed.CompareAndSwap(true, false) {
			return false
		}
		close(held)
		<-release
		return true // drop the answer and the connection
	})
	type result struct {
		offset int64
		err    error
	}
	done := make(chan result, 1)
	go func() {
		r := &kgo.Record{Topic: "idem", Value: []byte("the-one")}
		err := cl.ProduceSync(ctx, r).FirstErr()
		done <- result{r.Offset, err}
	}()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("the Produce was never answered")
	}
	// The broker has stored and synced the batch and sent its answer,
	// which the proxy holds. Kill it before the answer goes anywhere.
	exit := b.Kill()
	info := b.Start()
	px.SetUpstream(info.KafkaAddr)
	close(release)
	res := <-done
	if res.err != nil {
		t.Fatalf("the retried produce: %v", res.err)
	}
	if res.offset != before {
		t.Fatalf("the retried batch answered at offset %d, want %d (where it was stored before the kill)", res.offset, before)
	}

	// The log holds it once, and the producer goes on.
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "idem", Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(px.Addr()), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"idem": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var got []*kgo.Record
	for len(got) < before+2 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records: %v", len(got), err)
		}
		got = append(got, fs.Records()...)
	}
	ones := 0
	for i, r := range got {
		if string(r.Value) == "the-one" {
			ones++
			if r.Offset != before {
				t.Errorf("the batch is at offset %d, want %d", r.Offset, before)
			}
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, r.Offset)
		}
	}
	if ones != 1 || string(got[len(got)-1].Value) != "after" {
		t.Fatalf("the batch is stored %d times (want once); last record %q", ones, got[len(got)-1].Value)
	}
	end, err := kadm.NewClient(cons).ListEndOffsets(ctx, "idem")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("idem", 0); o.Offset != before+2 {
		t.Fatalf("end offset %d, want %d", o.Offset, before+2)
	}
	t.Logf("killed (%s) with the answer held; restart %s (clean %v, %d segments, %d scanned); the retry answered at offset %d, stored once",
		exit, info.Took.Round(time.Millisecond), info.Clean, info.Segments, info.ScannedSegments, res.offset)
}
