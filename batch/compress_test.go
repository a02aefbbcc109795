package batch

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// refCodec compresses records as a Kafka producer would, with libraries
// or framings other than the package's own where there is one.
type refCodec struct {
	name  string
	codec Compression
	enc   func(t testing.TB, src []byte) []byte
	dec   func(t testing.TB, src []byte) []byte // nil: no independent decoder
}

func refCodecs() []refCodec {
	return []refCodec{
		{"gzip (std)", Gzip, func(t testing.TB, src []byte) []byte {
			var buf bytes.Buffer
			w := stdgzip.NewWriter(&buf)
			if _, err := w.Write(src); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}, func(t testing.TB, src []byte) []byte {
			r, err := stdgzip.NewReader(bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{"snappy plain", Snappy, func(t testing.TB, src []byte) []byte { return s2.EncodeSnappy(nil, src) },
			func(t testing.TB, src []byte) []byte {
				out, err := s2.Decode(nil, src)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}},
		{"snappy xerial", Snappy, xerialEncode, nil},
		{"lz4 frame (library defaults)", LZ4, func(t testing.TB, src []byte) []byte {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			if _, err := w.Write(src); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes()
		}, func(t testing.TB, src []byte) []byte {
			out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(src)))
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
		{"zstd", Zstd, func(t testing.TB, src []byte) []byte {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			return e.EncodeAll(src, nil)
		}, func(t testing.TB, src []byte) []byte {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			out, err := d.DecodeAll(src, nil)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}},
	}
}

// xerialEncode writes xerial's snappy framing as the Java client does:
// magic, version 1, compat 1, then 32 KiB blocks each with its length.
func xerialEncode(t testing.TB, src []byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(src) > 0 {
		n := min(len(src), 32<<10)
		blk := s2.EncodeSnappy(nil, src[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(blk)))
		out = append(out, blk...)
		src = src[n:]
	}
	return out
}

func readAllRecords(t *testing.T, it *Iter, b []byte) []Record {
	t.Helper()
	if err := it.Reset(b); err != nil {
		t.Fatal(err)
	}
	var out []Record
	var r Record
	for it.Next(&r) {
		r.Headers = append([]RecordHeader(nil), r.Headers...)
		out = append(out, r)
		r = Record{}
	}
	if it.Err() != nil {
		t.Fatal(it.Err())
	}
	return out
}

// TestCodecsReadKafkaBatches checks that batches compressed by each codec,
// as producers write them, read back with Iter and pass Validate.
func TestCodecsReadKafkaBatches(t *testing.T) {
	var it Iter
	for _, c := range refCodecs() {
		for _, tt := range recordCases() {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				recs := kmsgRecords(t, tt.recs)
				b := kmsgBatch(t, c.enc(t, recs), len(tt.recs), int16(c.codec), tt.recs[0].ts, maxTs(tt.recs))
				got := readAllRecords(t, &it, b)
				if len(got) != len(tt.recs) {
					t.Fatalf("%d records, want %d", len(got), len(tt.recs))
				}
				for i, r := range got {
					checkRecord(t, i, r, tt.recs[i], uint64(i))
				}
				if it.Header().Compression() != c.codec {
					t.Fatalf("compression %v, want %v", it.Header().Compression(), c.codec)
				}
				if _, err := Validate(b, 2<<20, 4<<20); err != nil {
					t.Fatalf("Validate: %v", err)
				}
			})
		}
	}
}

// TestCompress checks that Compress keeps the header and records, and that
// what it writes decodes with the reference decoders.
func TestCompress(t *testing.T) {
	var it Iter
	for _, c := range refCodecs() {
		if c.dec == nil {
			continue
		}
		for _, tt := range recordCases() {
			t.Run(c.name+"/"+tt.name, func(t *testing.T) {
				plain := build(tt.recs)
				b, err := Compress(plain, c.codec)
				if err != nil {
					t.Fatal(err)
				}
				h, err := Check(b, len(b))
				if err != nil {
					t.Fatal(err)
				}
				ph, _ := ParseHeader(plain, len(plain))
				if h.Compression() != c.codec || h.NumRecords != ph.NumRecords || h.FirstTimestamp != ph.FirstTimestamp || h.MaxTimestamp != ph.MaxTimestamp || h.ProducerID != -1 {
					t.Fatalf("header %+v from %+v", h, ph)
				}
				if got := c.dec(t, b[HeaderSize:]); !bytes.Equal(got, plain[HeaderSize:]) {
					t.Fatalf("reference decoder gives %d bytes, want the %d record bytes", len(got), len(plain)-HeaderSize)
				}
				got := readAllRecords(t, &it, b)
				for i, r := range got {
					checkRecord(t, i, r, tt.recs[i], uint64(i))
				}
			})
		}
	}
	if _, err := Compress(build(recordCases()[0].recs), Compression(6)); err == nil {
		t.Fatal("Compress with codec 6 succeeded")
	}
}

// rebatch puts records bytes into the header of b with the CRC recomputed,
// so that only the records are wrong.
func rebatch(b, records []byte) []byte {
	out := append(append([]byte(nil), b[:HeaderSize]...), records...)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-offLeaderEpoch))
	SetCRC(out)
	return out
}

// TestCorruptCompressed checks that broken compressed records give
// ErrMalformed, and that no byte flip anywhere in them panics.
func TestCorruptCompressed(t *testing.T) {
	recs := recordCases()[6].recs
	var it Iter
	var r Record
	for _, c := range refCodecs() {
		t.Run(c.name, func(t *testing.T) {
			b := kmsgBatch(t, c.enc(t, kmsgRecords(t, recs)), len(recs), int16(c.codec), recs[0].ts, maxTs(recs))
			comp := b[HeaderSize:]
			tests := []struct {
				name    string
				records []byte
			}{
				{"truncated to half", comp[:len(comp)/2]},
				{"cut by one byte", comp[:len(comp)-1]},
				{"empty", nil},
				{"garbage", bytes.Repeat([]byte{0xfe, 0x01, 0x77}, 100)},
			}
			for _, tt := range tests {
				bad := rebatch(b, tt.records)
				err := it.Reset(bad)
				for err == nil && it.Next(&r) {
				}
				if err == nil {
					err = it.Err()
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: err %v, want ErrMalformed", tt.name, err)
				}
				if _, err := Validate(bad, 1<<20, 1<<20); !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s: Validate err %v, want ErrInvalid", tt.name, err)
				}
			}
			// Byte flips spread over the block: an error or a clean read, never
			// a panic.
			for i := 0; i < len(comp); i += max(1, len(comp)/300) {
				flipped := append([]byte(nil), comp...)
				flipped[i] ^= 0x5a
				bad := rebatch(b, flipped)
				if it.Reset(bad) == nil {
					for it.Next(&r) {
					}
				}
				_, _ = Validate(bad, 1<<20, 1<<20)
			}
		})
	}
}

// TestDecompressLimit checks that a small batch that inflates past the limit
// is refused before its records are all in memory.
func TestDecompressLimit(t *testing.T) {
	var recs []testRec
	zeros := make([]byte, 64<<10)
	for range 160 { // 10 MiB of records
		recs = append(recs, testRec{value: zeros, ts: 1})
	}
	for _, c := range refCodecs() {
		t.Run(c.name, func(t *testing.T) {
			b := kmsgBatch(t, c.enc(t, kmsgRecords(t, recs)), len(recs), int16(c.codec), 1, 1)
			it := Iter{Limit: 1 << 20}
			if err := it.Reset(b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Reset with a 1 MiB limit: err %v, want ErrMalformed", err)
			}
			if cap(it.buf) > 1<<20 {
				t.Fatalf("decompression buffer grew to %d bytes past the 1 MiB limit", cap(it.buf))
			}
			if _, err := Validate(b, 1<<20, 1<<20); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate with a 1 MiB batch limit: err %v, want ErrInvalid", err)
			}
			it.Limit = 11 << 20
			if got := readAllRecords(t, &it, b); len(got) != len(recs) {
				t.Fatalf("with an 11 MiB limit: %d records, want %d", len(got), len(recs))
			}
		})
	}
}
