package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

func seedRecords(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendLegacyRecord(nil, nil, nil, nil, 0))
	f.Add(appendLegacyRecord(nil, []byte("k"), []byte("value"), []legacyHeader{{Key: "h", Value: []byte("v")}, {}}, -1))
	two := appendLegacyRecord(appendLegacyRecord(nil, []byte("a"), nil, nil, 5), nil, bytes.Repeat([]byte("x"), 200), nil, 0)
	setLegacyOffsets(two, 77)
	f.Add(two)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x0a, 0x0b, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x22, 0x00})
}

func FuzzNextRecord(f *testing.F) {
	seedRecords(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := b
		for len(p) > 0 {
			rec, _, rest, err := nextLegacyRecord(p)
			if err != nil {
				if !bytes.Equal(rest, p) {
					t.Fatal("rest changed on error")
				}
				return
			}
			if len(rec) < minRecordLen || len(rec)+len(rest) != len(p) || !bytes.Equal(rec, p[:len(rec)]) {
				t.Fatalf("bad split: %d + %d != %d", len(rec), len(rest), len(p))
			}
			p = rest
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	seedRecords(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeLegacyRecord(b)
		if err != nil {
			return
		}
		if len(r.Headers) > len(b)/2 {
			t.Fatalf("%d headers from %d bytes", len(r.Headers), len(b))
		}
		enc := appendLegacyRecord(nil, r.Key, r.Value, r.Headers, r.TimestampMs)
		if len(enc) > len(b)+4*len(r.Headers) { // empty header fields are written out
			t.Fatalf("re-encoding grew: %d > %d", len(enc), len(b))
		}
		if _, err := setLegacyOffsets(enc, r.Offset); err != nil {
			t.Fatal(err)
		}
		r2, err := decodeLegacyRecord(enc)
		if err != nil {
			t.Fatal(err)
		}
		if r2.Offset != r.Offset || !bytes.Equal(r2.Key, r.Key) || !bytes.Equal(r2.Value, r.Value) ||
			r2.TimestampMs != r.TimestampMs || len(r2.Headers) != len(r.Headers) {
			t.Fatalf("round trip: %+v != %+v", r2, r)
		}
		for i := range r.Headers {
			if r.Headers[i].Key != r2.Headers[i].Key || !bytes.Equal(r.Headers[i].Value, r2.Headers[i].Value) {
				t.Fatalf("header %d differs", i)
			}
		}
	})
}

func FuzzCheckLegacyFrame(f *testing.F) {
	good := legacyFrameOf(f, 5, lrec{value: []byte("a")}, lrec{key: []byte("k"), ts: 9})
	f.Add(good)
	f.Add(good[:legacyHeaderSize])
	f.Add(append(append([]byte(nil), good...), 1, 2, 3))
	f.Add(make([]byte, legacyHeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := checkLegacyFrame(b)
		if err != nil {
			return
		}
		if h.Count == 0 || h.Size() > int64(len(b)) || h.Len < frameLenMin || h.Next()-1 > legacyMaxOffset {
			t.Fatalf("accepted implausible header %+v for %d bytes", h, len(b))
		}
		resealed := append([]byte(nil), b[:h.Size()]...)
		sealLegacyFrame(resealed, h.Base, h.Count, h.MaxTimestampMs)
		if !bytes.Equal(resealed, b[:h.Size()]) {
			t.Fatal("resealing changed the frame")
		}
	})
}

// FuzzIndexLoad loads arbitrary .index bytes next to a good .log: the parser
// must not panic or over-allocate, and reads must come out identical.
func FuzzIndexLoad(f *testing.F) {
	ffs := errorfs.NewFaultFS()
	ffs.MkdirAll("/d", 0o755)
	o := Options{IndexIntervalBytes: 200}
	s, l := buildSegment(f, NewFileCache(ffs, 2), "/d", 50, o, 20, 3, 30)
	if err := s.Seal(); err != nil {
		f.Fatal(err)
	}
	s.Close()
	logBytes := errorfs.ReadFile(f, ffs, filepath.Join("/d", LogName(50)))
	index := errorfs.ReadFile(f, ffs, filepath.Join("/d", IndexName(50)))
	want := l.want(50)
	f.Add(index, false)
	f.Add(index, true)
	f.Add(index[:len(index)-8], true)
	f.Add([]byte{}, false)
	f.Add(make([]byte, 16), true)
	f.Add(binary.LittleEndian.AppendUint32(append([]byte(nil), index...), 0xffffffff), false)
	f.Fuzz(func(t *testing.T, data []byte, clean bool) {
		if entries, err := parseIndex(data, int64(len(logBytes)), l.next()-50); err == nil {
			if !bytes.Equal(appendIndex(nil, entries), data) {
				t.Fatal("parse/encode mismatch")
			}
		}
		ffs := errorfs.NewFaultFS()
		ffs.MkdirAll("/d", 0o755)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", LogName(50)), logBytes, false)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", IndexName(50)), data, false)
		mode := Sealed
		if clean {
			mode = Clean
		}
		s, st, err := Open(NewFileCache(ffs, 2), "/d", 50, o, mode, l.next())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if s.Next() != l.next() || st.TruncatedBytes != 0 {
			t.Fatalf("next %d, stats %+v", s.Next(), st)
		}
		for _, from := range []uint64{50, 51, 77, l.next() - 1} {
			got, err := readAll(t, s, from, 256)
			if err != nil || !bytes.Equal(got, want[len(want)-len(l.want(from)):]) {
				t.Fatalf("from %d: %d bytes, %v", from, len(got), err)
			}
		}
	})
}

// FuzzRecover opens arbitrary bytes as an active segment, v2 or legacy, in
// Recover mode: the one frame walk (reader.go) must not panic or
// over-allocate; what it keeps must be whole frames, every read of them
// must be checked batches with offsets in range or an ErrCorrupt, and a
// second recovery must find nothing more to cut.
func FuzzRecover(f *testing.F) {
	ffs := errorfs.NewFaultFS()
	ffs.MkdirAll("/d", 0o755)
	s, _ := buildSegment(f, NewFileCache(ffs, 2), "/d", 50, Options{IndexIntervalBytes: 200}, 6, 3, 30)
	s.Close()
	good := errorfs.ReadFile(f, ffs, filepath.Join("/d", LogName(50)))
	f.Add(good, false)
	f.Add(good[:len(good)-7], false)
	f.Add(append(append([]byte(nil), good...), make([]byte, 100)...), false)
	flipped := append([]byte(nil), good...)
	flipped[100] ^= 4
	f.Add(flipped, false)
	var legacyLog []byte
	for i := uint64(0); i < 4; i++ {
		legacyLog = append(legacyLog, legacyFrameOf(f, 50+2*i, lrec{value: []byte("a")}, lrec{key: []byte("k"), ts: 9})...)
	}
	f.Add(legacyLog, true)
	f.Add(legacyLog[:len(legacyLog)-3], true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, legacy bool) {
		o := Options{IndexIntervalBytes: 200, Legacy: legacy, MaxFrameBytes: 1 << 20}
		ffs := errorfs.NewFaultFS()
		ffs.MkdirAll("/d", 0o755)
		errorfs.WriteFile(t, ffs, filepath.Join("/d", LogName(50)), data, false)
		s, st, err := Open(NewFileCache(ffs, 2), "/d", 50, o, Recover, 0)
		if err != nil {
			t.Fatal(err)
		}
		if s.Size()+st.TruncatedBytes != int64(len(data)) || s.Next() < 50 {
			s.Close()
			t.Fatalf("size %d + truncated %d != %d bytes; next %d", s.Size(), st.TruncatedBytes, len(data), s.Next())
		}
		for off := uint64(50); off < s.Next(); {
			pos, err := s.Locate(off)
			if err != nil {
				t.Fatalf("locate %d: %v", off, err)
			}
			v, err := s.View(pos)
			if err != nil {
				t.Fatal(err)
			}
			got, first, next, err := v.Read(nil, off, 300)
			v.Release()
			if errors.Is(err, ErrCorrupt) {
				break // a kept damaged frame: reads stop there, as they must
			}
			if err != nil || first != off || next <= off || next > s.Next() {
				t.Fatalf("read %d: [%d, %d) of %d, %v", off, first, next, s.Next(), err)
			}
			at := off // the first batch holds off; each next one follows
			for p := got; len(p) > 0; {
				h, err := batch.Check(p, len(p))
				if err != nil || h.BaseOffset > at || h.Next() <= at || h.Next() > next {
					t.Fatalf("read %d served a bad batch %+v: %v", off, h, err)
				}
				at = h.Next()
				p = p[h.Size():]
			}
			if at != next {
				t.Fatalf("read %d: batches end at %d, read says %d", off, at, next)
			}
			off = next
		}
		s.Close()
		s2, st2, err := Open(NewFileCache(ffs, 2), "/d", 50, o, Recover, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if st2.TruncatedBytes != 0 || s2.Next() != s.Next() {
			t.Fatalf("second recovery cut %d more bytes, next %d then %d", st2.TruncatedBytes, s.Next(), s2.Next())
		}
	})
}
