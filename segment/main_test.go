package segment

import (
	"bytes"
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/logbroker/logbroker/batch"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rec is a test record.
type rec struct {
	key, value []byte
	headers    []batch.RecordHeader
	ts         int64
}

// frameOf encodes recs as one RecordBatch v2 with base offset base.
func frameOf(t testing.TB, base uint64, recs ...rec) []byte {
	t.Helper()
	var b batch.Builder
	b.Reset(nil)
	for _, r := range recs {
		b.Add(r.key, r.value, r.headers, r.ts)
	}
	f := b.Finish()
	batch.SetBaseOffset(f, base)
	return f
}

// setBase gives frame, built by frameOf, the base offset base.
func setBase(frame []byte, base uint64) { batch.SetBaseOffset(frame, base) }

// header parses a test frame's header.
func header(t testing.TB, frame []byte) batch.Header {
	t.Helper()
	h, err := batch.Check(frame, len(frame))
	if err != nil {
		t.Fatal(err)
	}
	return h
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

// canon is a record in a form tests compare: offset, key, value (null
// apart from empty), headers and timestamp.
func canon(r *batch.Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d|%s|%s|%d|", r.Offset, nullable(r.Key), nullable(r.Value), r.TimestampMs)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%q=%s,", h.Key, nullable(h.Value))
	}
	b.WriteByte(';')
	return b.Bytes()
}

func nullable(v []byte) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("%q", v)
}

// records decodes batches into canonical records, from offset from on.
func records(t testing.TB, data []byte, from uint64) []byte {
	t.Helper()
	return bytes.Join(recordList(t, data, from), nil)
}

// recordList is records, one element per record.
func recordList(t testing.TB, data []byte, from uint64) [][]byte {
	t.Helper()
	var out [][]byte
	var it batch.Iter
	var r batch.Record
	for len(data) > 0 {
		h := header(t, data)
		if err := it.Reset(data[:h.Size()]); err != nil {
			t.Fatal(err)
		}
		for it.Next(&r) {
			if r.Offset >= from {
				out = append(out, canon(&r))
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		data = data[h.Size():]
	}
	return out
}

// testLog is a segment's expected content built alongside it.
type testLog struct {
	frames  [][]byte // each batch appended
	records [][]byte // every stored record, canonical, in offset order (index = offset - base)
	base    uint64
}

func (l *testLog) add(t testing.TB, recs ...rec) []byte {
	t.Helper()
	f := frameOf(t, l.next(), recs...)
	l.frames = append(l.frames, f)
	l.records = append(l.records, recordList(t, f, 0)...)
	return f
}

func (l *testLog) next() uint64 { return l.base + uint64(len(l.records)) }

// readAll reads every record from offset via Locate+View, in reads of
// maxBytes, and returns them canonical.
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
		all = append(all, records(t, data, off)...)
		buf = data
		off = next
	}
	return all, nil
}

func (l *testLog) want(from uint64) []byte {
	return bytes.Join(l.records[from-l.base:], nil)
}
