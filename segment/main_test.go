package segment

import (
	"bytes"
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rec is a test record.
type rec struct {
	key, value []byte
	headers    []Header
	ts         int64
}

// frameOf encodes recs as one sealed frame with offsets from base.
func frameOf(t testing.TB, base uint64, recs ...rec) []byte {
	t.Helper()
	buf := make([]byte, HeaderSize)
	var maxTs int64
	for _, r := range recs {
		buf = AppendRecord(buf, r.key, r.value, r.headers, r.ts)
		maxTs = max(maxTs, r.ts)
	}
	n, err := SetOffsets(buf[HeaderSize:], base)
	if err != nil || n != len(recs) {
		t.Fatalf("SetOffsets = %d, %v; want %d", n, err, len(recs))
	}
	SealFrame(buf, base, uint32(n), maxTs)
	return buf
}

// valueRecs makes n records with values of size bytes tagged by index.
func valueRecs(from, n, size int) []rec {
	out := make([]rec, n)
	for i := range out {
		v := bytes.Repeat([]byte{byte('a' + (from+i)%26)}, size)
		copy(v, fmt.Sprintf("v%d:", from+i))
		out[i] = rec{key: []byte(fmt.Sprintf("k%d", from+i)), value: v, ts: int64(1000 + from + i)}
	}
	return out
}

// testLog is a segment's expected content built alongside it.
type testLog struct {
	frames  [][]byte // each sealed frame appended
	records [][]byte // every stored record, in offset order (index = offset - base)
	base    uint64
}

func (l *testLog) add(t testing.TB, recs ...rec) []byte {
	t.Helper()
	f := frameOf(t, l.base+uint64(len(l.records)), recs...)
	l.frames = append(l.frames, f)
	p := f[HeaderSize:]
	for len(p) > 0 {
		r, _, rest, err := NextRecord(p)
		if err != nil {
			t.Fatal(err)
		}
		l.records = append(l.records, r)
		p = rest
	}
	return f
}

func (l *testLog) next() uint64 { return l.base + uint64(len(l.records)) }

// readAll reads every record from offset via Locate+View, in batches of maxBytes.
func readAll(t testing.TB, s *Segment, from uint64, maxBytes int) ([]byte, error) {
	t.Helper()
	var all, buf []byte
	for off := from; off < s.Next(); {
		pos, err := s.Locate(off)
		if err != nil {
			return all, err
		}
		v, err := s.View(pos)
		if err != nil {
			return all, err
		}
		data, first, next, err := v.Read(buf, off, maxBytes)
		v.Release()
		if err != nil {
			return all, err
		}
		if first != off || next <= off {
			t.Fatalf("Read(%d) = first %d next %d", off, first, next)
		}
		all = append(all, data...)
		buf = data
		off = next
	}
	return all, nil
}

func (l *testLog) want(from uint64) []byte {
	return bytes.Join(l.records[from-l.base:], nil)
}
