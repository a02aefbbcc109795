package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/logbroker/logbroker/vfs/errorfs"
)

// golden is a segment's files plus what reading it must give.
type golden struct {
	log, index []byte
	l          *testLog
	frameEnds  []int64 // end position of each frame
	o          Options
}

const goldenBase = 1000

func makeGolden(t *testing.T, nframes int) golden {
	t.Helper()
	ffs, dir := errorfs.Dir(t)
	o := Options{IndexIntervalBytes: 256}
	s, l := buildSegment(t, NewFileCache(ffs, 2), dir, goldenBase, o, 0, 0, 0)
	var ends []int64
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < nframes; i++ {
		if err := s.Append(l.add(t, valueRecs(len(l.records), 1+rng.IntN(4), 10+rng.IntN(120))...)); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, s.Size())
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return golden{
		log:       errorfs.ReadFile(t, ffs, filepath.Join(dir, LogName(goldenBase))),
		index:     errorfs.ReadFile(t, ffs, filepath.Join(dir, IndexName(goldenBase))),
		l:         l,
		frameEnds: ends,
		o:         o,
	}
}

// install writes a segment's files (durably) into a fresh FaultFS.
func install(t *testing.T, log, index []byte) (*errorfs.FaultFS, string) {
	t.Helper()
	ffs, dir := errorfs.Dir(t)
	errorfs.WriteFile(t, ffs, filepath.Join(dir, LogName(goldenBase)), log, true)
	if index != nil {
		errorfs.WriteFile(t, ffs, filepath.Join(dir, IndexName(goldenBase)), index, true)
	}
	return ffs, dir
}

// prefixFrames is how many whole frames fit in n bytes.
func (g golden) prefixFrames(n int64) int {
	k := 0
	for k < len(g.frameEnds) && g.frameEnds[k] <= n {
		k++
	}
	return k
}

// recordsIn is the number of records in the first k frames.
func (g golden) recordsIn(t *testing.T, k int) int {
	n := 0
	for _, f := range g.l.frames[:k] {
		n += int(header(t, f).Count())
	}
	return n
}

// checkPrefix opens the damaged log in mode and wants exactly its first k frames.
func (g golden) checkPrefix(t *testing.T, log []byte, k int, mode OpenMode, what string) {
	t.Helper()
	ffs, dir := install(t, log, g.index)
	s, st, err := Open(NewFileCache(ffs, 2), dir, goldenBase, g.o, mode, 0)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer s.Close()
	wantSize := int64(0)
	if k > 0 {
		wantSize = g.frameEnds[k-1]
	}
	wantNext := goldenBase + uint64(g.recordsIn(t, k))
	if s.Size() != wantSize || s.Next() != wantNext || st.TruncatedBytes != int64(len(log))-wantSize {
		t.Fatalf("%s (%s): size %d next %d stats %+v; want size %d next %d", what, mode, s.Size(), s.Next(), st, wantSize, wantNext)
	}
	if got := int64(len(errorfs.ReadFile(t, ffs, filepath.Join(dir, LogName(goldenBase))))); got != wantSize {
		t.Fatalf("%s: file not truncated: %d bytes", what, got)
	}
	if k > 0 {
		got, err := readAll(t, s, goldenBase, 1000)
		if err != nil || !bytes.Equal(got, bytes.Join(g.l.records[:wantNext-goldenBase], nil)) {
			t.Fatalf("%s: read %d bytes, %v", what, len(got), err)
		}
	}
	// The recovered segment takes appends again.
	if err := s.Append(frameOf(t, wantNext, rec{value: []byte("after")})); err != nil {
		t.Fatalf("%s: append after recovery: %v", what, err)
	}
}

func TestTornTailTruncate(t *testing.T) {
	g := makeGolden(t, 30)
	from := g.frameEnds[len(g.frameEnds)-5]
	for _, mode := range []OpenMode{Recover, Clean} {
		for cut := from; cut <= int64(len(g.log)); cut++ {
			g.checkPrefix(t, g.log[:cut], g.prefixFrames(cut), mode, "cut at "+itoa(cut))
		}
	}
	g.checkPrefix(t, nil, 0, Recover, "empty")
}

func TestTornTailGarbage(t *testing.T) {
	g := makeGolden(t, 10)
	rng := rand.New(rand.NewPCG(3, 4))
	n := len(g.frameEnds)
	last := g.l.frames[n-1]
	h := header(t, last)
	nextFrame := frameOf(t, h.Next(), rec{value: []byte("next")})
	badCRC := append([]byte(nil), nextFrame...)
	badCRC[len(badCRC)-1] ^= 0xff
	tests := []struct {
		name string
		tail func(n int) []byte
	}{
		{"zeros", func(n int) []byte { return make([]byte, n) }},
		{"random", func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}},
		{"0xff", func(n int) []byte { return bytes.Repeat([]byte{0xff}, n) }},
		{"valid header, bad crc", func(n int) []byte { return append(badCRC, make([]byte, n)...) }},
		{"duplicate last frame", func(n int) []byte { return append(append([]byte(nil), last...), make([]byte, n)...) }},
		{"partial next frame", func(n int) []byte { return nextFrame[:min(n, len(nextFrame)-1)] }},
	}
	for _, tt := range tests {
		for size := 1; size <= 4096; size++ {
			if size > 300 && size%37 != 0 && size != 4096 && tt.name != "random" {
				continue
			}
			log := append(append([]byte(nil), g.log...), tt.tail(size)...)
			mode := Recover
			if size%2 == 0 {
				mode = Clean
			}
			g.checkPrefix(t, log, n, mode, tt.name+" "+itoa(int64(size)))
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestBitFlips flips one bit at every byte of a sealed segment: every read
// either returns the right bytes or fails with ErrCorrupt, never bad data.
// A flip in a batch's leader epoch is the exception that reads cannot see:
// Kafka's format keeps the epoch outside the CRC (the broker sets it), and
// it is no part of any record served, so those reads must be whole and right.
func TestBitFlips(t *testing.T) {
	g := makeGolden(t, 12)
	want := g.l.want(goldenBase)
	rng := rand.New(rand.NewPCG(5, 6))
	epoch := map[int]bool{} // positions of leader epoch bytes
	for i, start := 0, int64(0); i < len(g.frameEnds); start, i = g.frameEnds[i], i+1 {
		for b := start + 12; b < start+16; b++ {
			epoch[int(b)] = true
		}
	}
	for pos := range g.log {
		log := append([]byte(nil), g.log...)
		log[pos] ^= 1 << rng.IntN(8)
		ffs, dir := install(t, log, g.index)
		s, _, err := Open(NewFileCache(ffs, 2), dir, goldenBase, g.o, Sealed, g.l.next())
		if err != nil {
			t.Fatal(err)
		}
		for _, maxBytes := range []int{1, 700, 1 << 20} {
			got, err := readAll(t, s, goldenBase, maxBytes)
			if epoch[pos] {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("flip in a leader epoch at %d, maxBytes %d: err %v, read %d of %d bytes", pos, maxBytes, err, len(got), len(want))
				}
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d, maxBytes %d: err %v (read %d of %d bytes)", pos, maxBytes, err, len(got), len(want))
			}
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("flip at %d: served bad bytes", pos)
			}
		}
		s.Close()
	}
}

// TestRecoverBitFlips flips one bit at every byte of an active segment and
// recovers it: the recovered log never serves bad data (every read gives
// the right bytes or fails with ErrCorrupt); a flip in a frame's records,
// with good frames after it, keeps every frame (nothing after the damage is
// cut); and a flip in the last frame or in a header cuts the log no shorter
// than the frames before the damaged one.
func TestRecoverBitFlips(t *testing.T) {
	g := makeGolden(t, 12)
	want := g.l.want(goldenBase)
	rng := rand.New(rand.NewPCG(7, 8))
	kept := 0
	for pos := range g.log {
		log := append([]byte(nil), g.log...)
		log[pos] ^= 1 << rng.IntN(8)
		ffs, dir := install(t, log, nil)
		s, st, err := Open(NewFileCache(ffs, 2), dir, goldenBase, g.o, Recover, 0)
		if err != nil {
			t.Fatal(err)
		}
		frame := 0 // the damaged frame
		for g.frameEnds[frame] <= int64(pos) {
			frame++
		}
		start := int64(0)
		if frame > 0 {
			start = g.frameEnds[frame-1]
		}
		if s.Size() < start {
			t.Fatalf("flip at %d (frame %d): recovered %d bytes, cut into the good frames before it (%d)", pos, frame, s.Size(), start)
		}
		if len(st.DamagedFrames) > 0 {
			kept++
			if s.Size() != int64(len(log)) || len(st.DamagedFrames) != 1 || st.DamagedFrames[0] != start {
				t.Fatalf("flip at %d: kept damaged frames %v and %d of %d bytes", pos, st.DamagedFrames, s.Size(), len(log))
			}
		}
		for _, maxBytes := range []int{1, 700, 1 << 20} {
			got, err := readAll(t, s, goldenBase, maxBytes)
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flip at %d, maxBytes %d: err %v", pos, maxBytes, err)
			}
			if !bytes.HasPrefix(want, got) {
				t.Fatalf("flip at %d: served bad bytes", pos)
			}
		}
		s.Close()
	}
	if kept == 0 {
		t.Fatal("no flip was kept as a damaged frame: the test exercised nothing")
	}
	t.Logf("%d of %d flips kept as damaged frames", kept, len(g.log))
}

func TestIndexDamage(t *testing.T) {
	g := makeGolden(t, 40)
	entries := len(g.index) / indexEntrySize
	if entries < 5 {
		t.Fatalf("only %d index entries", entries)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	scrambled := make([]byte, len(g.index))
	for i := range scrambled {
		scrambled[i] = byte(rng.Uint32())
	}
	shifted := append([]byte(nil), g.index...)
	for i := 1; i < entries; i++ { // positions off by one frame-internal byte
		p := binary.LittleEndian.Uint32(shifted[i*8+4:])
		binary.LittleEndian.PutUint32(shifted[i*8+4:], p+1)
	}
	wrongOffsets := append([]byte(nil), g.index...)
	for i := 1; i < entries; i++ {
		r := binary.LittleEndian.Uint32(wrongOffsets[i*8:])
		binary.LittleEndian.PutUint32(wrongOffsets[i*8:], r+1)
	}
	pastEnd := binary.LittleEndian.AppendUint32(append([]byte(nil), g.index...), uint32(g.l.next()-goldenBase+5))
	pastEnd = binary.LittleEndian.AppendUint32(pastEnd, uint32(len(g.log)+100))
	swapped := append([]byte(nil), g.index...)
	copy(swapped[8:16], g.index[16:24])
	copy(swapped[16:24], g.index[8:16])
	tests := []struct {
		name  string
		index []byte // nil: deleted
	}{
		{"deleted", nil},
		{"empty", []byte{}},
		{"zeroed", make([]byte, len(g.index))},
		{"truncated to entries", g.index[:len(g.index)/2/8*8]},
		{"truncated mid entry", g.index[:len(g.index)-3]},
		{"scrambled", scrambled},
		{"positions shifted", shifted},
		{"offsets shifted", wrongOffsets},
		{"swapped entries", swapped},
		{"pointing past the end", pastEnd},
		{"huge", make([]byte, 1<<20)},
	}
	want := g.l.want(goldenBase)
	for _, tt := range tests {
		for _, mode := range []OpenMode{Sealed, Clean} {
			t.Run(tt.name+"/"+mode.String(), func(t *testing.T) {
				ffs, dir := install(t, g.log, tt.index)
				s, st, err := Open(NewFileCache(ffs, 2), dir, goldenBase, g.o, mode, g.l.next())
				if err != nil {
					t.Fatal(err)
				}
				if s.Size() != int64(len(g.log)) || s.Next() != g.l.next() || st.TruncatedBytes != 0 {
					t.Fatalf("size %d next %d stats %+v", s.Size(), s.Next(), st)
				}
				for _, from := range []uint64{goldenBase, goldenBase + 7, g.l.next() - 1, goldenBase + 50} {
					got, err := readAll(t, s, from, 300)
					if err != nil || !bytes.Equal(got, g.l.want(from)) {
						t.Fatalf("from %d: %d bytes, %v", from, len(got), err)
					}
				}
				got, err := readAll(t, s, goldenBase, 1<<20)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatal("full read differs")
				}
				s.Close()
				// A valid prefix may stay for a sealed segment: it is only slower.
				idx := errorfs.ReadFile(t, ffs, filepath.Join(dir, IndexName(goldenBase)))
				if !bytes.Equal(idx, g.index) && !(mode == Sealed && len(idx) > 0 && bytes.HasPrefix(g.index, idx)) {
					t.Fatalf("index file not rewritten: %d bytes, want %d", len(idx), len(g.index))
				}
			})
		}
	}
}

// TestReadStopsAtDamage damages one field of one frame of a sealed segment: a
// read that reaches it after good records serves those records with no
// error, and a read that starts in it fails with ErrCorrupt naming its offset.
func TestReadStopsAtDamage(t *testing.T) {
	g := makeGolden(t, 12)
	tests := []struct {
		name  string
		frame int   // damaged frame
		at    int64 // byte within it
		mask  byte
	}{
		{"payload", 6, 70, 0x10},
		{"crc", 6, 18, 0x10},
		{"length bit 4", 6, 11, 0x10},
		{"length bit 0", 6, 11, 0x01},
		{"magic", 6, 16, 0x01},
		{"last offset delta", 6, 26, 0x01},
		{"record count", 6, 60, 0x01},
		{"base", 6, 7, 0x01},
		{"last frame payload", 11, 70, 0x10},
		{"last frame length", 11, 11, 0x01},
		{"first frame payload", 0, 70, 0x10},
		{"first frame base", 0, 7, 0x01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos := int64(0)
			if tt.frame > 0 {
				pos = g.frameEnds[tt.frame-1]
			}
			log := append([]byte(nil), g.log...)
			log[pos+tt.at] ^= tt.mask
			bad := goldenBase + uint64(g.recordsIn(t, tt.frame))
			badEnd := goldenBase + uint64(g.recordsIn(t, tt.frame+1))
			ffs, dir := install(t, log, g.index)
			s, _, err := Open(NewFileCache(ffs, 2), dir, goldenBase, g.o, Sealed, g.l.next())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			read := func(from uint64, maxBytes int) ([]byte, uint64, uint64, error) {
				t.Helper()
				p, err := s.Locate(from)
				if err != nil {
					return nil, 0, 0, err
				}
				v, err := s.View(p)
				if err != nil {
					t.Fatal(err)
				}
				defer v.Release()
				return v.Read(nil, from, maxBytes)
			}
			var froms []uint64
			if bad > goldenBase {
				froms = []uint64{goldenBase, goldenBase + 1, bad - 1}
			}
			for _, from := range froms {
				data, first, next, err := read(from, 1<<20)
				want := bytes.Join(g.l.records[from-goldenBase:bad-goldenBase], nil)
				if err != nil || first != from || next != bad || !bytes.Equal(records(t, data, from), want) {
					t.Errorf("read from %d: %d bytes [%d, %d), %v; want %d bytes [%d, %d), no error", from, len(data), first, next, err, len(want), from, bad)
				}
			}
			wantMsg := regexp.MustCompile(`offset ` + itoa(int64(bad)) + `\b`)
			for _, from := range []uint64{bad, badEnd - 1} {
				for _, maxBytes := range []int{1, 1 << 20} {
					data, _, _, err := read(from, maxBytes)
					if !errors.Is(err, ErrCorrupt) || len(data) != 0 || !wantMsg.MatchString(err.Error()) {
						t.Errorf("read from %d (in the damaged frame), maxBytes %d: %d bytes, %v; want ErrCorrupt naming offset %d", from, maxBytes, len(data), err, bad)
					}
				}
			}
		})
	}
}
