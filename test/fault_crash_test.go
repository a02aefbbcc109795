package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logbroker/logbroker/pb"
)

// TestFaultCrashLoop kills the broker with SIGKILL at a random moment while
// several producers append unique records with ACKS_LEADER to 16 partitions,
// restarts it, and checks after every cycle that every acknowledged record is
// at its offset with its value, that offsets are dense, and that no offset
// ever shows two values. Every producer must have a request acknowledged in
// every cycle before the kill (the kill waits for it): a broker whose
// Produce never answers has nothing to lose, and would pass the rest.
//
//	short: 20 cycles, kill 0.2-1 s in
//	long:  LOGBROKER_LONG=1, 500 cycles, kill 0.2-3 s in
//	knobs: LOGBROKER_CRASH_CYCLES, LOGBROKER_CRASH_MAX_MS, LOGBROKER_CRASH_FULL_EVERY
func TestFaultCrashLoop(t *testing.T) {
	const (
		topic      = "crash"
		partitions = 16
		producers  = 4
	)
	cycles := faultKnob(t, "LOGBROKER_CRASH_CYCLES", 20, 500)
	maxMs := faultKnob(t, "LOGBROKER_CRASH_MAX_MS", 1000, 3000)
	// A full re-read of every partition every fullEvery cycles; in between
	// only the tail (from a margin below the last cycle's end) is read, since
	// recovery touches only active segments.
	fullEvery := faultKnob(t, "LOGBROKER_CRASH_FULL_EVERY", 1, 10)
	const margin = 4096

	b := StartProcBroker(t, ProcOptions{Args: []string{"--segment-bytes=32768"}})
	if _, err := b.Client().CreateTopic(faultCtx(t, time.Minute), &pb.CreateTopicRequest{Name: topic, Partitions: partitions}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	m := newCrashModel(partitions, producers)
	seqs := make([]uint64, producers) // next sequence number per producer, kept across cycles
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	var st crashStats
	for cycle := 1; cycle <= cycles; cycle++ {
		killAfter := time.Duration(200+rng.IntN(maxMs-200+1)) * time.Millisecond
		acks, errs := runCrashCycle(t, b, topic, partitions, seqs, killAfter)
		for _, err := range errs {
			t.Errorf("cycle %d: produce failed before the kill: %v", cycle, err)
		}
		if len(errs) > 0 {
			t.FailNow()
		}
		for _, a := range acks {
			if err := m.ack(a); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
			st.acked += uint64(len(a.ids))
		}
		info := b.Start()
		if info.Clean {
			t.Errorf("cycle %d: start after SIGKILL says clean: %+v", cycle, info)
		}
		if info.ScannedSegments > info.Partitions {
			t.Errorf("cycle %d: recovery scanned %d segments for %d partitions: sealed segments were scanned", cycle, info.ScannedSegments, info.Partitions)
		}
		st.add(info)
		full := cycle%fullEvery == 0 || cycle == cycles
		n, err := m.verify(faultCtx(t, 5*time.Minute), b.Client(), topic, full, margin)
		if err != nil {
			t.Fatalf("cycle %d (killed %s in, %d acks): %v\nlog: %s", cycle, killAfter, len(acks), err, b.LogPath())
		}
		st.verified += n
		if testing.Verbose() && (cycle%25 == 0 || cycle == cycles) {
			t.Logf("cycle %d: %s", cycle, st.String(m))
		}
	}
	t.Logf("FIGURE crash loop: %d cycles, %s", cycles, st.String(m))
}

// crashAck is one acknowledged produce request.
type crashAck struct {
	p    uint32
	base uint64
	ids  []uint64
}

// runCrashCycle runs the producers, kills the broker after killAfter, and
// returns what was acknowledged and any error seen before the kill.
func runCrashCycle(t *testing.T, b *ProcBroker, topic string, partitions int, seqs []uint64, killAfter time.Duration) ([]crashAck, []error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var killed atomic.Bool
	var wg sync.WaitGroup
	acks := make([][]crashAck, len(seqs))
	errs := make([][]error, len(seqs))
	ackedBy := make([]atomic.Int64, len(seqs)) // requests acknowledged, by producer
	ended := make([]atomic.Bool, len(seqs))    // producer stopped before the kill
	for w := range seqs {
		conn := faultConn(t, b.Addr())
		defer conn.Close()
		c := pb.NewBrokerServiceClient(conn)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ended[w].Store(true)
			rng := rand.New(rand.NewPCG(uint64(w), uint64(seqs[w])))
			for ctx.Err() == nil {
				p := uint32(rng.IntN(partitions))
				n := 1 + rng.IntN(8)
				ids := make([]uint64, n)
				recs := make([]*pb.Record, n)
				for i := range ids {
					seqs[w]++
					ids[i] = crashID(w, seqs[w])
					recs[i] = &pb.Record{Value: crashValue(ids[i])}
				}
				cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
				resp, err := c.Produce(cctx, &pb.ProduceRequest{Topic: topic, Partition: p, Records: recs, Acks: pb.Acks_ACKS_LEADER})
				ccancel()
				if err != nil {
					if !killed.Load() {
						errs[w] = append(errs[w], err)
					}
					return
				}
				if resp.GetLastOffset()-resp.GetBaseOffset()+1 != uint64(n) {
					errs[w] = append(errs[w], fmt.Errorf("produce of %d records acked offsets [%d, %d]", n, resp.GetBaseOffset(), resp.GetLastOffset()))
					return
				}
				acks[w] = append(acks[w], crashAck{p: p, base: resp.GetBaseOffset(), ids: ids})
				ackedBy[w].Add(1)
			}
		}()
	}
	time.Sleep(killAfter) // the fault's moment is the point of the test, not a wait for a condition
	// ... but not before every producer has had an answer, so that a
	// broker that never acknowledges fails here (partition/fault_test.go
	// has the same guard).
	deadline := time.Now().Add(procWait)
	for waiting := true; waiting; {
		waiting = false
		for w := range ackedBy {
			if ackedBy[w].Load() == 0 && !ended[w].Load() {
				waiting = true
			}
		}
		if waiting && time.Now().After(deadline) {
			break
		}
		if waiting {
			time.Sleep(5 * time.Millisecond)
		}
	}
	killed.Store(true)
	b.Kill()
	cancel()
	wg.Wait()
	var all []crashAck
	var allErrs []error
	for w := range acks {
		if len(acks[w]) == 0 && len(errs[w]) == 0 {
			allErrs = append(allErrs, fmt.Errorf("producer %d: no produce acknowledged within %s (killed after %s)", w, killAfter+procWait, killAfter))
		}
		all = append(all, acks[w]...)
		allErrs = append(allErrs, errs[w]...)
	}
	return all, allErrs
}

// A record's id is its producer and sequence number; its value is the id in
// hex and a padding derived from it, so any stored value can be checked.
func crashID(producer int, seq uint64) uint64 { return uint64(producer)<<40 | seq }

func crashValue(id uint64) []byte {
	v := []byte(fmt.Sprintf("%016x:", id))
	pad := byte('a' + id%26)
	for range id % 97 {
		v = append(v, pad)
	}
	return v
}

func crashDecode(v []byte) (uint64, bool) {
	if len(v) < 17 {
		return 0, false
	}
	id, err := strconv.ParseUint(string(v[:16]), 16, 64)
	if err != nil || id == 0 {
		return 0, false
	}
	return id, string(v) == string(crashValue(id))
}

// crashModel is what the producers were told and what reads have shown.
type crashModel struct {
	acked [][]uint64 // by partition, by offset: the acknowledged id (0: none)
	seen  [][]uint64 // by partition, by offset: the id a read returned (0: never read)
	where [][]uint64 // by producer, by seq: 1 + partition<<40 | offset of the id
	ends  []uint64   // by partition: next offset at the last verify
}

func newCrashModel(partitions, producers int) *crashModel {
	return &crashModel{
		acked: make([][]uint64, partitions),
		seen:  make([][]uint64, partitions),
		where: make([][]uint64, producers),
		ends:  make([]uint64, partitions),
	}
}

func grow(s []uint64, n uint64) []uint64 {
	for uint64(len(s)) < n {
		s = append(s, 0)
	}
	return s
}

func (m *crashModel) ack(a crashAck) error {
	m.acked[a.p] = grow(m.acked[a.p], a.base+uint64(len(a.ids)))
	for i, id := range a.ids {
		o := a.base + uint64(i)
		if old := m.acked[a.p][o]; old != 0 && old != id {
			return fmt.Errorf("partition %d offset %d acknowledged twice: for id %x and for id %x", a.p, o, old, id)
		}
		m.acked[a.p][o] = id
	}
	return nil
}

// verify reads every partition (from 0 when full, else from a margin below
// the last verify's end) and checks it against the model. It returns the
// number of entries read.
func (m *crashModel) verify(ctx context.Context, c pb.BrokerServiceClient, topic string, full bool, margin uint64) (uint64, error) {
	ends, err := nextOffsets(ctx, c, topic)
	if err != nil {
		return 0, err
	}
	var read uint64
	for p := range m.acked {
		p32 := uint32(p)
		if acked := uint64(len(m.acked[p])); ends[p] < acked {
			return read, fmt.Errorf("partition %d: next offset %d below acknowledged offset %d: acknowledged records lost", p, ends[p], acked-1)
		}
		if ends[p] < m.ends[p] {
			return read, fmt.Errorf("partition %d: next offset %d below %d seen before", p, ends[p], m.ends[p])
		}
		from := uint64(0)
		if !full && m.ends[p] > margin {
			from = m.ends[p] - margin
		}
		m.seen[p] = grow(m.seen[p], ends[p])
		want := from
		end, err := readRange(ctx, c, topic, p32, from, func(e *pb.LogEntry) error {
			o := e.GetOffset()
			if o != want {
				return fmt.Errorf("partition %d: offset %d where %d was due: offsets not dense", p, o, want)
			}
			want++
			if o >= ends[p] {
				return fmt.Errorf("partition %d: offset %d at or past next offset %d", p, o, ends[p])
			}
			id, ok := crashDecode(e.GetValue())
			if !ok {
				return fmt.Errorf("partition %d offset %d: value %.40q is no value any producer wrote", p, o, e.GetValue())
			}
			if old := m.seen[p][o]; old != 0 && old != id {
				return fmt.Errorf("partition %d offset %d holds id %x, and held id %x before", p, o, id, old)
			}
			if err := m.place(id, p, o); err != nil {
				return err
			}
			m.seen[p][o] = id
			read++
			return nil
		})
		if err != nil {
			return read, fmt.Errorf("read partition %d from %d: %w", p, from, err)
		}
		if end != ends[p] && !(end == from && ends[p] == from) {
			return read, fmt.Errorf("partition %d: read ended at %d, next offset is %d", p, end, ends[p])
		}
		for o := from; o < uint64(len(m.acked[p])); o++ {
			if id := m.acked[p][o]; id != 0 && m.seen[p][o] != id {
				return read, fmt.Errorf("partition %d offset %d: acknowledged id %x, read %x: acknowledged record lost", p, o, id, m.seen[p][o])
			}
		}
		m.ends[p] = ends[p]
	}
	return read, nil
}

// place records where id was read and fails if it was read elsewhere.
func (m *crashModel) place(id uint64, p int, o uint64) error {
	w, seq := int(id>>40), id&(1<<40-1)
	if w >= len(m.where) {
		return fmt.Errorf("partition %d offset %d: id %x from producer %d of %d", p, o, id, w, len(m.where))
	}
	m.where[w] = grow(m.where[w], seq+1)
	loc := 1 + uint64(p)<<40 | o
	if old := m.where[w][seq]; old != 0 && old != loc {
		return fmt.Errorf("id %x stored twice: partition %d offset %d and partition %d offset %d", id, (old-1)>>40, (old-1)&(1<<40-1), p, o)
	}
	m.where[w][seq] = loc
	return nil
}

type crashStats struct {
	acked, verified uint64
	truncated       int64
	scanned         int
	starts          int
	startTotal      time.Duration
	startMax        time.Duration
	recoveryMax     float64
}

func (s *crashStats) add(info StartInfo) {
	s.truncated += info.TruncatedBytes
	s.scanned += info.ScannedSegments
	s.starts++
	s.startTotal += info.Took
	s.startMax = max(s.startMax, info.Took)
	s.recoveryMax = max(s.recoveryMax, info.RecoveryMs)
}

func (s *crashStats) String(m *crashModel) string {
	var stored uint64
	for _, e := range m.ends {
		stored += e
	}
	return fmt.Sprintf("%d records acknowledged, %d stored, %d entry reads checked, 0 lost, 0 offsets with two values; "+
		"torn bytes truncated %d; segments scanned %d (%.1f per start); start to SERVING mean %s max %s; recovery max %.1f ms",
		s.acked, stored, s.verified, s.truncated, s.scanned, float64(s.scanned)/float64(max(s.starts, 1)),
		(s.startTotal / time.Duration(max(s.starts, 1))).Round(time.Millisecond), s.startMax.Round(time.Millisecond), s.recoveryMax)
}
