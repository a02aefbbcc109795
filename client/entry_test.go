package client

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/pb"
)

// Hand-made encodings: fields appended one by one, in any order.
func tagged(b []byte, num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(b, num, typ)
}

func varintField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(tagged(b, num, protowire.VarintType), v)
}

func bytesField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(tagged(b, num, protowire.BytesType), v)
}

func header(key, value string) []byte {
	return bytesField(bytesField(nil, 1, []byte(key)), 2, []byte(value))
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantEntry is what a test expects ParseEntry to read.
type wantEntry struct {
	offset     uint64
	key, value string
	ts         int64
	headers    []string // "key=value"
}

func readEntry(t *testing.T, e Entry) wantEntry {
	t.Helper()
	got := wantEntry{offset: e.Offset(), key: string(e.Key()), value: string(e.Value()), ts: e.TimestampMs()}
	it := e.Headers()
	for it.Next() {
		got.headers = append(got.headers, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Err(); err != nil {
		t.Fatalf("headers: %v", err)
	}
	if len(got.headers) != e.NumHeaders() {
		t.Errorf("NumHeaders %d, walked %d", e.NumHeaders(), len(got.headers))
	}
	return got
}

func TestParseEntry(t *testing.T) {
	full := &pb.LogEntry{Offset: 42, Key: []byte("k"), Value: []byte("value"), TimestampMs: -5,
		Headers: []*pb.Header{{Key: "a", Value: []byte("1")}, {Key: "b"}}}
	tests := []struct {
		name string
		in   []byte
		want wantEntry
	}{
		{"empty encoding is the zero entry", nil, wantEntry{}},
		{"proto.Marshal", mustMarshal(t, full), wantEntry{42, "k", "value", -5, []string{"a=1", "b="}}},
		{"fields reversed", varintField(bytesField(bytesField(bytesField(varintField(nil, 5, 7), 4, header("h", "v")), 3, []byte("v")), 2, []byte("k")), 1, 9),
			wantEntry{9, "k", "v", 7, []string{"h=v"}}},
		{"the last of a repeated scalar wins", varintField(bytesField(bytesField(varintField(nil, 1, 1), 3, []byte("old")), 3, []byte("new")), 1, 2),
			wantEntry{offset: 2, value: "new"}},
		{"unknown fields are skipped", bytesField(varintField(protowire.AppendFixed32(tagged(varintField(nil, 99, 1), 7, protowire.Fixed32Type), 3), 1, 3), 1000, []byte("x")),
			wantEntry{offset: 3}},
		{"a known field with another wire type is skipped", varintField(protowire.AppendFixed64(tagged(nil, 1, protowire.Fixed64Type), 77), 3, 5),
			wantEntry{}},
		{"a skipped group", varintField(protowire.AppendTag(varintField(protowire.AppendTag(nil, 6, protowire.StartGroupType), 1, 8), 6, protowire.EndGroupType), 1, 4),
			wantEntry{offset: 4}},
		{"headers between other fields", bytesField(varintField(bytesField(nil, 4, header("x", "1")), 1, 6), 4, header("y", "2")),
			wantEntry{offset: 6, headers: []string{"x=1", "y=2"}}},
		{"largest offset", varintField(nil, 1, 1<<64-1), wantEntry{offset: 1<<64 - 1}},
	}
	for _, tt := range tests {
		e, err := ParseEntry(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := readEntry(t, e); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
		checkLogEntry(t, tt.name, e)
	}
}

// checkLogEntry wants e.LogEntry to equal proto.Unmarshal of its bytes.
func checkLogEntry(t *testing.T, name string, e Entry) {
	t.Helper()
	want := &pb.LogEntry{}
	wantErr := proto.Unmarshal(e.Raw(), want)
	got, err := e.LogEntry()
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: LogEntry error %v, proto.Unmarshal error %v", name, err, wantErr)
	}
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: LogEntry error %v is not ErrMalformed", name, err)
		}
		return
	}
	if !proto.Equal(got, want) {
		t.Fatalf("%s: LogEntry %v, proto.Unmarshal %v", name, got, want)
	}
	// Presence of empty bytes as proto.Unmarshal leaves it, for handlers
	// that test for nil.
	if (got.Key == nil) != (want.Key == nil) || (got.Value == nil) != (want.Value == nil) {
		t.Fatalf("%s: LogEntry key/value nil %v/%v, proto.Unmarshal %v/%v", name, got.Key == nil, got.Value == nil, want.Key == nil, want.Value == nil)
	}
	for i, h := range got.Headers {
		if (h.Value == nil) != (want.Headers[i].Value == nil) {
			t.Fatalf("%s: header %d value nil %v, proto.Unmarshal %v", name, i, h.Value == nil, want.Headers[i].Value == nil)
		}
	}
	if len(e.Raw()) > 0 && len(got.Key) > 0 && len(got.Value) > 0 && &got.Key[0] == &e.Raw()[0] {
		t.Fatalf("%s: LogEntry aliases the encoding", name)
	}
}

func TestParseEntryMalformed(t *testing.T) {
	good := varintField(nil, 1, 1)
	tests := []struct {
		name string
		in   []byte
	}{
		{"truncated tag", []byte{0x80}},
		{"truncated varint", []byte{0x08, 0x80}},
		{"varint of 11 bytes", append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 10)...)},
		{"length past the end", append(tagged(nil, 3, protowire.BytesType), 5, 'a')},
		{"field number 0", []byte{0x00, 0x01}},
		{"field number above the maximum", protowire.AppendVarint(protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), 1)},
		{"end group at top level", append(good, protowire.AppendTag(nil, 6, protowire.EndGroupType)...)},
		{"unclosed group", append(good, protowire.AppendTag(nil, 6, protowire.StartGroupType)...)},
		{"reserved wire type", append(good, byte(9<<3|6))},
	}
	for _, tt := range tests {
		if proto.Unmarshal(tt.in, &pb.LogEntry{}) == nil {
			t.Fatalf("%s: proto.Unmarshal accepts it; the case is wrong", tt.name)
		}
		_, err := ParseEntry(tt.in)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: ParseEntry error %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestHeadersMalformed(t *testing.T) {
	tests := []struct {
		name   string
		header []byte
	}{
		{"key not UTF-8", bytesField(nil, 1, []byte{0xff, 0xfe})},
		{"truncated value", append(tagged(nil, 2, protowire.BytesType), 3)},
		{"end group", protowire.AppendTag(nil, 2, protowire.EndGroupType)},
	}
	for _, tt := range tests {
		in := bytesField(bytesField(varintField(nil, 1, 1), 4, header("ok", "1")), 4, tt.header)
		if proto.Unmarshal(in, &pb.LogEntry{}) == nil {
			t.Fatalf("%s: proto.Unmarshal accepts it; the case is wrong", tt.name)
		}
		e, err := ParseEntry(in)
		if err != nil {
			t.Fatalf("%s: ParseEntry: %v (headers are decoded lazily)", tt.name, err)
		}
		it := e.Headers()
		n := 0
		for it.Next() {
			n++
		}
		if n != 1 || !errors.Is(it.Err(), ErrMalformed) {
			t.Errorf("%s: walked %d headers, error %v; want 1 and ErrMalformed", tt.name, n, it.Err())
		}
		if _, err := e.LogEntry(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: LogEntry error %v, want ErrMalformed", tt.name, err)
		}
	}
}

func TestEntries(t *testing.T) {
	batch := &pb.EntryBatch{Entries: []*pb.LogEntry{
		{Offset: 10, Value: []byte("a")},
		{Offset: 11, Key: []byte("k"), Value: []byte("bb"), Headers: []*pb.Header{{Key: "h", Value: []byte("v")}}},
		{Offset: 12},
	}}
	enc := mustMarshal(t, batch)
	tests := []struct {
		name        string
		in          []byte
		wantOffsets []uint64
		wantErr     bool
	}{
		{"empty batch", nil, nil, false},
		{"proto.Marshal", enc, []uint64{10, 11, 12}, false},
		{"unknown fields between entries", append(varintField(append(varintField(nil, 2, 5), enc...), 9, 1), enc...), []uint64{10, 11, 12, 10, 11, 12}, false},
		{"entries field with another wire type is skipped", append(varintField(nil, 1, 5), enc...), []uint64{10, 11, 12}, false},
		{"a bad entry after good ones", bytesField(enc, 1, []byte{0x08}), []uint64{10, 11, 12}, true},
		{"truncated batch", enc[:len(enc)-1], []uint64{10, 11}, true},
	}
	for _, tt := range tests {
		var got []uint64
		it := NewEntries(tt.in)
		for it.Next() {
			got = append(got, it.Entry().Offset())
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.wantOffsets) || (it.Err() != nil) != tt.wantErr {
			t.Errorf("%s: offsets %v, error %v; want %v, error %v", tt.name, got, it.Err(), tt.wantOffsets, tt.wantErr)
		}
		if it.Err() != nil && !errors.Is(it.Err(), ErrMalformed) {
			t.Errorf("%s: error %v is not ErrMalformed", tt.name, it.Err())
		}
		if it.Next() {
			t.Errorf("%s: Next after the end is true", tt.name)
		}
	}
}

// benchBatch is a typical read batch: n records of 100-byte values with a
// short key and a timestamp.
func benchBatch(tb testing.TB, n int) []byte {
	b := &pb.EntryBatch{}
	for i := range n {
		b.Entries = append(b.Entries, &pb.LogEntry{
			Offset: uint64(1_000_000 + i), Key: fmt.Appendf(nil, "key-%d", i),
			Value: bytes.Repeat([]byte{'x'}, 100), TimestampMs: 1_700_000_000_000 + int64(i),
		})
	}
	return mustMarshal(tb, b)
}

func TestEntriesDoNotAllocate(t *testing.T) {
	enc := benchBatch(t, 100)
	var sum uint64
	allocs := testing.AllocsPerRun(100, func() {
		for it := NewEntries(enc); it.Next(); {
			e := it.Entry()
			sum += e.Offset() + uint64(len(e.Value())+len(e.Key()))
		}
	})
	if allocs != 0 {
		t.Errorf("walking a batch of 100 entries allocates %v times, want 0", allocs)
	}
}

// The walk against the generated code, on one batch of 1,000 records:
// go test -run '^$' -bench Batch -benchmem ./client/
func BenchmarkBatchProtoUnmarshal(b *testing.B) {
	enc := benchBatch(b, 1000)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		var batch pb.EntryBatch
		if err := proto.Unmarshal(enc, &batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBatchEntries(b *testing.B) {
	enc := benchBatch(b, 1000)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		it := NewEntries(enc)
		for it.Next() {
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
}

func BenchmarkBatchEntriesLogEntry(b *testing.B) {
	enc := benchBatch(b, 1000)
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		it := NewEntries(enc)
		for it.Next() {
			if _, err := it.Entry().LogEntry(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
