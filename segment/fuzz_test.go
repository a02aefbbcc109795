package segment

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

func seedRecords(f *testing.F) {
	f.Add([]byte{})
	f.Add(AppendRecord(nil, nil, nil, nil, 0))
	f.Add(AppendRecord(nil, []byte("k"), []byte("value"), []Header{{Key: "h", Value: []byte("v")}, {}}, -1))
	two := AppendRecord(AppendRecord(nil, []byte("a"), nil, nil, 5), nil, bytes.Repeat([]byte("x"), 200), nil, 0)
	SetOffsets(two, 77)
	f.Add(two)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x0a, 0x0b, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x22, 0x00})
}

func FuzzNextRecord(f *testing.F) {
	seedRecords(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := b
		for len(p) > 0 {
			rec, _, rest, err := NextRecord(p)
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
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if len(r.Headers) > len(b)/2 {
			t.Fatalf("%d headers from %d bytes", len(r.Headers), len(b))
		}
		enc := AppendRecord(nil, r.Key, r.Value, r.Headers, r.TimestampMs)
		if len(enc) > len(b)+4*len(r.Headers) { // empty header fields are written out
			t.Fatalf("re-encoding grew: %d > %d", len(enc), len(b))
		}
		if _, err := SetOffsets(enc, r.Offset); err != nil {
			t.Fatal(err)
		}
		r2, err := DecodeRecord(enc)
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

func FuzzCheckFrame(f *testing.F) {
	good := frameOf(f, 5, rec{value: []byte("a")}, rec{key: []byte("k"), ts: 9})
	f.Add(good)
	f.Add(good[:HeaderSize])
	f.Add(append(append([]byte(nil), good...), 1, 2, 3))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := CheckFrame(b)
		if err != nil {
			return
		}
		if h.Count == 0 || h.Size() > int64(len(b)) || h.Len < frameLenMin || h.Next()-1 > MaxOffset {
			t.Fatalf("accepted implausible header %+v for %d bytes", h, len(b))
		}
		resealed := append([]byte(nil), b[:h.Size()]...)
		SealFrame(resealed, h.Base, h.Count, h.MaxTimestampMs)
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
	logBytes := readFSb(ffs, filepath.Join("/d", LogName(50)))
	index := readFSb(ffs, filepath.Join("/d", IndexName(50)))
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
		writeFSb(ffs, filepath.Join("/d", LogName(50)), logBytes)
		writeFSb(ffs, filepath.Join("/d", IndexName(50)), data)
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

// readFSb and writeFSb are readFS/writeFS for use outside a *testing.T.
func readFSb(fsys vfs.FS, name string) []byte {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	size, _ := f.Size()
	b := make([]byte, size)
	f.ReadAt(b, 0)
	return b
}

func writeFSb(fsys vfs.FS, name string, data []byte) {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	f.WriteAt(data, 0)
}
