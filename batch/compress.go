package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs. gzip, snappy and zstd come from klauspost/compress, lz4 (the frame
// format, what Kafka writes since magic 1) from pierrec/lz4, the pair
// franz-go itself uses. Decoders are pooled: each is used by one goroutine
// at a time and kept for the next batch; none starts a goroutine (the zstd
// decoders run with concurrency 1, which decodes synchronously).
//
// Snappy is read in both framings Kafka producers write: a plain snappy
// block (librdkafka, franz-go, sarama) and xerial's framing (the Java
// client): "\x82SNAPPY\x00", version, compat, then blocks of [4-byte
// big-endian length][snappy block]. Compress writes a plain block, as
// franz-go and librdkafka do; the Java client reads both. Blocks are
// decoded strictly (snappy.DecodeStrict): s2's extensions, which Java
// cannot read, are refused.

// errTooBig reports a decompressed size past the caller's limit.
var errTooBig = errors.New("decompressed size over the limit")

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// xerialHeaderSize is the magic, version and compat fields.
const xerialHeaderSize = 16

// zstdMaxWindow bounds the window a zstd frame may ask for: the 8 MiB the
// zstd format recommends every decoder support, which producers stay under
// at their default levels. Without it a few bytes could ask for gigabytes.
const zstdMaxWindow = 8 << 20

var (
	gzipReaders sync.Pool // *gzip.Reader
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdReaders = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err) // only for bad options
		}
		return d
	}}
)

// decompress appends the decompression of src by codec c to dst and fails,
// wrapping errTooBig, when that would pass limit bytes. Memory grows with
// what is really decompressed, never with a size the input claims.
func decompress(dst []byte, c Compression, src []byte, limit int) ([]byte, error) {
	switch c {
	case Gzip:
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, err // says gzip
		}
		dst, err = readAll(dst, zr, limit)
		gzipReaders.Put(zr)
		return dst, err
	case Snappy:
		return unsnappy(dst, src, limit)
	case LZ4:
		zr := lz4Readers.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		dst, err := readAll(dst, zr, limit)
		zr.Reset(nil)
		lz4Readers.Put(zr)
		return dst, err
	case Zstd:
		zr := zstdReaders.Get().(*zstd.Decoder)
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			zstdReaders.Put(zr)
			return dst, fmt.Errorf("zstd: %w", err)
		}
		dst, err := readAll(dst, zr, limit)
		_ = zr.Reset(nil)
		zstdReaders.Put(zr)
		return dst, err
	}
	return dst, fmt.Errorf("unknown compression %d", c)
}

// readAll appends what r yields to dst, up to limit bytes in all.
func readAll(dst []byte, r io.Reader, limit int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			if len(dst)-start >= limit {
				// Full at the limit: one more byte means too big.
				var one [1]byte
				n, err := io.ReadFull(r, one[:])
				if n > 0 {
					return dst, fmt.Errorf("%w of %d bytes", errTooBig, limit)
				}
				if err == io.EOF {
					return dst, nil
				}
				return dst, err
			}
			n := min(max(cap(dst)-start, 4096), start+limit-len(dst))
			dst = grow(dst, n, start+limit)
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// unsnappy decodes a plain snappy block or xerial's framing of them.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialMagic) {
		return unsnappyBlock(dst, src, limit, len(dst)+limit)
	}
	if len(src) < xerialHeaderSize {
		return dst, fmt.Errorf("snappy: xerial header of %d bytes", len(src))
	}
	src = src[xerialHeaderSize:]
	start, left := len(dst), limit
	for len(src) > 0 {
		if len(src) < 4 {
			return dst, fmt.Errorf("snappy: xerial block length cut at %d bytes", len(src))
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("snappy: xerial block of %d bytes, %d left", n, len(src))
		}
		before := len(dst)
		var err error
		if dst, err = unsnappyBlock(dst, src[:n], left, start+limit); err != nil {
			return dst, err
		}
		left -= len(dst) - before
		src = src[n:]
	}
	return dst, nil
}

// unsnappyBlock appends one decoded snappy block to dst, checking the
// length it claims against limit before allocating, and growing dst to at
// most capMax.
func unsnappyBlock(dst, src []byte, limit, capMax int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	if n > limit {
		return dst, fmt.Errorf("snappy: block of %d bytes: %w of %d bytes", n, errTooBig, limit)
	}
	start := len(dst)
	dst = grow(dst, n, capMax)[:start+n]
	// DecodeStrict decodes in place when its dst has the capacity.
	out, err := snappy.DecodeStrict(dst[start:start+n:start+n], src)
	if err != nil {
		return dst[:start], fmt.Errorf("snappy: %w", err)
	}
	if len(out) != n || (n > 0 && &out[0] != &dst[start]) {
		return dst[:start], errors.New("snappy: block decoded outside its buffer")
	}
	return dst, nil
}

// grow returns dst with room for at least n more bytes past its length,
// doubling its capacity but to no more than capMax (or len(dst)+n, if more)
// so that a limit on the decompressed size bounds the memory too.
func grow(dst []byte, n, capMax int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	c := max(min(2*cap(dst), capMax), len(dst)+n)
	return append(make([]byte, 0, c), dst...)
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// 64 KiB blocks, as Kafka's Java producer writes them; the
		// library's 4 MiB default costs 8 MiB of buffers per writer.
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			panic(err)
		}
		return w
	}}
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		return e
	})
)

// streamEncoder is what the gzip and lz4 writers share.
type streamEncoder interface {
	Reset(io.Writer)
	io.WriteCloser
}

// encodeStream appends src compressed by w to dst.
func encodeStream(dst []byte, w streamEncoder, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// compress appends src compressed with c to dst.
func compress(dst []byte, c Compression, src []byte) ([]byte, error) {
	switch c {
	case Gzip:
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		return encodeStream(dst, zw, src)
	case Snappy:
		return append(dst, s2.EncodeSnappy(nil, src)...), nil
	case LZ4:
		zw := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(zw)
		return encodeStream(dst, zw, src)
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("unknown compression %d", c)
}

// Compress builds a compressed copy of the uncompressed batch b (for tests,
// benchmarks and tools that act as a Kafka producer would): same header and
// records, the attributes' codec bits set to c, length and CRC recomputed.
// b's CRC is checked first.
func Compress(b []byte, c Compression) ([]byte, error) {
	h, err := Check(b, len(b))
	if err != nil {
		return nil, err
	}
	if h.Compression() != None {
		return nil, fmt.Errorf("batch: compress a batch already compressed with %v", h.Compression())
	}
	if c == None {
		return append([]byte(nil), b[:h.Size()]...), nil
	}
	out := append(make([]byte, 0, HeaderSize+int(h.Size())/2), b[:HeaderSize]...)
	if out, err = compress(out, c, b[HeaderSize:h.Size()]); err != nil {
		return nil, fmt.Errorf("batch: compress with %v: %w", c, err)
	}
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(len(out)-offLeaderEpoch))
	be.PutUint16(out[offAttributes:], uint16(h.Attributes&^AttrCompressionMask|int16(c)))
	SetCRC(out)
	return out, nil
}
