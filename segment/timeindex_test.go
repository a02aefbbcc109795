package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// tsBatch is one test batch: its records' timestamps, or with appendTs set,
// a log-append-time batch whose every record reads appendTs.
type tsBatch struct {
	ts       []int64
	appendTs int64
}

// tsModel is what a time lookup must answer, worked out by brute force: every
// record's timestamp, in offset order from base.
type tsModel struct {
	base uint64
	ts   []int64
}

func (m *tsModel) next() uint64 { return m.base + uint64(len(m.ts)) }

// want is the first offset whose timestamp is at or after ts.
func (m *tsModel) want(ts int64) (uint64, bool) {
	for i, t := range m.ts {
		if t >= ts {
			return m.base + uint64(i), true
		}
	}
	return 0, false
}

// max is the largest timestamp.
func (m *tsModel) max() (int64, bool) {
	if len(m.ts) == 0 {
		return 0, false
	}
	return slices.Max(m.ts), true
}

// queries are the timestamps worth asking: each one stored and its
// neighbours, and beyond both ends.
func (m *tsModel) queries() []int64 {
	q := []int64{-1 << 62, 1 << 62}
	for _, t := range m.ts {
		q = append(q, t-1, t, t+1)
	}
	slices.Sort(q)
	return slices.Compact(q)
}

// frame encodes b at offset m.next() and records its timestamps.
func (m *tsModel) frame(t testing.TB, b tsBatch) []byte {
	t.Helper()
	recs := make([]rec, len(b.ts))
	for i, ts := range b.ts {
		recs[i] = rec{value: []byte(fmt.Sprintf("v%d", m.next()+uint64(i))), ts: ts}
	}
	f := frameOf(t, m.next(), recs...)
	if b.appendTs != 0 {
		binary.BigEndian.PutUint16(f[21:], binary.BigEndian.Uint16(f[21:])|batch.AttrLogAppendTime)
		binary.BigEndian.PutUint64(f[35:], uint64(b.appendTs))
		batch.SetCRC(f)
		for range b.ts {
			m.ts = append(m.ts, b.appendTs)
		}
		return f
	}
	m.ts = append(m.ts, b.ts...)
	return f
}

// legacyFrame encodes b as a previous release's frame.
func (m *tsModel) legacyFrame(t testing.TB, b tsBatch) []byte {
	t.Helper()
	recs := make([]lrec, len(b.ts))
	for i, ts := range b.ts {
		recs[i] = lrec{value: []byte("v"), ts: ts}
	}
	f := legacyFrameOf(t, m.next(), recs...)
	m.ts = append(m.ts, b.ts...)
	return f
}

// checkTimes asks s every query of m.
func checkTimes(t *testing.T, s *Segment, m *tsModel, what string) {
	t.Helper()
	for _, q := range m.queries() {
		got, found, err := s.OffsetForTime(q)
		want, wantFound := m.want(q)
		if err != nil || got != want || found != wantFound {
			t.Fatalf("%s: OffsetForTime(%d) = %d, %v, %v; want %d, %v", what, q, got, found, err, want, wantFound)
		}
	}
	maxTs, ok, err := s.MaxTimestamp()
	wantMax, wantOk := m.max()
	if err != nil || maxTs != wantMax || ok != wantOk {
		t.Fatalf("%s: MaxTimestamp = %d, %v, %v; want %d, %v", what, maxTs, ok, err, wantMax, wantOk)
	}
}

// tsPatterns are the timestamp shapes of the table tests, each a list of
// batches.
func tsPatterns() []struct {
	name    string
	batches []tsBatch
} {
	rng := rand.New(rand.NewPCG(7, 13))
	var inOrder, outOfOrder, flat, peak, decreasing []tsBatch
	for i := range 40 {
		var a, b, c, d []int64
		for j := range 1 + i%3 {
			a = append(a, int64(1000+10*i+j))
			b = append(b, 1000+rng.Int64N(400))
			c = append(c, 5000)
			d = append(d, int64(9000-10*i-j))
		}
		inOrder = append(inOrder, tsBatch{ts: a})
		outOfOrder = append(outOfOrder, tsBatch{ts: b})
		flat = append(flat, tsBatch{ts: c})
		decreasing = append(decreasing, tsBatch{ts: d})
	}
	// A rise, a peak, a long stretch below it, then a new peak: the walk
	// from the last entry under a query crosses the stretch.
	for i := range 10 {
		peak = append(peak, tsBatch{ts: []int64{int64(100 + i)}})
	}
	peak = append(peak, tsBatch{ts: []int64{500}})
	for range 30 {
		peak = append(peak, tsBatch{ts: []int64{200, 150}})
	}
	peak = append(peak, tsBatch{ts: []int64{900, 300}})
	return []struct {
		name    string
		batches []tsBatch
	}{
		{"in order", inOrder},
		{"out of order", outOfOrder},
		{"equal timestamps", flat},
		{"decreasing", decreasing},
		{"peak then lower", peak},
		{"inside a batch", []tsBatch{{ts: []int64{10, 30, 20, 40}}, {ts: []int64{25, 35}}, {ts: []int64{5, 50, 45}}}},
		{"log append time", []tsBatch{{ts: []int64{10, 20}}, {ts: []int64{99, 1}, appendTs: 30}, {ts: []int64{25}}, {ts: []int64{0, 0, 0}, appendTs: 40}}},
		{"one record", []tsBatch{{ts: []int64{42}}}},
		{"empty", nil},
	}
}

// TestOffsetForTime answers every query of every pattern against brute
// force: while appending, and after a reopen in each mode (then appending
// more, for the modes that take appends), at several index intervals.
func TestOffsetForTime(t *testing.T) {
	for _, tt := range tsPatterns() {
		for _, interval := range []int{1, 200, 4096} {
			for _, reopen := range []string{"live", "clean", "clean after crash", "recover", "sealed"} {
				t.Run(fmt.Sprintf("%s/interval %d/%s", tt.name, interval, reopen), func(t *testing.T) {
					ffs, dir := errorfs.Dir(t)
					c := NewFileCache(ffs, 4)
					o := Options{IndexIntervalBytes: interval}
					m := &tsModel{base: 300}
					s, err := Create(c, dir, m.base, o)
					if err != nil {
						t.Fatal(err)
					}
					half := len(tt.batches) / 2
					for i, b := range tt.batches[:half] {
						if err := s.Append(m.frame(t, b)); err != nil {
							t.Fatal(err)
						}
						if i%5 == 0 {
							if err := s.Sync(); err != nil {
								t.Fatal(err)
							}
						}
					}
					checkTimes(t, s, m, "live")
					mode := map[string]OpenMode{"clean": Clean, "clean after crash": Clean, "recover": Recover, "sealed": Sealed}[reopen]
					switch reopen {
					case "live":
					case "sealed":
						if err := s.Seal(); err != nil {
							t.Fatal(err)
						}
						fallthrough
					case "clean", "recover":
						if err := s.Close(); err != nil {
							t.Fatal(err)
						}
					case "clean after crash":
						// Synced data, but no Close: the .timeindex holds what
						// the last Sync wrote, and a clean open must make up
						// the rest from the log.
						if err := s.Sync(); err != nil {
							t.Fatal(err)
						}
						s.idxLoaded, s.tidxLoaded = false, false
						s.Close()
					}
					if reopen != "live" {
						var st RecoverStats
						if s, st, err = Open(c, dir, m.base, o, mode, m.next()); err != nil {
							t.Fatal(err)
						}
						if mode == Clean && st.TimeIndexRebuilt {
							t.Errorf("clean open rebuilt the time index: %+v", st)
						}
						checkTimes(t, s, m, "reopened "+reopen)
					}
					defer s.Close()
					if reopen == "sealed" {
						return
					}
					for _, b := range tt.batches[half:] {
						if err := s.Append(m.frame(t, b)); err != nil {
							t.Fatal(err)
						}
					}
					checkTimes(t, s, m, "appended after")
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					s, _, err = Open(c, dir, m.base, o, Sealed, m.next())
					if err != nil {
						t.Fatal(err)
					}
					checkTimes(t, s, m, "sealed at the end")
				})
			}
		}
	}
}

// TestOffsetForTimeLegacy looks up times in a previous release's segment,
// opened in each mode.
func TestOffsetForTimeLegacy(t *testing.T) {
	for _, tt := range tsPatterns() {
		if tt.name == "log append time" || tt.name == "empty" {
			continue // the previous release had neither
		}
		for _, mode := range []OpenMode{Sealed, Clean, Recover} {
			t.Run(tt.name+"/"+mode.String(), func(t *testing.T) {
				ffs, dir := errorfs.Dir(t)
				m := &tsModel{base: 70}
				var log []byte
				for _, b := range tt.batches {
					log = append(log, m.legacyFrame(t, b)...)
				}
				errorfs.WriteFile(t, ffs, filepath.Join(dir, LogName(m.base)), log, true)
				s, _, err := Open(NewFileCache(ffs, 2), dir, m.base, Options{Legacy: true, IndexIntervalBytes: 100}, mode, m.next())
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				checkTimes(t, s, m, "legacy")
				if b := errorfs.ReadFile(t, ffs, filepath.Join(dir, TimeIndexName(m.base))); len(b) == 0 {
					t.Fatal("no .timeindex written beside the legacy .log")
				}
			})
		}
	}
}

// TestTimeIndexDamage opens a segment beside a .timeindex that is missing,
// malformed or wrong in ways a parse cannot see; every lookup must still
// come out right, and the file be rewritten to fit the log.
func TestTimeIndexDamage(t *testing.T) {
	ffs, dir := errorfs.Dir(t)
	o := Options{IndexIntervalBytes: 150}
	m := &tsModel{base: goldenBase} // install names the files by it
	s, err := Create(NewFileCache(ffs, 2), dir, m.base, o)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		ts := []int64{int64(10 * i), int64(10*i + 5)}
		if i%7 == 3 {
			ts = []int64{rng.Int64N(800)} // some out of order
		}
		if err := s.Append(m.frame(t, tsBatch{ts: ts})); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Seal(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	log := errorfs.ReadFile(t, ffs, filepath.Join(dir, LogName(m.base)))
	index := errorfs.ReadFile(t, ffs, filepath.Join(dir, IndexName(m.base)))
	good := errorfs.ReadFile(t, ffs, filepath.Join(dir, TimeIndexName(m.base)))
	n := len(good) / timeEntrySize
	if n < 5 {
		t.Fatalf("only %d time entries; the test needs more", n)
	}
	entry := func(b []byte, i int, ts int64, rel uint32) []byte {
		b = append([]byte(nil), b...)
		binary.LittleEndian.PutUint64(b[i*timeEntrySize:], uint64(ts))
		binary.LittleEndian.PutUint32(b[i*timeEntrySize+8:], rel)
		return b
	}
	ts := func(i int) int64 { return int64(binary.LittleEndian.Uint64(good[i*timeEntrySize:])) }
	rel := func(i int) uint32 { return binary.LittleEndian.Uint32(good[i*timeEntrySize+8:]) }
	tests := []struct {
		name        string
		data        []byte // nil: no file
		wantRebuilt bool   // for a clean open
	}{
		{"intact", good, false},
		{"missing", nil, true},
		{"empty", []byte{}, true},
		{"torn entry", good[:len(good)-5], true},
		{"stale: last entries lost", good[:2*timeEntrySize], false},
		{"zeroed", make([]byte, len(good)), true},
		{"garbage", []byte("not a time index, not at all!!!!!!!!"), true},
		{"not increasing", entry(good, 2, ts(1), rel(2)), true},
		{"last entry's time too low", entry(good, n-1, ts(n-2)+1, rel(n-1)), true},
		{"last entry too early", entry(good, n-1, ts(n-1), rel(n-2)+1), true},
		{"past the end", entry(good, n-1, ts(n-1), uint32(m.next()-m.base)), true},
		{"a max below the truth", good[:(n-1)*timeEntrySize], false},
	}
	for _, tt := range tests {
		if tt.data != nil && tt.name != "intact" && string(tt.data) == string(good) {
			t.Fatalf("%s: the damage changed nothing", tt.name)
		}
		for _, mode := range []OpenMode{Sealed, Clean} {
			t.Run(tt.name+"/"+mode.String(), func(t *testing.T) {
				ffs, dir := install(t, log, index)
				if tt.data != nil {
					errorfs.WriteFile(t, ffs, filepath.Join(dir, TimeIndexName(m.base)), tt.data, true)
				}
				s, st, err := Open(NewFileCache(ffs, 2), dir, m.base, o, mode, m.next())
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if mode == Clean && st.TimeIndexRebuilt != tt.wantRebuilt {
					t.Errorf("TimeIndexRebuilt = %v, want %v", st.TimeIndexRebuilt, tt.wantRebuilt)
				}
				checkTimes(t, s, m, tt.name)
				s.Close()
				after := errorfs.ReadFile(t, ffs, filepath.Join(dir, TimeIndexName(m.base)))
				entries, err := parseTimeIndex(after, int64(len(log)), m.next()-m.base)
				wantMax, _ := m.max()
				if err != nil || len(entries) == 0 || entries[len(entries)-1].ts != wantMax {
					t.Fatalf("the .timeindex left behind: %d entries, %v; want one ending at the max %d", len(entries), err, wantMax)
				}
			})
		}
	}
}

// TestTimeIndexFiles checks the file's life: created empty, removed with
// the segment, and on a failed write only a hint lost.
func TestTimeIndexFiles(t *testing.T) {
	ffs, dir := errorfs.Dir(t)
	c := NewFileCache(ffs, 2)
	m := &tsModel{base: 0}
	s, err := Create(c, dir, 0, Options{IndexIntervalBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(dir, TimeIndexName(0))
	if b := errorfs.ReadFile(t, ffs, name); len(b) != 0 {
		t.Fatalf("new .timeindex holds %d bytes", len(b))
	}
	for i := range 5 {
		if err := s.Append(m.frame(t, tsBatch{ts: []int64{int64(i)}})); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if b := errorfs.ReadFile(t, ffs, name); len(b) != 5*timeEntrySize {
		t.Fatalf(".timeindex after Sync holds %d bytes, want %d", len(b), 5*timeEntrySize)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := ffs.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Stat after Remove: %v", err)
	}
}

// FuzzTimeIndexLoad loads arbitrary .timeindex bytes next to a good .log:
// the parser must not panic or over-allocate, and every lookup must come out
// as brute force says, except for a file that lies where no check reads
// (believedLie).
func FuzzTimeIndexLoad(f *testing.F) {
	ffs := errorfs.NewFaultFS()
	ffs.MkdirAll("/d", 0o755)
	o := Options{IndexIntervalBytes: 100}
	m := &tsModel{base: 50}
	s, err := Create(NewFileCache(ffs, 2), "/d", 50, o)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 30 {
		if err := s.Append(m.frame(f, tsBatch{ts: []int64{int64(1000 + 7*i), int64(1000 + (i*37)%200)}})); err != nil {
			f.Fatal(err)
		}
	}
	if err := s.Seal(); err != nil {
		f.Fatal(err)
	}
	s.Close()
	logBytes := errorfs.ReadFile(f, ffs, filepath.Join("/d", LogName(50)))
	index := errorfs.ReadFile(f, ffs, filepath.Join("/d", IndexName(50)))
	tindex := errorfs.ReadFile(f, ffs, filepath.Join("/d", TimeIndexName(50)))
	f.Add(tindex, false)
	f.Add(tindex, true)
	f.Add(tindex[:len(tindex)-timeEntrySize], true)
	f.Add([]byte{}, false)
	f.Add(make([]byte, 24), true)
	f.Add(binary.LittleEndian.AppendUint32(append([]byte(nil), tindex...), 3), false)
	queries := m.queries()
	idx, err := parseIndex(index, int64(len(logBytes)), m.next()-50)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, clean bool) {
		entries, err := parseTimeIndex(data, int64(len(logBytes)), m.next()-50)
		if err == nil {
			if string(appendTimeIndex(nil, entries)) != string(data) {
				t.Fatal("parse/encode mismatch")
			}
		}
		ffs := errorfs.NewFaultFS()
		ffs.MkdirAll("/d", 0o755)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", LogName(50)), logBytes, false)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", IndexName(50)), index, false)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", TimeIndexName(50)), data, false)
		mode := Sealed
		if clean {
			mode = Clean
		}
		s, _, err := Open(NewFileCache(ffs, 2), "/d", 50, o, mode, m.next())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		lie := believedLie(t, logBytes, 50, idx, entries)
		for _, q := range queries {
			got, found, err := s.OffsetForTime(q)
			want, wantFound := m.want(q)
			if err != nil || (!lie && (got != want || found != wantFound)) {
				t.Fatalf("OffsetForTime(%d) = %d, %v, %v; want %d, %v", q, got, found, err, want, wantFound)
			}
		}
	})
}

// believedLie reports whether entries hold one that the checks believe
// although it is false: it names a batch and that batch's own max, but an
// earlier batch that the check does not read (before the .index entry at or
// below it) holds as much. Only a file written to deceive has one.
func believedLie(t *testing.T, log []byte, base uint64, idx []indexEntry, entries []timeEntry) bool {
	type info struct {
		pos   int64
		maxTs int64
	}
	batches := map[uint32]info{}
	var order []uint32
	for pos := 0; pos < len(log); {
		h, err := batch.ParseHeader(log[pos:], len(log)-pos)
		if err != nil {
			t.Fatal(err)
		}
		rel := uint32(h.BaseOffset - base)
		batches[rel] = info{int64(pos), h.MaxTimestamp}
		order = append(order, rel)
		pos += int(h.Size())
	}
	for _, e := range entries[:max(len(entries)-1, 0)] { // the last one is walked from
		b, ok := batches[e.rel]
		if !ok || b.maxTs != e.ts {
			continue // the check sees it
		}
		var floor int64
		for _, ie := range idx {
			if ie.rel <= e.rel {
				floor = int64(ie.pos)
			}
		}
		for _, rel := range order {
			if o := batches[rel]; o.pos < floor && o.maxTs >= e.ts {
				return true
			}
		}
	}
	return false
}
