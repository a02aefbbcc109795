package test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/internal/testutil"
	"github.com/logbroker/logbroker/pb"
)

const (
	dmgTopic      = "dmg"
	dmgPartitions = 4
)

// dmgFixture is a data directory with several sealed segments per partition,
// stopped cleanly, and what every partition held then.
type dmgFixture struct {
	b        *ProcBroker
	pristine string     // copy of the data dir after the clean stop
	entries  [][][]byte // by partition, by offset: the entry's wire bytes
}

// newDmgFixture fills 4 partitions with 120 frames of 4 records each
// (about 7 segments of 8 KiB per partition) and stops the broker cleanly.
func newDmgFixture(t *testing.T) *dmgFixture {
	t.Helper()
	b := StartProcBroker(t, ProcOptions{Args: []string{"--segment-bytes=8192"}})
	ctx := faultCtx(t, 5*time.Minute)
	c := b.Client()
	if _, err := c.CreateTopic(ctx, &pb.CreateTopicRequest{Name: dmgTopic, Partitions: dmgPartitions}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	for p := range uint32(dmgPartitions) {
		for f := range 120 {
			recs := make([]*pb.Record, 4)
			for i := range recs {
				recs[i] = &pb.Record{
					Key:     []byte(fmt.Sprintf("k%d", i)),
					Value:   bytes.Repeat([]byte(fmt.Sprintf("p%d-f%d-r%d;", p, f, i)), 8),
					Headers: []*pb.Header{{Key: "h", Value: []byte{byte(f)}}},
				}
			}
			if _, err := c.Produce(ctx, &pb.ProduceRequest{Topic: dmgTopic, Partition: p, Records: recs}); err != nil {
				t.Fatalf("Produce: %v", err)
			}
		}
	}
	fx := &dmgFixture{b: b, entries: fx0Read(t, c)}
	if e := b.Terminate(time.Minute); e.Code != 0 {
		t.Fatalf("SIGTERM: %v", e)
	}
	fx.pristine = filepath.Join(t.TempDir(), "pristine")
	copyTree(t, b.DataDir, fx.pristine)
	return fx
}

// fx0Read reads every partition whole, as wire bytes by offset.
func fx0Read(t *testing.T, c pb.BrokerServiceClient) [][][]byte {
	t.Helper()
	out := make([][][]byte, dmgPartitions)
	for p := range uint32(dmgPartitions) {
		es, err := readAllEntries(faultCtx(t, time.Minute), c, dmgTopic, p, 0)
		if err != nil {
			t.Fatalf("read %d: %v", p, err)
		}
		for _, e := range es {
			out[p] = append(out[p], entryBytes(t, e))
		}
	}
	return out
}

func entryBytes(t testing.TB, e *pb.LogEntry) []byte {
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// restore puts the pristine data dir back (the broker must be stopped).
func (fx *dmgFixture) restore(t *testing.T) {
	t.Helper()
	if err := os.RemoveAll(fx.b.DataDir); err != nil {
		t.Fatal(err)
	}
	copyTree(t, fx.pristine, fx.b.DataDir)
}

func (fx *dmgFixture) partDir(p uint32) string {
	return filepath.Join(fx.b.DataDir, fmt.Sprintf("%s-%d", dmgTopic, p))
}

// check reads p from offset from and compares with the fixture. It returns
// how many entries matched and the stream's code. Any entry that differs
// from what was stored fails the test: nothing corrupt may be served.
func (fx *dmgFixture) check(t *testing.T, p uint32, from uint64) (int, codes.Code) {
	t.Helper()
	n := 0
	_, err := readRange(faultCtx(t, time.Minute), fx.b.Client(), dmgTopic, p, from, func(e *pb.LogEntry) error {
		o := from + uint64(n)
		if e.GetOffset() != o {
			return fmt.Errorf("offset %d where %d was due", e.GetOffset(), o)
		}
		if o >= uint64(len(fx.entries[p])) || !bytes.Equal(entryBytes(t, e), fx.entries[p][o]) {
			return fmt.Errorf("partition %d offset %d served bytes that differ from what was stored", p, o)
		}
		n++
		return nil
	})
	if err != nil && status.Code(err) == codes.Unknown {
		t.Fatalf("read %d from %d: %v", p, from, err)
	}
	return n, status.Code(err)
}

// diskFrame is one frame header of a .log file (see segment/doc.go).
type diskFrame struct {
	pos, size int64
	base      uint64
	count     uint32
}

func readFrames(t testing.TB, path string) []diskFrame {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// RecordBatch v2, big-endian: base offset at 0, length (of what
	// follows it) at 8, record count at 57.
	var out []diskFrame
	for pos := 0; pos+61 <= len(data); {
		if binary.BigEndian.Uint32(data[pos+8:]) == 0 {
			break // zeros written ahead of the data (--fsync always preallocates)
		}
		size := 12 + int(binary.BigEndian.Uint32(data[pos+8:]))
		out = append(out, diskFrame{
			pos:   int64(pos),
			size:  int64(size),
			count: binary.BigEndian.Uint32(data[pos+57:]),
			base:  binary.BigEndian.Uint64(data[pos:]),
		})
		pos += size
	}
	return out
}

// inLeaderEpoch reports whether pos is in a batch's leader epoch: Kafka's
// format keeps it outside the CRC (the broker sets it), no record holds it,
// so a flip there changes nothing served and no read can see it.
func inLeaderEpoch(frames []diskFrame, pos int64) bool {
	for _, f := range frames {
		if pos >= f.pos+12 && pos < f.pos+16 {
			return true
		}
	}
	return false
}

// TestFaultCorruptSegment flips bytes in sealed segments, restarts the
// broker (after a clean stop, and after a kill), and checks that reads of
// the damaged range get DATA_LOSS, that nothing that differs from what was
// stored is ever served, and that other ranges and partitions keep serving
// (reads after the damaged segment, the other partitions, new appends).
//
// Then it flips single random bits: every one must be detected.
//
//	short: 3 fixed cases x 2 restarts, 6 random flips
//	long:  LOGBROKER_LONG=1, 200 random flips; knob LOGBROKER_CORRUPT_FLIPS
func TestFaultCorruptSegment(t *testing.T) {
	fx := newDmgFixture(t)
	// The damaged field of one frame in the middle of a sealed segment.
	fields := []struct {
		name string
		p    uint32
		seg  int   // index of the sealed segment
		at   int64 // byte within the frame
	}{
		{"payload", 0, 1, 100},
		{"crc", 1, 2, 18},
		{"length", 2, 3, 11},
		// partition 3 is left alone.
	}
	for _, stop := range []string{"clean", "kill"} {
		t.Run("fixed/"+stop, func(t *testing.T) {
			fx.restore(t)
			type damage struct {
				frame   diskFrame
				nextSeg uint64
			}
			dmg := map[uint32]damage{}
			for _, tt := range fields {
				bases := segmentFiles(t, fx.partDir(tt.p))
				if len(bases) < tt.seg+2 {
					t.Fatalf("partition %d has %d segments, want a sealed one at %d", tt.p, len(bases), tt.seg)
				}
				path := filepath.Join(fx.partDir(tt.p), segmentName(bases[tt.seg], ".log"))
				frames := readFrames(t, path)
				f := frames[len(frames)/2]
				testutil.FlipByte(t, path, f.pos+tt.at, 0x10)
				dmg[tt.p] = damage{frame: f, nextSeg: bases[tt.seg+1]}
			}
			if stop == "kill" {
				os.Remove(filepath.Join(fx.b.DataDir, ".clean-shutdown"))
			}
			info := fx.b.Start()
			defer fx.b.Terminate(time.Minute)
			if info.Clean != (stop == "clean") {
				t.Errorf("start = %+v, want clean %v", info, stop == "clean")
			}
			for _, tt := range fields {
				d := dmg[tt.p]
				f := d.frame
				// From the start: the records before the damaged frame, then DATA_LOSS.
				n, code := fx.check(t, tt.p, 0)
				if code != codes.DataLoss || uint64(n) > f.base {
					t.Errorf("%s: read from 0 served %d records and ended with %v; want at most %d, then DATA_LOSS", tt.name, n, code, f.base)
				}
				// Inside the damaged frame: DATA_LOSS at once.
				for _, o := range []uint64{f.base, f.base + uint64(f.count) - 1} {
					if n, code := fx.check(t, tt.p, o); code != codes.DataLoss || n != 0 {
						t.Errorf("%s: read from %d (in the damaged frame) served %d and ended with %v; want DATA_LOSS", tt.name, o, n, code)
					}
				}
				// After it in the same segment: correct records or DATA_LOSS, never others.
				after := f.base + uint64(f.count)
				nAfter, codeAfter := fx.check(t, tt.p, after)
				// From the next segment on: everything, to the end.
				nNext, codeNext := fx.check(t, tt.p, d.nextSeg)
				if want := len(fx.entries[tt.p]) - int(d.nextSeg); codeNext != codes.OK || nNext != want {
					t.Errorf("%s: read from the next segment (%d) served %d of %d, ended %v", tt.name, d.nextSeg, nNext, want, codeNext)
				}
				t.Logf("%s flip in frame [%d,%d): from 0 served %d then %v; from %d (same segment, after it) served %d then %v; from the next segment %d served %d",
					tt.name, f.base, after, n, code, after, nAfter, codeAfter, d.nextSeg, nNext)
				// The partition still takes and serves appends.
				ctx := faultCtx(t, time.Minute)
				resp, err := fx.b.Client().Produce(ctx, &pb.ProduceRequest{Topic: dmgTopic, Partition: tt.p, Records: []*pb.Record{{Value: []byte("after")}}})
				if err != nil {
					t.Errorf("%s: produce after the damage: %v", tt.name, err)
					continue
				}
				es, err := readAllEntries(ctx, fx.b.Client(), dmgTopic, tt.p, resp.GetBaseOffset())
				if err != nil || len(es) != 1 || string(es[0].GetValue()) != "after" {
					t.Errorf("%s: read of the new record: %v %v", tt.name, es, err)
				}
			}
			if n, code := fx.check(t, 3, 0); code != codes.OK || n != len(fx.entries[3]) {
				t.Errorf("undamaged partition served %d of %d, ended %v", n, len(fx.entries[3]), code)
			}
			t.Run("intact records before the damage", func(t *testing.T) {
				for _, tt := range fields {
					f := dmg[tt.p].frame
					// Every intact record before the damaged frame is served,
					// from any start, before DATA_LOSS.
					for _, from := range []uint64{0, f.base - 1} {
						n, code := fx.check(t, tt.p, from)
						if code != codes.DataLoss || from+uint64(n) != f.base {
							t.Errorf("%s: read from %d served up to %d, ended %v; want up to %d, then DATA_LOSS", tt.name, from, from+uint64(n), code, f.base)
						}
					}
				}
			})
		})
	}

	flips := faultKnob(t, "LOGBROKER_CORRUPT_FLIPS", 6, 200)
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
		detected := 0
		for i := range flips {
			fx.restore(t)
			p := uint32(rng.IntN(dmgPartitions))
			bases := segmentFiles(t, fx.partDir(p))
			seg := rng.IntN(len(bases) - 1) // sealed only
			path := filepath.Join(fx.partDir(p), segmentName(bases[seg], ".log"))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			pos := rng.Int64N(fi.Size())
			for inLeaderEpoch(readFrames(t, path), pos) {
				pos = rng.Int64N(fi.Size())
			}
			mask := byte(1) << rng.IntN(8)
			testutil.FlipByte(t, path, pos, mask)
			fx.b.Start()
			n, code := fx.check(t, p, 0)
			if code == codes.DataLoss && uint64(n) >= bases[seg] && uint64(n) < bases[seg+1] {
				detected++
			} else {
				t.Errorf("flip %d: bit %#x at byte %d of segment %d of partition %d: read from 0 served %d and ended %v; want DATA_LOSS inside [%d, %d)",
					i, mask, pos, bases[seg], p, n, code, bases[seg], bases[seg+1])
			}
			if n, code := fx.check(t, p, bases[seg+1]); code != codes.OK || n != len(fx.entries[p])-int(bases[seg+1]) {
				t.Errorf("flip %d: read from the next segment served %d, ended %v", i, n, code)
			}
			fx.b.Terminate(time.Minute)
		}
		t.Logf("FIGURE corruption: %d of %d random single-bit flips in sealed segments detected (DATA_LOSS in the flipped segment, nothing wrong served, next segments served)", detected, flips)
	})
}

// TestFaultIndexDamage deletes, zeroes, truncates, garbles and misdirects
// every .index file after a clean stop. The broker must start, and every
// read, whole or from any offset, must return exactly what it did before.
func TestFaultIndexDamage(t *testing.T) {
	fx := newDmgFixture(t)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, logSize int64)
	}{
		{"deleted", func(t *testing.T, path string, _ int64) { must(t, os.Remove(path)) }},
		{"zeroed", func(t *testing.T, path string, _ int64) {
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.WriteFile(path, make([]byte, fi.Size()), 0o644))
		}},
		{"truncated to 3 bytes", func(t *testing.T, path string, _ int64) { must(t, os.Truncate(path, 3)) }},
		{"truncated to half", func(t *testing.T, path string, _ int64) {
			fi, err := os.Stat(path)
			must(t, err)
			must(t, os.Truncate(path, fi.Size()/2))
		}},
		{"garbled", func(t *testing.T, path string, _ int64) {
			fi, err := os.Stat(path)
			must(t, err)
			b := make([]byte, max(fi.Size(), 64))
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			must(t, os.WriteFile(path, b, 0o644))
		}},
		{"past the end", func(t *testing.T, path string, logSize int64) {
			var b []byte
			for i := range 8 {
				b = binary.LittleEndian.AppendUint32(b, uint32(i*3))
				b = binary.LittleEndian.AppendUint32(b, uint32(logSize)+uint32(i*4096))
			}
			must(t, os.WriteFile(path, b, 0o644))
		}},
		{"pointing into frames", func(t *testing.T, path string, logSize int64) {
			var b []byte
			for i := range 8 {
				b = binary.LittleEndian.AppendUint32(b, uint32(i*2))
				b = binary.LittleEndian.AppendUint32(b, uint32(int64(i)*logSize/9+7))
			}
			must(t, os.WriteFile(path, b, 0o644))
		}},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			fx.restore(t)
			files := 0
			for p := range uint32(dmgPartitions) {
				for _, base := range segmentFiles(t, fx.partDir(p)) {
					logFile := filepath.Join(fx.partDir(p), segmentName(base, ".log"))
					fi, err := os.Stat(logFile)
					must(t, err)
					tt.damage(t, filepath.Join(fx.partDir(p), segmentName(base, ".index")), fi.Size())
					files++
				}
			}
			info := fx.b.Start()
			defer fx.b.Terminate(time.Minute)
			// Whole partitions, then reads that seek through the index.
			for p := range uint32(dmgPartitions) {
				if n, code := fx.check(t, p, 0); code != codes.OK || n != len(fx.entries[p]) {
					t.Errorf("partition %d: read served %d of %d, ended %v", p, n, len(fx.entries[p]), code)
				}
				for range 20 {
					from := uint64(rng.IntN(len(fx.entries[p])))
					if n, code := fx.check(t, p, from); code != codes.OK || n != len(fx.entries[p])-int(from) {
						t.Errorf("partition %d from %d: served %d of %d, ended %v", p, from, n, len(fx.entries[p])-int(from), code)
					}
				}
				for _, base := range segmentFiles(t, fx.partDir(p)) {
					if fi, err := os.Stat(filepath.Join(fx.partDir(p), segmentName(base, ".index"))); err != nil || fi.Size() == 0 || fi.Size()%8 != 0 {
						t.Errorf("partition %d segment %d: index not rebuilt after reads: %v", p, base, err)
					}
				}
			}
			rebuilt := len(fx.b.LogLines(func(m map[string]any) bool { return m["message"] == "rebuilt a damaged index from its log" }))
			t.Logf("%d index files %s: start %s (clean=%v, scanned %d segments), reads identical; %d rebuilt at start", files, tt.name, info.Took.Round(time.Millisecond), info.Clean, info.ScannedSegments, rebuilt)
			t.Run("start line counts the fallback scans", func(t *testing.T) {
				if info.ScannedSegments < rebuilt || (rebuilt > 0 && info.ScannedBytes == 0) {
					t.Errorf("%d active segments rebuilt by a full scan at start, start line says scanned_segments %d, scanned_bytes %d",
						rebuilt, info.ScannedSegments, info.ScannedBytes)
				}
			})
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, fi.Mode().Perm())
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}
