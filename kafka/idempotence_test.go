package kafka

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/internal/kproxy"
	"github.com/logbroker/logbroker/partition"
)

// TestInitProducerIDRequests: new ids at epoch 0, the KIP-360 bump of a
// held id, and a transactional id refused.
func TestInitProducerIDRequests(t *testing.T) {
	b := startBroker(t)
	c := b.dial()
	init := func(version int16, txn *string, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = version, txn, 60_000
		req.ProducerID, req.ProducerEpoch = id, epoch
		return c.roundTrip(req).(*kmsg.InitProducerIDResponse)
	}
	txn := "tx"
	for i, tt := range []struct {
		version   int16
		txn       *string
		id        int64
		epoch     int16
		wantErr   *kerr.Error
		wantID    int64
		wantEpoch int16
	}{
		{0, nil, -1, -1, nil, 0, 0},
		{2, nil, -1, -1, nil, 1, 0},
		{4, nil, -1, -1, nil, 2, 0},
		{3, nil, 1, 0, nil, 1, 1}, // KIP-360: the same id, next epoch
		{4, nil, 1, 1, nil, 1, 2},
		{2, nil, 1, 1, nil, 3, 0}, // before v3 the fields are not sent: a new id
		{4, &txn, -1, -1, kerr.TransactionalIDAuthorizationFailed, -1, -1},
		{0, &txn, -1, -1, kerr.TransactionalIDAuthorizationFailed, -1, -1},
	} {
		resp := init(tt.version, tt.txn, tt.id, tt.epoch)
		if resp.ErrorCode != code(tt.wantErr) || resp.ProducerID != tt.wantID || resp.ProducerEpoch != tt.wantEpoch {
			t.Errorf("%d: v%d: id %d epoch %d error %v; want %d, %d, %v", i, tt.version, resp.ProducerID, resp.ProducerEpoch, kerr.ErrorForCode(resp.ErrorCode), tt.wantID, tt.wantEpoch, tt.wantErr)
		}
	}
}

// code is e's code, 0 for nil.
func code(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// TestProduceSequenceErrors: over the wire, a retried batch gets its
// original base offset and is not stored again; a gap gets
// OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch INVALID_PRODUCER_EPOCH.
func TestProduceSequenceErrors(t *testing.T) {
	b := startBroker(t)
	b.createTopic("s", 1)
	c := b.dial()
	idem := func(epoch int16, seq int32, n int) []byte {
		bt := testBatch(n, []byte("v"))
		batch.SetProducer(bt, 42, epoch, seq)
		return bt
	}
	for i, tt := range []struct {
		batch    []byte
		wantErr  *kerr.Error
		wantBase int64
		wantNext uint64
	}{
		{idem(1, 0, 3), nil, 0, 3},
		{idem(1, 3, 2), nil, 3, 5},
		{idem(1, 0, 3), nil, 0, 5}, // a retry: the first batch's offset, stored once
		{idem(1, 3, 2), nil, 3, 5},
		{idem(1, 6, 1), kerr.OutOfOrderSequenceNumber, -1, 5},
		{idem(0, 5, 1), kerr.InvalidProducerEpoch, -1, 5},
		{idem(2, 1, 1), kerr.OutOfOrderSequenceNumber, -1, 5}, // a new epoch starts at 0
		{idem(2, 0, 1), nil, 5, 6},
		{idem(1, 5, 1), kerr.InvalidProducerEpoch, -1, 6}, // fenced by epoch 2
	} {
		resp := c.roundTrip(produceReq(9, -1, "s", 0, tt.batch)).(*kmsg.ProduceResponse)
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != code(tt.wantErr) || (tt.wantErr == nil && sp.BaseOffset != tt.wantBase) {
			t.Errorf("%d: base %d error %v; want %d, %v", i, sp.BaseOffset, kerr.ErrorForCode(sp.ErrorCode), tt.wantBase, tt.wantErr)
		}
		p, _ := b.reg.Partition("s", 0)
		if next := p.Stats().Next; next != tt.wantNext {
			t.Errorf("%d: next offset %d, want %d", i, next, tt.wantNext)
		}
	}
}

// produceExactlyOnce produces n records of distinct values with cl over
// topic's partitions, then reads every partition back and checks that each
// value is stored exactly once and, per partition, in the order produced.
func produceExactlyOnce(t *testing.T, b *testBroker, cl *kgo.Client, topic string, parts int32, n int) {
	t.Helper()
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := &kgo.Record{Topic: topic, Partition: int32(i) % parts, Value: []byte(fmt.Sprintf("%06d", i))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	seen := map[string]int64{}
	for p := int32(0); p < parts; p++ {
		part, _ := b.reg.Partition(topic, uint32(p))
		stored := int(part.Stats().Next)
		want := n / int(parts)
		if int(p) < n%int(parts) {
			want++
		}
		if stored != want {
			t.Fatalf("partition %d holds %d records, want %d: some were stored twice or lost", p, stored, want)
		}
		last := -1
		for _, r := range b.consume(topic, p, 0, stored) {
			v := string(r.Value)
			if _, dup := seen[v]; dup {
				t.Fatalf("value %s stored twice", v)
			}
			seen[v] = r.Offset
			var i int
			fmt.Sscanf(v, "%d", &i)
			if i <= last {
				t.Fatalf("partition %d: value %d after %d", p, i, last)
			}
			last = i
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct values stored, want %d", len(seen), n)
	}
}

// proxied starts a broker behind a kproxy.Proxy, which Metadata
// advertises, so every connection of a client goes through it.
func proxied(t *testing.T) (*testBroker, *kproxy.Proxy) {
	t.Helper()
	px, err := kproxy.New("")
	if err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, func(o *Options) { o.AdvertiseAddr = px.Addr() })
	t.Cleanup(px.Close) // before the broker stops: cleanups run last first
	px.SetUpstream(b.addr)
	return b, px
}

// TestKgoIdempotentRetries: a proxy between kgo and the broker drops the
// connection after every third Produce answer, so the broker has stored
// those batches and kgo never hears so; kgo (idempotent, its default)
// resends them with the same sequences, and every record ends up stored
// exactly once, in order.
func TestKgoIdempotentRetries(t *testing.T) {
	b, px := proxied(t)
	b.createTopic("r", 3)
	var mu sync.Mutex
	dropped := 0
	px.OnProduceResponse(func(n int) bool {
		mu.Lock()
		defer mu.Unlock()
		if n%3 == 0 && dropped < 20 {
			dropped++
			return true
		}
		return false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(px.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceExactlyOnce(t, b, cl, "r", 3, 2000)
	mu.Lock()
	defer mu.Unlock()
	if dropped == 0 {
		t.Fatal("no Produce answer was dropped: no retry was tested")
	}
	t.Logf("%d Produce answers dropped after the batches were stored", dropped)
}

// TestKgoIdempotentInFlight: kgo's default producer, idempotent, keeps up
// to 5 Produce requests in flight per broker; with many small batches over
// several partitions it does, and every record is stored once, in order.
// The proxy holds the second answer back (kgo sends one request until its
// first answer, which proves its producer id) until another request is on
// its way, so that a broker quicker than kgo's next send cannot leave the
// test with one request in flight.
func TestKgoIdempotentInFlight(t *testing.T) {
	b, px := proxied(t)
	b.createTopic("i", 4)
	px.OnProduceResponse(func(n int) bool {
		for deadline := time.Now().Add(30 * time.Second); n == 2 && px.MaxInFlight() < 2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return false
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(px.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produceExactlyOnce(t, b, cl, "i", 4, 20000)
	if n := px.MaxInFlight(); n < 2 {
		t.Fatalf("at most %d Produce request in flight: the test did not run several", n)
	} else {
		t.Logf("up to %d Produce requests in flight", n)
	}
	id, epoch, err := cl.ProducerID(testContext(t))
	if err != nil || id < 0 || epoch != 0 {
		t.Fatalf("kgo's producer id %d epoch %d, %v", id, epoch, err)
	}
}

// TestProducerIDsAcrossRestarts: a broker restarted on the same data
// directory never gives a producer id again.
func TestProducerIDsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	seen := map[int64]bool{}
	for run := 0; run < 3; run++ {
		reg, err := partition.Open(dir, partition.Config{Fsync: partition.FsyncNever})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			id, _, err := FromRegistry(reg).InitProducerID(-1, -1)
			if err != nil {
				t.Fatal(err)
			}
			if seen[id] {
				t.Fatalf("run %d: producer id %d given again", run, id)
			}
			seen[id] = true
		}
		reg.Close()
	}
}
