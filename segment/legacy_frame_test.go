package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logbroker/logbroker/vfs"
	"github.com/logbroker/logbroker/vfs/errorfs"
)

// legacyFrameOf encodes recs as one frame of the previous release, with
// offsets from base.
func legacyFrameOf(t testing.TB, base uint64, recs ...lrec) []byte {
	t.Helper()
	buf := make([]byte, legacyHeaderSize)
	var maxTs int64
	for _, r := range recs {
		buf = appendLegacyRecord(buf, r.key, r.value, r.headers, r.ts)
		maxTs = max(maxTs, r.ts)
	}
	n, err := setLegacyOffsets(buf[legacyHeaderSize:], base)
	if err != nil || n != len(recs) {
		t.Fatalf("setLegacyOffsets = %d, %v; want %d", n, err, len(recs))
	}
	sealLegacyFrame(buf, base, uint32(n), maxTs)
	return buf
}

func TestLegacyFrame(t *testing.T) {
	f := legacyFrameOf(t, 42, lrec{value: []byte("a"), ts: 5}, lrec{value: []byte("b"), ts: 9})
	h, err := checkLegacyFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if h.Base != 42 || h.Count != 2 || h.Next() != 44 || h.MaxTimestampMs != 9 || h.Size() != int64(len(f)) {
		t.Fatalf("header %+v", h)
	}
	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr error
	}{
		{"short header", func(b []byte) []byte { return b[:legacyHeaderSize-1] }, ErrTorn},
		{"short frame", func(b []byte) []byte { return b[:len(b)-1] }, ErrTorn},
		{"zero len", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, 0); return b }, ErrTorn},
		{"huge len", func(b []byte) []byte { binary.LittleEndian.PutUint32(b, MaxFrameBytes+1); return b }, ErrTorn},
		{"magic", func(b []byte) []byte { b[8] = 2; return b }, ErrTorn},
		{"flags", func(b []byte) []byte { b[9] = 1; return b }, ErrTorn},
		{"zero count", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0); return b }, ErrTorn},
		{"count too big for payload", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1000); return b }, ErrTorn},
		{"base out of range", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[16:], legacyMaxOffset); return b }, ErrTorn},
		{"payload flip", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCorrupt},
		{"timestamp flip", func(b []byte) []byte { b[24] ^= 0x80; return b }, ErrCorrupt},
		{"crc flip", func(b []byte) []byte { b[4] ^= 1; return b }, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte(nil), f...))
			if _, err := checkLegacyFrame(b); !errors.Is(err, tt.wantErr) {
				t.Fatalf("checkLegacyFrame: %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestShouldRoll(t *testing.T) {
	tests := []struct {
		size, incoming, max int64
		want                bool
	}{
		{0, 100, 10, false},
		{5, 5, 10, false},
		{5, 6, 10, true},
		{10, 1, 10, true},
	}
	for _, tt := range tests {
		if got := ShouldRoll(tt.size, tt.incoming, tt.max); got != tt.want {
			t.Errorf("ShouldRoll(%d, %d, %d) = %v", tt.size, tt.incoming, tt.max, got)
		}
	}
}

func TestNames(t *testing.T) {
	if got := LogName(42); got != "00000000000000000042.log" {
		t.Fatal(got)
	}
	if got := IndexName(42); got != "00000000000000000042.index" {
		t.Fatal(got)
	}
	tests := []struct {
		name   string
		want   uint64
		wantOK bool
	}{
		{"00000000000000000042.log", 42, true},
		{"18446744073709551615.log", 1<<64 - 1, true},
		{"99999999999999999999.log", 0, false},
		{"00000000000000000042.index", 0, false},
		{"0000000000000000042.log", 0, false},
		{"0000000000000000004x.log", 0, false},
		{"+0000000000000000042.log", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseBase(tt.name)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseBase(%q) = %d, %v", tt.name, got, ok)
		}
	}
}

// TestLegacySegment opens a segment of the previous release's frames in each
// mode: it serves every record, converted to v2 batches (absent keys and
// values null, as the previous release's API could not send them), finds the
// same end, and refuses appends.
func TestLegacySegment(t *testing.T) {
	var log []byte
	var want []string
	base := uint64(500)
	next := base
	for i := 0; i < 20; i++ {
		var recs []lrec
		for j := 0; j <= i%4; j++ {
			r := lrec{value: []byte(fmt.Sprintf("value %d.%d", i, j)), ts: int64(1764900000000 + i)}
			hdrs := "|"
			if j%2 == 0 {
				r.key = []byte(fmt.Sprintf("key%d", i))
				r.headers = []legacyHeader{{Key: "h", Value: []byte("x")}, {Key: "e", Value: nil}}
				hdrs = `|"h"="x","e"="",`
			}
			if i == 3 {
				r.value = nil
			}
			recs = append(recs, r)
			key := "null"
			if r.key != nil {
				key = fmt.Sprintf("%q", r.key)
			}
			want = append(want, fmt.Sprintf("%d|%s|%s|%d%s;", next+uint64(j), key, nullable(r.value), r.ts, hdrs))
		}
		log = append(log, legacyFrameOf(t, next, recs...)...)
		next += uint64(len(recs))
	}
	for _, mode := range []OpenMode{Sealed, Clean, Recover} {
		t.Run(mode.String(), func(t *testing.T) {
			ffs, dir := errorfs.Dir(t)
			errorfs.WriteFile(t, ffs, filepath.Join(dir, LogName(base)), log, true)
			s, st, err := Open(NewFileCache(ffs, 2), dir, base, Options{Legacy: true, IndexIntervalBytes: 200}, mode, next)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Next() != next || s.Size() != int64(len(log)) || st.TruncatedBytes != 0 {
				t.Fatalf("next %d size %d stats %+v; want next %d size %d", s.Next(), s.Size(), st, next, len(log))
			}
			for _, from := range []uint64{base, base + 1, base + 17, next - 1} {
				for _, maxBytes := range []int{1, 300, 1 << 20} {
					got, err := readAll(t, s, from, maxBytes)
					if w := strings.Join(want[from-base:], ""); err != nil || string(got) != w {
						t.Fatalf("from %d, maxBytes %d: %v\n got %s\nwant %s", from, maxBytes, err, got, w)
					}
				}
			}
			if err := s.Append(frameOf(t, next, rec{value: []byte("v2")})); !errors.Is(err, ErrClosed) {
				t.Fatalf("append to a legacy segment: %v, want ErrClosed", err)
			}
		})
	}
	if _, err := Create(NewFileCache(vfs.OS, 2), t.TempDir(), 0, Options{Legacy: true}); !errors.Is(err, ErrClosed) {
		t.Fatalf("create a legacy segment: %v, want ErrClosed", err)
	}
}
