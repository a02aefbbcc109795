package test

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
	"github.com/logbroker/logbroker/segment"
	"github.com/logbroker/logbroker/server"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// smallSegments rolls segments at the minimum size, so that a few records
// make several segments.
func smallSegments(c *partition.Config, _ *server.Options) { c.SegmentBytes = 1024 }

// record100 is a record of about 100 bytes numbered i, with a key, a header
// and a fixed timestamp so that reads can be compared exactly.
func record100(i int) *pb.Record {
	return &pb.Record{
		Key:         fmt.Appendf(nil, "key-%d", i%7),
		Value:       fmt.Appendf(nil, "value-%05d-%s", i, strings.Repeat("v", 70)),
		Headers:     []*pb.Header{{Key: "n", Value: []byte(strconv.Itoa(i))}},
		TimestampMs: 1_700_000_000_000 + int64(i),
	}
}

// fill produces n records of record100 to topic/p, batch by batch.
func (b *inproc) fill(topic string, p uint32, from, n, batch int) {
	b.t.Helper()
	for i := from; i < from+n; i += batch {
		var recs []*pb.Record
		for j := i; j < min(i+batch, from+n); j++ {
			recs = append(recs, record100(j))
		}
		b.produce(topic, p, recs...)
	}
}

// TestRestartKeepsTopicsAndData: after a clean restart every topic is
// found again with its partitions, offsets and records, byte for byte, and
// appends continue at the next offset. Topic names with '-' and digits, which
// look like partition directories, come back as they were.
func TestRestartKeepsTopicsAndData(t *testing.T) {
	b := startInproc(t, smallSegments)
	topics := map[string]uint32{"orders-eu": 3, "a": 12, "a-1": 2, "a-1-1": 1, "x.y_z": 1, "n-": 1, strings.Repeat("L", 249): 2}
	for name, n := range topics {
		b.createTopic(name, n)
	}
	b.fill("orders-eu", 1, 0, 60, 4)
	b.fill("a", 11, 0, 5, 1)
	b.fill("a-1", 1, 0, 7, 7)
	b.fill("a-1-1", 0, 0, 3, 1)
	b.fill("n-", 0, 0, 2, 2)
	b.fill(strings.Repeat("L", 249), 1, 0, 20, 5)
	b.createTopic("gone", 2)
	b.fill("gone", 0, 0, 3, 1)
	if _, err := b.Client().DeleteTopic(testContext(t), &pb.DeleteTopicRequest{Name: "gone"}); err != nil {
		t.Fatal(err)
	}
	// ACKS_NONE records handed to a partition before a clean stop are kept
	// (they may not all be visible yet, so their topic is checked apart).
	b.createTopic("async", 1)
	for i := range 20 {
		_, err := b.Client().Produce(testContext(t), &pb.ProduceRequest{Topic: "async", Records: []*pb.Record{record100(i)}, Acks: pb.Acks_ACKS_NONE})
		if err != nil {
			t.Fatal(err)
		}
	}

	before := snapshot(b)
	c := b.Restart()
	after := snapshot(b)
	if len(after.topics) != len(topics)+1 {
		t.Errorf("after restart, topics %v; want %d topics", after.topics, len(topics)+1)
	}
	if !proto.Equal(before.list, after.list) {
		t.Errorf("ListTopics changed over a restart:\nbefore %v\n after %v", before.list, after.list)
	}
	for name := range topics {
		if !proto.Equal(before.offsets[name], after.offsets[name]) {
			t.Errorf("GetOffsets(%s) changed over a restart:\nbefore %v\n after %v", name, before.offsets[name], after.offsets[name])
		}
		for p, want := range before.entries[name] {
			got := after.entries[name][p]
			if len(got) != len(want) {
				t.Errorf("%s/%d: %d entries after restart, %d before", name, p, len(got), len(want))
				continue
			}
			for i := range want {
				if !proto.Equal(got[i], want[i]) {
					t.Errorf("%s/%d offset %d changed over a restart:\nbefore %v\n after %v", name, p, i, abbrev(want[i]), abbrev(got[i]))
					break
				}
			}
		}
	}
	if got := after.entries["async"][0]; len(got) != 20 {
		t.Errorf("%d of 20 ACKS_NONE records kept over a clean restart", len(got))
	} else {
		for i, e := range got {
			if !proto.Equal(e, entryOf(uint64(i), record100(i))) {
				t.Errorf("ACKS_NONE record %d after restart: %v", i, abbrev(e))
			}
		}
	}
	_, err := c.GetOffsets(testContext(t), &pb.GetOffsetsRequest{Topic: "gone"})
	requireCode(t, "GetOffsets of a topic deleted before the restart", err, codes.NotFound, "gone")

	// Appends continue where the log ended; a live tail works.
	tail := openTail(t, c, &pb.ConsumeRequest{Topic: "orders-eu", Partition: 1, Offset: 60}, true)
	if r := b.produce("orders-eu", 1, record100(60)); r.GetBaseOffset() != 60 {
		t.Errorf("first append after restart got offset %d, want 60", r.GetBaseOffset())
	}
	if e := tail.next(t); e.GetOffset() != 60 || !proto.Equal(e, entryOf(60, record100(60))) {
		t.Errorf("tail after restart got %v", abbrev(e))
	}
}

func entryOf(offset uint64, r *pb.Record) *pb.LogEntry {
	return &pb.LogEntry{Offset: offset, Key: r.GetKey(), Value: r.GetValue(), Headers: r.GetHeaders(), TimestampMs: r.GetTimestampMs()}
}

// brokerState is what a client can see of a broker.
type brokerState struct {
	list    *pb.ListTopicsResponse
	topics  []string
	offsets map[string]*pb.GetOffsetsResponse
	entries map[string]map[uint32][]*pb.LogEntry
}

func snapshot(b *inproc) brokerState {
	b.t.Helper()
	c := b.Client()
	list, err := c.ListTopics(testContext(b.t), &pb.ListTopicsRequest{})
	if err != nil {
		b.t.Fatal(err)
	}
	s := brokerState{list: list, offsets: map[string]*pb.GetOffsetsResponse{}, entries: map[string]map[uint32][]*pb.LogEntry{}}
	for _, tp := range list.GetTopics() {
		name := tp.GetName()
		s.topics = append(s.topics, name)
		if s.offsets[name], err = c.GetOffsets(testContext(b.t), &pb.GetOffsetsRequest{Topic: name}); err != nil {
			b.t.Fatal(err)
		}
		s.entries[name] = map[uint32][]*pb.LogEntry{}
		for _, p := range tp.GetPartitions() {
			s.entries[name][p] = b.readAll(name, p, 0)
		}
	}
	return s
}

// segmentFile matches <topic>-<partition>/<20 digits>.log|.index|.timeindex.
var segmentFile = regexp.MustCompile(`^([a-zA-Z0-9._-]+)-(0|[1-9][0-9]*)/([0-9]{20})\.(log|index|timeindex)$`)

// producerSnapFile is a partition's producer state snapshot.
var producerSnapFile = regexp.MustCompile(`^([a-zA-Z0-9._-]+)-(0|[1-9][0-9]*)/[0-9]{20}\.producers$`)

// TestOnDiskLayout: the data directory holds <topic>-<partition>/ with
// <20-digit base offset>.log, .index and .timeindex triples, each base the offset of the
// segment's first record, and nothing else but the broker's own dot files.
func TestOnDiskLayout(t *testing.T) {
	b := startInproc(t, smallSegments)
	topics := map[string]uint32{"clicks": 2, "a-1": 2, "a": 2}
	for name, n := range topics {
		b.createTopic(name, n)
	}
	b.fill("clicks", 0, 0, 50, 5)
	b.fill("a-1", 1, 0, 30, 1)
	b.fill("a", 0, 0, 1, 1)

	nexts := map[string]uint64{}
	for name, n := range topics {
		for p := range n {
			nexts[fmt.Sprintf("%s-%d", name, p)] = b.offsets(name, p).GetNextOffset()
		}
	}
	check := func(when string) {
		t.Helper()
		bases := map[string][]uint64{}
		err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(b.dir, path)
			switch {
			case rel == ".":
				return nil
			case d.IsDir():
				if strings.Count(rel, string(filepath.Separator)) > 0 {
					t.Errorf("%s: nested directory %s", when, rel)
				}
				return nil
			case rel == ".lock" || rel == ".clean-shutdown" || rel == ".format" || rel == "producer-ids":
				return nil
			case producerSnapFile.MatchString(filepath.ToSlash(rel)):
				return nil // idempotent producers' state, as of that offset
			}
			m := segmentFile.FindStringSubmatch(filepath.ToSlash(rel))
			if m == nil {
				t.Errorf("%s: unexpected file %s in the data directory", when, rel)
				return nil
			}
			base, _ := strconv.ParseUint(m[3], 10, 64)
			if m[4] == "log" {
				dir := m[1] + "-" + m[2]
				bases[dir] = append(bases[dir], base)
			}
			for _, ext := range []string{"log", "index", "timeindex"} {
				if _, err := os.Stat(filepath.Join(filepath.Dir(path), m[3]+"."+ext)); err != nil {
					t.Errorf("%s: %s has no .%s beside it: %v", when, rel, ext, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, n := range topics {
			for p := range n {
				dir := fmt.Sprintf("%s-%d", name, p)
				got := bases[dir]
				sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
				if len(got) == 0 || got[0] != 0 {
					t.Errorf("%s: %s has segments %v, want the first at base 0", when, dir, got)
					continue
				}
				// Every base is the offset of a record (or the next offset,
				// for an empty active segment), in order.
				next := nexts[dir]
				for i, base := range got {
					if base > next || (i > 0 && base <= got[i-1]) {
						t.Errorf("%s: %s segment bases %v (next offset %d)", when, dir, got, next)
					}
				}
				if dir == "clicks-0" && len(got) < 3 {
					t.Errorf("%s: clicks-0 has %d segments after ~5 KB with 1 KB segments", when, len(got))
				}
				delete(bases, dir)
			}
		}
		for dir := range bases {
			t.Errorf("%s: segments in %s, which is no partition", when, dir)
		}
	}
	check("running")
	b.stop()
	check("stopped")
	if _, err := os.Stat(filepath.Join(b.dir, "clicks-0", "00000000000000000000.log")); err != nil {
		t.Errorf("the first segment is not where the layout says: %v", err)
	}
	b.start()
	check("restarted")
}

// TestOutOfRangeBelowLogStart: once retention removed the oldest segments,
// offsets below the log start are OUT_OF_RANGE (named in the message),
// START_EARLIEST starts at the log start, and reading from it works.
func TestOutOfRangeBelowLogStart(t *testing.T) {
	b := startInproc(t, smallSegments, func(c *partition.Config, _ *server.Options) { c.RetentionBytes = 2048 })
	b.createTopic("ret", 1)
	b.fill("ret", 0, 0, 100, 2)
	o := b.offsets("ret", 0)
	start := o.GetLogStartOffset()
	if start == 0 || o.GetNextOffset() != 100 {
		t.Fatalf("offsets after retention of 2 KB over ~10 KB: %v, want log start > 0 and next 100", o)
	}
	t.Logf("log start %d, next %d", start, o.GetNextOffset())
	c := b.Client()
	for _, off := range []uint64{0, start - 1} {
		for _, batches := range []bool{false, true} {
			req := &pb.ConsumeRequest{Topic: "ret", Offset: off}
			var err error
			if batches {
				_, err = consumeBatchesToEnd(testContext(t), c, req)
			} else {
				_, err = consumeToEnd(testContext(t), c, req)
			}
			requireCode(t, fmt.Sprintf("Consume at %d below log start %d (batches %v)", off, start, batches), err, codes.OutOfRange,
				strconv.FormatUint(off, 10), strconv.FormatUint(start, 10))
		}
	}
	got, err := consumeToEnd(testContext(t), c, &pb.ConsumeRequest{Topic: "ret", Start: pb.Start_START_EARLIEST, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[0].GetOffset() != start || !slices.Equal(offsetsOf(got), seq(start, 100)) {
		t.Fatalf("START_EARLIEST read offsets %v, want %d to 99", offsetsOf(got), start)
	}
	for _, e := range got {
		if !proto.Equal(e, entryOf(e.GetOffset(), record100(int(e.GetOffset())))) {
			t.Fatalf("offset %d holds %v", e.GetOffset(), abbrev(e))
		}
	}
	if got := b.readAll("ret", 0, start); len(got) != int(100-start) {
		t.Fatalf("read from the log start: %d entries, want %d", len(got), 100-start)
	}
}

// TestDataLossInSealedSegment: a flipped byte in a sealed segment is found
// on read after a restart: the stream serves the good records before it and
// then ends with DATA_LOSS; reads of other segments and other partitions,
// and appends, keep working.
func TestDataLossInSealedSegment(t *testing.T) {
	where := []struct {
		name string
		pos  func(size int64) int64
		// goodFirst: the segment's first frame is intact, so a reader
		// taking small batches gets its records before DATA_LOSS.
		goodFirst bool
	}{
		{"frame length", func(int64) int64 { return 0 }, false},
		{"frame crc", func(int64) int64 { return 5 }, false},
		{"middle", func(size int64) int64 { return size / 2 }, true},
		{"last byte", func(size int64) int64 { return size - 1 }, true},
	}
	for _, tt := range where {
		t.Run(tt.name, func(t *testing.T) {
			b := startInproc(t, smallSegments)
			b.createTopic("dl", 2)
			const n = 60
			b.fill("dl", 0, 0, n, 3)
			b.fill("dl", 1, 0, 5, 1)
			b.stop()

			dir := filepath.Join(b.dir, "dl-0")
			first := filepath.Join(dir, segment.LogName(0))
			st, err := os.Stat(first)
			if err != nil {
				t.Fatal(err)
			}
			bases := logBases(t, dir)
			if len(bases) < 3 {
				t.Fatalf("only %d segments", len(bases))
			}
			pos := tt.pos(st.Size())
			testutil.FlipByte(t, first, pos, 0xff)
			b.start()
			c := b.Client()

			for _, rc := range []struct {
				batches  bool
				maxBytes uint32
			}{{false, 0}, {true, 0}, {false, 1}, {true, 1}} {
				batches := rc.batches
				req := &pb.ConsumeRequest{Topic: "dl", StopAtEnd: true, MaxBytes: rc.maxBytes}
				var got []*pb.LogEntry
				if batches {
					var bs []*pb.EntryBatch
					bs, err = consumeBatchesToEnd(testContext(t), c, req)
					for _, bt := range bs {
						got = append(got, bt.GetEntries()...)
					}
				} else {
					got, err = consumeToEnd(testContext(t), c, req)
				}
				requireCode(t, fmt.Sprintf("read through a flipped byte at %d of %d (batches %v, max_bytes %d)", pos, st.Size(), batches, rc.maxBytes), err, codes.DataLoss, "offset")
				t.Logf("flip at %d of %d, max_bytes %d: %d good entries, then %v", pos, st.Size(), rc.maxBytes, len(got), err)
				for i, e := range got {
					if e.GetOffset() != uint64(i) || !proto.Equal(e, entryOf(uint64(i), record100(i))) {
						t.Fatalf("served a bad entry before DATA_LOSS: %v", abbrev(e))
					}
				}
				if uint64(len(got)) >= bases[1] {
					t.Fatalf("served %d entries, past the damaged segment ending at %d", len(got), bases[1])
				}
				if tt.goodFirst && rc.maxBytes == 1 && len(got) == 0 {
					t.Errorf("with max_bytes 1, the intact first frame was not served before DATA_LOSS")
				}
			}
			// The next segment and the other partition serve as before.
			if got := b.readAll("dl", 0, bases[1]); len(got) != n-int(bases[1]) {
				t.Errorf("read from the second segment: %d entries, want %d", len(got), n-int(bases[1]))
			}
			if got := b.readAll("dl", 1, 0); len(got) != 5 {
				t.Errorf("other partition: %d entries, want 5", len(got))
			}
			if r := b.produce("dl", 0, record100(n)); r.GetBaseOffset() != n {
				t.Errorf("append after DATA_LOSS got offset %d, want %d", r.GetBaseOffset(), n)
			}
		})
	}
}

// logBases lists the base offsets of the .log files in a partition dir.
func logBases(t *testing.T, dir string) []uint64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bases []uint64
	for _, e := range entries {
		if base, ok := segment.ParseBase(e.Name()); ok && strings.HasSuffix(e.Name(), ".log") {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	return bases
}

// TestDiskFull: with the disk full, a produce gets RESOURCE_EXHAUSTED
// promptly, no partial record becomes visible, and appends resume at the next
// offset once space returns.
func TestDiskFull(t *testing.T) {
	fsys := errorfs.NewFaultFS()
	b := startInproc(t, func(c *partition.Config, _ *server.Options) { c.FS = fsys })
	b.createTopic("full", 1)
	// Full before the first append, so the segment holds no zeros written
	// ahead (--fsync always preallocates) that appends could fill first.
	fsys.SetCapacity(fsys.Used() + 3200)
	b.fill("full", 0, 0, 1, 1)
	c := b.Client()
	acked := 1
	var err error
	var took time.Duration
	for i := 1; i < 100; i++ {
		start := time.Now()
		_, err = c.Produce(testContext(t), &pb.ProduceRequest{Topic: "full", Records: []*pb.Record{record100(i)}})
		took = time.Since(start)
		if err != nil {
			break
		}
		acked++
	}
	requireCode(t, "Produce to a full disk", err, codes.ResourceExhausted, "disk full", "full-0")
	t.Logf("disk full after %d records; refused in %s: %v", acked, took, err)
	if took > 10*time.Second {
		t.Errorf("the refusal took %s", took)
	}
	// Still full: refused again, nothing visible.
	_, err = c.Produce(testContext(t), &pb.ProduceRequest{Topic: "full", Records: []*pb.Record{record100(acked), record100(acked + 1)}})
	requireCode(t, "second Produce to a full disk", err, codes.ResourceExhausted)
	check := func(want int) {
		t.Helper()
		if o := b.offsets("full", 0); o.GetNextOffset() != uint64(want) {
			t.Fatalf("next offset %d, want %d", o.GetNextOffset(), want)
		}
		got := b.readAll("full", 0, 0)
		if len(got) != want {
			t.Fatalf("read %d entries, want %d", len(got), want)
		}
		for i, e := range got {
			if !proto.Equal(e, entryOf(uint64(i), record100(i))) {
				t.Fatalf("offset %d holds %v", i, abbrev(e))
			}
		}
	}
	check(acked)

	fsys.SetCapacity(0)
	if r := b.produce("full", 0, record100(acked)); r.GetBaseOffset() != uint64(acked) {
		t.Fatalf("first append after space returned got offset %d, want %d", r.GetBaseOffset(), acked)
	}
	check(acked + 1)
	c = b.Restart()
	check(acked + 1)
}

// TestUnavailableWhileStopping: a stopping server ends its open streams with
// UNAVAILABLE, and new calls are refused with UNAVAILABLE.
func TestUnavailableWhileStopping(t *testing.T) {
	b := startInproc(t)
	b.createTopic("u", 1)
	c := b.Client()
	tails := []*tailStream{
		openTail(t, c, &pb.ConsumeRequest{Topic: "u"}, false),
		openTail(t, c, &pb.ConsumeRequest{Topic: "u"}, true),
	}
	b.syncTails("u", 0, tails...)
	other, err := grpc.NewClient(b.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	b.stopServer()
	for i, s := range tails {
		requireCode(t, fmt.Sprintf("tail %d at shutdown", i), s.end(t), codes.Unavailable, "shutting down")
	}
	_, err = pb.NewBrokerServiceClient(other).Produce(testContext(t), &pb.ProduceRequest{Topic: "u", Records: vals("late")})
	requireCode(t, "Produce after Stop", err, codes.Unavailable)
}

// TestUnavailableWhenStorageStops: calls reaching storage that has been
// closed under a running server get UNAVAILABLE, and live tails end with it.
func TestUnavailableWhenStorageStops(t *testing.T) {
	b := startInproc(t)
	b.createTopic("halted", 1)
	c := b.Client()
	tail := openTail(t, c, &pb.ConsumeRequest{Topic: "halted"}, false)
	b.syncTails("halted", 0, tail)
	if err := b.reg.Close(); err != nil {
		t.Fatal(err)
	}
	requireCode(t, "tail when storage stops", tail.end(t), codes.Unavailable, "halted/0")
	for _, tt := range storageStoppedCalls(c) {
		requireCode(t, tt.name, tt.call(testContext(t)), codes.Unavailable)
	}
}

// storageStoppedCalls are calls on topic "halted" (and a new topic "new")
// that reach storage.
func storageStoppedCalls(c pb.BrokerServiceClient) []errCase {
	return []errCase{
		{"Produce", func(ctx context.Context) error {
			_, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "halted", Records: vals("x")})
			return err
		}, codes.Unavailable, []string{"halted"}},
		{"Produce ACKS_NONE", func(ctx context.Context) error {
			_, err := c.Produce(ctx, &pb.ProduceRequest{Topic: "halted", Records: vals("x"), Acks: pb.Acks_ACKS_NONE})
			return err
		}, codes.Unavailable, []string{"halted"}},
		{"GetOffsets", func(ctx context.Context) error {
			_, err := c.GetOffsets(ctx, &pb.GetOffsetsRequest{Topic: "halted"})
			return err
		}, codes.Unavailable, []string{"halted"}},
		{"Consume", func(ctx context.Context) error {
			_, err := consumeToEnd(ctx, c, &pb.ConsumeRequest{Topic: "halted", StopAtEnd: true})
			return err
		}, codes.Unavailable, []string{"halted"}},
		{"ConsumeBatches", func(ctx context.Context) error {
			_, err := consumeBatchesToEnd(ctx, c, &pb.ConsumeRequest{Topic: "halted", StopAtEnd: true})
			return err
		}, codes.Unavailable, []string{"halted"}},
		{"CreateTopic", func(ctx context.Context) error {
			_, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: "new", Partitions: 1})
			return err
		}, codes.Unavailable, []string{"new"}},
		{"DeleteTopic", func(ctx context.Context) error {
			_, err := c.DeleteTopic(ctx, &pb.DeleteTopicRequest{Name: "halted"})
			return err
		}, codes.Unavailable, []string{"halted"}},
	}
}

// TestStorageStoppedMessages: API.md wants every error message to say
// with which value something went wrong; UNAVAILABLE from stopped storage
// names the topic (and partition) like the Consume path does.
func TestStorageStoppedMessages(t *testing.T) {
	b := startInproc(t)
	b.createTopic("halted", 1)
	c := b.Client()
	if err := b.reg.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range storageStoppedCalls(c) {
		t.Run(tt.name, func(t *testing.T) {
			requireCode(t, tt.name, tt.call(testContext(t)), tt.wantCode, tt.wantInMsg...)
		})
	}
}

// TestServeAfterStop: Serve's contract is "returns nil after Stop". A Stop
// that lands before Serve has started (a signal right at start-up, in
// cmd/broker's errgroup) must not turn a graceful stop into an error.
func TestServeAfterStop(t *testing.T) {
	b := startInproc(t)
	srv, err := server.New(server.Options{Registry: server.FromRegistry(b.reg), Logger: b.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(testContext(t)); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := srv.Serve(lis); err != nil {
		t.Errorf("Serve after Stop = %v, want nil", err)
	}
}

// TestUnavailableWhileStarting: a server that listens while storage
// recovers (Options.Starting) answers UNAVAILABLE until Ready.
func TestUnavailableWhileStarting(t *testing.T) {
	b := startInproc(t, func(_ *partition.Config, o *server.Options) { o.Starting = true })
	c := b.Client()
	_, err := c.ListTopics(testContext(t), &pb.ListTopicsRequest{})
	requireCode(t, "ListTopics while starting", err, codes.Unavailable, "starting")
	_, err = consumeToEnd(testContext(t), c, &pb.ConsumeRequest{Topic: "t"})
	requireCode(t, "Consume while starting", err, codes.Unavailable, "starting")
	b.srv.Ready()
	b.createTopic("t", 1)
	b.produce("t", 0, vals("x")...)
}

// TestCleanRestartIsQuiet: a clean stop and start of a broker holding empty
// partitions (a new topic, or an active segment just rolled) logs no
// warning: nothing was damaged.
func TestCleanRestartIsQuiet(t *testing.T) {
	b := startInproc(t)
	b.createTopic("empty", 2)
	b.fill("empty", 1, 0, 3, 1)
	b.Restart()
	if lines := b.logs.take(); len(lines) > 0 {
		t.Errorf("a clean restart logged %d warnings, first: %s", len(lines), lines[0])
	}
}

// TestRetentionByAge: segments older than the retention age go, by the
// background check as well as at a roll, and the active segment always
// stays: the newest records remain readable.
func TestRetentionByAge(t *testing.T) {
	b := startInproc(t, smallSegments, func(c *partition.Config, _ *server.Options) {
		c.RetentionAge = time.Millisecond
		c.RetentionCheck = 10 * time.Millisecond
	})
	b.createTopic("age", 1)
	b.fill("age", 0, 0, 40, 4)
	testutil.WaitFor(t, "retention by age to delete every sealed segment", func() bool {
		o := b.offsets("age", 0)
		return o.GetLogStartOffset() > 0 && len(logBases(t, filepath.Join(b.dir, "age-0"))) == 1
	})
	o := b.offsets("age", 0)
	if o.GetNextOffset() != 40 || o.GetLogStartOffset() > 40 {
		t.Fatalf("offsets %v after retention, want next 40", o)
	}
	got, err := consumeToEnd(testContext(t), b.Client(), &pb.ConsumeRequest{Topic: "age", Start: pb.Start_START_EARLIEST, StopAtEnd: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || !slices.Equal(offsetsOf(got), seq(o.GetLogStartOffset(), 40)) {
		t.Fatalf("read offsets %v, want %d to 39", offsetsOf(got), o.GetLogStartOffset())
	}
}

// TestRestartKeepsTopicsNamedLikeBrokerFiles: topic names are free within
// API.md's rule, so names that look like the broker's own bookkeeping (a
// deleted topic's ".deleted-" directories, the lock and marker files, the
// consumer-group directory) are ordinary topics that survive a restart.
func TestRestartKeepsTopicsNamedLikeBrokerFiles(t *testing.T) {
	b := startInproc(t)
	names := []string{".deleted-1-a", ".deleted-", ".lock", ".clean-shutdown", "__groups", ".tmp", ".trash"}
	for _, name := range names {
		b.createTopic(name, 2)
		b.produce(name, 1, vals("kept")...)
	}
	b.Restart()
	for _, name := range names {
		resp, err := b.Client().GetOffsets(testContext(t), &pb.GetOffsetsRequest{Topic: name})
		if err != nil {
			t.Errorf("topic %q after restart: %v", name, err)
			continue
		}
		if len(resp.GetPartitions()) != 2 || resp.GetPartitions()[1].GetNextOffset() != 1 {
			t.Errorf("topic %q after restart: %v", name, resp.GetPartitions())
		}
	}
}
