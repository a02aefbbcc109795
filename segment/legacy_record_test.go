package segment

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// lrec is a test record in the previous release's encoding.
type lrec struct {
	key, value []byte
	headers    []legacyHeader
	ts         int64
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		r    lrec
	}{
		{"empty", lrec{}},
		{"value only", lrec{value: []byte("hello")}},
		{"key and value", lrec{key: []byte("k"), value: []byte("v"), ts: 1700000000000}},
		{"headers", lrec{value: []byte("v"), headers: []legacyHeader{{Key: "a", Value: []byte("1")}, {Key: "", Value: nil}, {Key: "long", Value: bytes.Repeat([]byte("x"), 300)}}}},
		{"negative ts", lrec{key: []byte("k"), ts: -5}},
		{"max ts", lrec{ts: math.MaxInt64}},
		{"big value", lrec{value: bytes.Repeat([]byte{0xff}, 70000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("xyz")
			b := appendLegacyRecord(prefix, tt.r.key, tt.r.value, tt.r.headers, tt.r.ts)
			if !bytes.Equal(b[:3], prefix) {
				t.Fatal("prefix clobbered")
			}
			enc := b[3:]
			if want := legacyRecordSize(tt.r.key, tt.r.value, tt.r.headers, tt.r.ts); len(enc) != want {
				t.Fatalf("len = %d, legacyRecordSize = %d", len(enc), want)
			}
			if n, err := setLegacyOffsets(enc, 123456789); n != 1 || err != nil {
				t.Fatalf("setLegacyOffsets = %d, %v", n, err)
			}
			got, err := decodeLegacyRecord(enc)
			if err != nil {
				t.Fatal(err)
			}
			if got.Offset != 123456789 || !bytes.Equal(got.Key, tt.r.key) || !bytes.Equal(got.Value, tt.r.value) || got.TimestampMs != tt.r.ts {
				t.Fatalf("decoded %+v, want %+v", got, tt.r)
			}
			if len(got.Headers) != len(tt.r.headers) {
				t.Fatalf("headers %d, want %d", len(got.Headers), len(tt.r.headers))
			}
			for i, h := range got.Headers {
				if h.Key != tt.r.headers[i].Key || !bytes.Equal(h.Value, tt.r.headers[i].Value) {
					t.Fatalf("header %d = %+v, want %+v", i, h, tt.r.headers[i])
				}
			}
			r, off, rest, err := nextLegacyRecord(append(enc[:len(enc):len(enc)], 0x0a))
			if err != nil || off != 123456789 || !bytes.Equal(r, enc) || len(rest) != 1 {
				t.Fatalf("nextLegacyRecord = %d bytes, %d, rest %d, %v", len(r), off, len(rest), err)
			}
			checkProtowire(t, enc, got)
		})
	}
}

// checkProtowire parses enc as an EntryBatch with the protobuf library's wire
// parser and compares the fields with r.
func checkProtowire(t *testing.T, enc []byte, r legacyRecord) {
	t.Helper()
	num, typ, n := protowire.ConsumeTag(enc)
	if n < 0 || num != 1 || typ != protowire.BytesType {
		t.Fatalf("entries tag: %d %d %d", num, typ, n)
	}
	body, m := protowire.ConsumeBytes(enc[n:])
	if m < 0 || n+m != len(enc) {
		t.Fatalf("entries body: %d", m)
	}
	var headers int
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			t.Fatal("bad tag")
		}
		body = body[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(body)
			if n != 8 || v != r.Offset {
				t.Fatalf("offset %d (%d bytes), want %d", v, n, r.Offset)
			}
			body = body[n:]
		case num == 5 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(body)
			if n < 0 || int64(v) != r.TimestampMs {
				t.Fatalf("timestamp %d, want %d", int64(v), r.TimestampMs)
			}
			body = body[n:]
		case typ == protowire.BytesType && num >= 2 && num <= 4:
			v, n := protowire.ConsumeBytes(body)
			if n < 0 {
				t.Fatal("bad bytes field")
			}
			switch num {
			case 2:
				if !bytes.Equal(v, r.Key) {
					t.Fatal("key mismatch")
				}
			case 3:
				if !bytes.Equal(v, r.Value) {
					t.Fatal("value mismatch")
				}
			case 4:
				headers++
			}
			body = body[n:]
		default:
			t.Fatalf("unexpected field %d type %d", num, typ)
		}
	}
	if headers != len(r.Headers) {
		t.Fatalf("%d headers, want %d", headers, len(r.Headers))
	}
}

func TestSetOffsets(t *testing.T) {
	var p []byte
	for i := 0; i < 5; i++ {
		p = appendLegacyRecord(p, nil, []byte{byte(i)}, nil, 0)
	}
	n, err := setLegacyOffsets(p, legacyMaxOffset-4)
	if n != 5 || err != nil {
		t.Fatalf("setLegacyOffsets = %d, %v", n, err)
	}
	for i := uint64(0); len(p) > 0; i++ {
		_, off, rest, err := nextLegacyRecord(p)
		if err != nil || off != legacyMaxOffset-4+i {
			t.Fatalf("record %d: offset %d, %v", i, off, err)
		}
		p = rest
	}
	q := appendLegacyRecord(appendLegacyRecord(nil, nil, nil, nil, 0), nil, nil, nil, 0)
	if _, err := setLegacyOffsets(q, legacyMaxOffset); !errors.Is(err, ErrMalformed) {
		t.Fatalf("offset overflow: %v", err)
	}
}

func TestMalformedRecords(t *testing.T) {
	good := appendLegacyRecord(nil, []byte("k"), []byte("v"), []legacyHeader{{Key: "h", Value: []byte("x")}}, 7)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong tag", append([]byte{0x12}, good[1:]...)},
		{"short", good[:len(good)-1]},
		{"minimal offset varint", []byte{0x0a, 0x09, 0x08, 0x01, 0, 0, 0, 0, 0, 0, 0}},
		{"offset continuation on last byte", []byte{0x0a, 0x09, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80}},
		{"no offset field", []byte{0x0a, 0x09, 0x12, 0x07, 0, 0, 0, 0, 0, 0, 0}},
		{"huge length", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := nextLegacyRecord(tt.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("nextLegacyRecord: %v", err)
			}
			if _, err := decodeLegacyRecord(tt.b); !errors.Is(err, ErrMalformed) {
				t.Errorf("decodeLegacyRecord: %v", err)
			}
		})
	}
	// Well framed but bad inside: only decodeLegacyRecord looks.
	bad := append([]byte(nil), good...)
	bad[len(bad)-2] = 0x38 // timestamp tag -> field 7
	if _, err := decodeLegacyRecord(bad); !errors.Is(err, ErrMalformed) {
		t.Errorf("decodeLegacyRecord(unknown field): %v", err)
	}
	if _, err := decodeLegacyRecord(append(good[:len(good):len(good)], 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("decodeLegacyRecord(trailing byte): %v", err)
	}
}

func TestAppendRecordAllocs(t *testing.T) {
	key, value := []byte("key"), make([]byte, 100)
	buf := make([]byte, 0, 1<<16)
	allocs := testing.AllocsPerRun(100, func() {
		buf = appendLegacyRecord(buf[:0], key, value, nil, 1)
		if _, err := setLegacyOffsets(buf, 9); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per record", allocs)
	}
}

func TestOffsetVarint(t *testing.T) {
	tests := []uint64{0, 1, 127, 128, 300, 1<<21 - 1, 1 << 35, 0x00deadbeefcafe, legacyMaxOffset}
	for _, o := range tests {
		var b [8]byte
		putOffset(b[:], o)
		// Reference: the byte-at-a-time definition.
		for i := 0; i < 8; i++ {
			want := byte(o>>(7*i)) & 0x7f
			if i < 7 {
				want |= 0x80
			}
			if b[i] != want {
				t.Fatalf("putOffset(%d) byte %d = %#x, want %#x", o, i, b[i], want)
			}
		}
		if got, ok := getOffset(b[:]); !ok || got != o {
			t.Fatalf("getOffset(putOffset(%d)) = %d, %v", o, got, ok)
		}
		v, n := protowire.ConsumeVarint(b[:])
		if n != 8 || v != o {
			t.Fatalf("protowire reads %d (%d bytes), want %d", v, n, o)
		}
	}
}
