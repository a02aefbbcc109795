package test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

// longRun says whether the heavy variants run (LOGBROKER_LONG=1).
func longRun() bool { return os.Getenv("LOGBROKER_LONG") == "1" }

// stressValue encodes (producer, seq) plus padding; stressDecode reverses it.
func stressValue(producer int, seq uint64) []byte {
	v := make([]byte, 9, 9+32)
	v[0] = byte(producer)
	binary.BigEndian.PutUint64(v[1:], seq)
	return append(v, strings.Repeat("p", int(seq%32))...)
}

func stressDecode(v []byte) (int, uint64, bool) {
	if len(v) < 9 {
		return 0, 0, false
	}
	return int(v[0]), binary.BigEndian.Uint64(v[1:9]), true
}

// TestStressOnePartition: 8 producers (half of them over ProduceStream) and
// 4 consumers on one partition, at once. Every consumer sees every record exactly once, at dense offsets, with
// each producer's records in the order it sent them and at the offsets the
// broker acknowledged. Run with -race; LOGBROKER_LONG=1 runs ten times the
// records. (TestMixedAcksOffsets mixes in ACKS_NONE.)
func TestStressOnePartition(t *testing.T) {
	const producers, consumers = 8, 4
	requests := 120
	if longRun() {
		requests = 1200
	}
	b := startInproc(t)
	b.createTopic("stress", 1)
	c := b.Client()

	// Records per request: 1 to 4, fixed by producer and request.
	perRequest := func(p, r int) int { return (p+r)%4 + 1 }
	total := 0
	for p := range producers {
		for r := range requests {
			total += perRequest(p, r)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*inprocWait)
	defer cancel()

	// Consumers first, from offset 0, so they tail the producers live.
	type seen struct {
		entries int
		batches int
	}
	results := make([]seen, consumers)
	offsetOf := make([][]map[uint64]uint64, consumers) // consumer -> producer -> seq -> offset
	var cwg sync.WaitGroup
	for ci := range consumers {
		cwg.Add(1)
		offsetOf[ci] = make([]map[uint64]uint64, producers)
		for p := range producers {
			offsetOf[ci][p] = map[uint64]uint64{}
		}
		go func() {
			defer cwg.Done()
			req := &pb.ConsumeRequest{Topic: "stress", MaxBytes: []uint32{0, 512, 1, 4096}[ci]}
			nextSeq := make([]uint64, producers)
			var next uint64
			check := func(e *pb.LogEntry) bool {
				if e.GetOffset() != next {
					t.Errorf("consumer %d: offset %d after %d: not dense", ci, e.GetOffset(), next-1)
					return false
				}
				next++
				p, seq, ok := stressDecode(e.GetValue())
				if !ok || p >= producers {
					t.Errorf("consumer %d: offset %d holds a foreign value %q", ci, e.GetOffset(), e.GetValue())
					return false
				}
				if seq != nextSeq[p] {
					t.Errorf("consumer %d: offset %d holds producer %d seq %d, want seq %d (lost, duplicated or reordered)", ci, e.GetOffset(), p, seq, nextSeq[p])
					return false
				}
				nextSeq[p]++
				offsetOf[ci][p][seq] = e.GetOffset()
				return true
			}
			if ci%2 == 0 {
				s, err := c.Consume(ctx, req)
				if err != nil {
					t.Errorf("consumer %d: %v", ci, err)
					return
				}
				for int(next) < total {
					e, err := s.Recv()
					if err != nil {
						t.Errorf("consumer %d after %d entries: %v", ci, next, err)
						return
					}
					results[ci].entries++
					if !check(e) {
						return
					}
				}
				return
			}
			s, err := c.ConsumeBatches(ctx, req)
			if err != nil {
				t.Errorf("consumer %d: %v", ci, err)
				return
			}
			for int(next) < total {
				bt, err := s.Recv()
				if err != nil {
					t.Errorf("consumer %d after %d entries: %v", ci, next, err)
					return
				}
				results[ci].batches++
				if len(bt.GetEntries()) == 0 {
					t.Errorf("consumer %d: empty batch", ci)
					return
				}
				for _, e := range bt.GetEntries() {
					results[ci].entries++
					if !check(e) {
						return
					}
				}
			}
		}()
	}

	// acked[p][seq] is the offset the broker acknowledged for a record.
	acked := make([]map[uint64]uint64, producers)
	start := time.Now()
	var pwg sync.WaitGroup
	for p := range producers {
		acked[p] = map[uint64]uint64{}
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			acks := pb.Acks_ACKS_LEADER
			send := func(req *pb.ProduceRequest) (*pb.ProduceResponse, error) { return c.Produce(ctx, req) }
			if p%2 == 1 { // half the producers send over a ProduceStream each
				s, err := c.ProduceStream(ctx)
				if err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
				defer s.CloseSend()
				send = func(req *pb.ProduceRequest) (*pb.ProduceResponse, error) {
					if err := s.Send(req); err != nil {
						return nil, err
					}
					return s.Recv()
				}
			}
			var seq uint64
			for r := range requests {
				n := perRequest(p, r)
				recs := make([]*pb.Record, n)
				for i := range recs {
					recs[i] = &pb.Record{Key: []byte{byte(p)}, Value: stressValue(p, seq+uint64(i))}
				}
				resp, err := send(&pb.ProduceRequest{Topic: "stress", Records: recs, Acks: acks})
				if err != nil {
					t.Errorf("producer %d request %d: %v", p, r, err)
					return
				}
				if acks == pb.Acks_ACKS_LEADER {
					if resp.GetLastOffset()-resp.GetBaseOffset() != uint64(n-1) {
						t.Errorf("producer %d: %d records acknowledged as [%d, %d]", p, n, resp.GetBaseOffset(), resp.GetLastOffset())
					}
					for i := range n {
						acked[p][seq+uint64(i)] = resp.GetBaseOffset() + uint64(i)
					}
				}
				seq += uint64(n)
			}
		}()
	}
	pwg.Wait()
	produced := time.Since(start)
	cwg.Wait()
	consumed := time.Since(start)
	if t.Failed() {
		return
	}
	t.Logf("%d records from %d producers (%d requests each) in %s; %d consumers done in %s",
		total, producers, requests, produced.Round(time.Millisecond), consumers, consumed.Round(time.Millisecond))
	for ci, r := range results {
		t.Logf("consumer %d: %d entries in %d batches", ci, r.entries, r.batches)
		for p := range producers {
			for seq, off := range acked[p] {
				if got := offsetOf[ci][p][seq]; got != off {
					t.Fatalf("consumer %d: producer %d seq %d at offset %d, acknowledged at %d", ci, p, seq, got, off)
				}
			}
		}
	}
	if o := b.offsets("stress", 0); o.GetNextOffset() != uint64(total) {
		t.Errorf("next offset %d after %d records", o.GetNextOffset(), total)
	}
}

// TestStreamCyclesLeaveNoGoroutine: 1,000 Consume and ConsumeBatches streams
// opened and closed in every way a stream ends (client cancel while live
// tailing, while blocked sending, stop_at_end, an error) leave the goroutine count where it was.
// grpc's own background goroutines may take a moment to settle, so the count
// is polled with a deadline.
func TestStreamCyclesLeaveNoGoroutine(t *testing.T) {
	cycles := 1000
	if longRun() {
		cycles = 10000
	}
	b := startInproc(t)
	b.createTopic("cycles", 1)
	b.produce("cycles", 0, vals("a", "b", "c")...)
	// "deep" holds more than the flow-control windows, so a stream on it
	// is cancelled while the broker is blocked sending.
	b.createTopic("deep", 1)
	for i := range 40 {
		recs := make([]*pb.Record, 100)
		for j := range recs {
			recs[j] = &pb.Record{Value: []byte(strings.Repeat(strconv.Itoa(i), 1000))}
		}
		b.produce("deep", 0, recs...)
	}
	c := b.Client()
	// narrow has 64 KB flow-control windows: the broker soon blocks on it.
	conn, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	narrow := pb.NewBrokerServiceClient(conn)

	cycle := func(i int) {
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		switch i % 6 {
		case 0: // live tail, cancelled after one entry
			s, err := c.Consume(ctx, &pb.ConsumeRequest{Topic: "cycles", Offset: 2})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		case 1: // live batches, cancelled after one batch
			s, err := c.ConsumeBatches(ctx, &pb.ConsumeRequest{Topic: "cycles", Start: pb.Start_START_EARLIEST})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		case 2: // stop_at_end, read to the end
			if got, err := consumeToEnd(ctx, c, &pb.ConsumeRequest{Topic: "cycles", StopAtEnd: true}); err != nil || len(got) != 3 {
				t.Fatalf("cycle %d: %d entries, %v", i, len(got), err)
			}
		case 3: // an error
			_, err := consumeBatchesToEnd(ctx, c, &pb.ConsumeRequest{Topic: "cycles", Offset: 99})
			requireCode(t, "cycle past the end", err, codes.OutOfRange)
		case 4: // cancelled while waiting at the end, before anything came
			s, err := c.Consume(ctx, &pb.ConsumeRequest{Topic: "cycles", Start: pb.Start_START_LATEST})
			if err != nil {
				t.Fatal(err)
			}
			cancel()
			if _, err := s.Recv(); err == nil {
				t.Fatalf("cycle %d: an entry after cancel", i)
			}
		case 5: // cancelled while the broker is blocked sending 4 MB
			s, err := narrow.Consume(ctx, &pb.ConsumeRequest{Topic: "deep", MaxBytes: 8 << 10})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Recv(); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		}
	}
	// Warm up: the connection and grpc's pools exist before the baseline.
	for i := range 10 {
		cycle(i)
	}
	baseline := settledGoroutines()
	start := time.Now()
	for i := range cycles {
		cycle(i)
	}
	took := time.Since(start)
	deadline := time.Now().Add(inprocWait)
	n := runtime.NumGoroutine()
	for n > baseline && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	t.Logf("%d stream cycles in %s; goroutines: baseline %d, after %d", cycles, took.Round(time.Millisecond), baseline, n)
	if n > baseline {
		var sb strings.Builder
		pprof.Lookup("goroutine").WriteTo(&sb, 1)
		t.Fatalf("%d goroutines left after %d stream cycles, baseline %d:\n%s", n, cycles, baseline, sb.String())
	}
	// The broker still serves, and appends still reach a new tail.
	tail := openTail(t, c, &pb.ConsumeRequest{Topic: "cycles", Offset: 3}, false)
	b.produce("cycles", 0, vals("d")...)
	if e := tail.next(t); string(e.GetValue()) != "d" {
		t.Fatalf("after the cycles a tail got %q", e.GetValue())
	}
}

// settledGoroutines waits for the goroutine count to hold still for a
// moment and returns it: a baseline taken while grpc is still winding down
// the last call would be too high.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	deadline := time.Now().Add(5 * time.Second)
	for stable := 0; stable < 20 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			stable++
		} else {
			stable, n = 0, m
		}
	}
	return n
}

// TestMixedAcksOffsets: when ACKS_NONE and ACKS_LEADER requests share a
// group commit, the offsets acknowledged to ACKS_LEADER producers are where
// their records are. Several goroutines fire ACKS_NONE requests while others
// produce with ACKS_LEADER; every acknowledged offset is then read back.
func TestMixedAcksOffsets(t *testing.T) {
	b := startInproc(t)
	b.createTopic("mixed", 1)
	c := b.Client()
	const leaders, nones, requests = 4, 4, 100
	type ack struct {
		value  []byte
		offset uint64
	}
	acks := make(chan ack, leaders*requests)
	var wg sync.WaitGroup
	for p := range leaders + nones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mode := pb.Acks_ACKS_LEADER
			if p >= leaders {
				mode = pb.Acks_ACKS_NONE
			}
			for r := range requests {
				v := stressValue(p, uint64(r))
				resp, err := c.Produce(testContext(t), &pb.ProduceRequest{Topic: "mixed", Acks: mode,
					Records: []*pb.Record{{Value: v}, {Value: []byte("second")}}})
				if err != nil {
					t.Errorf("producer %d: %v", p, err)
					return
				}
				if mode == pb.Acks_ACKS_LEADER {
					acks <- ack{v, resp.GetBaseOffset()}
				}
			}
		}()
	}
	wg.Wait()
	close(acks)
	total := uint64((leaders + nones) * requests * 2)
	testutil.WaitFor(t, "every ACKS_NONE record to land", func() bool { return b.offsets("mixed", 0).GetNextOffset() == total })
	got := b.readAll("mixed", 0, 0)
	wrong := 0
	for a := range acks {
		if !bytes.Equal(got[a.offset].GetValue(), a.value) {
			if wrong == 0 {
				p, seq, _ := stressDecode(a.value)
				t.Errorf("producer %d request %d acknowledged at offset %d, which holds %q", p, seq, a.offset, got[a.offset].GetValue())
			}
			wrong++
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d acknowledged offsets hold another record", wrong, leaders*requests)
	}
}
