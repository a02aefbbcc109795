package batch

import (
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
)

// ErrInvalid is what Validate returns, wrapped with the reason.
var ErrInvalid = errors.New("batch: invalid batch")

// ErrTooLarge is wrapped, beside ErrInvalid, by Validate's errors for a
// batch or record over its size limit, which a producer must be told apart
// from damage (Kafka's MESSAGE_TOO_LARGE against CORRUPT_MESSAGE).
var ErrTooLarge = errors.New("batch: over the size limit")

// scratch holds decompression buffers for Validate. Buffers past
// maxPooledScratch are dropped rather than kept for a rare big batch.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledScratch = 8 << 20

// Validate checks an untrusted batch, as it arrives from the network, before
// it reaches storage: exactly one whole batch of at most maxBatchBytes (no
// trailing bytes), magic 2, lengths, CRC, NumRecords >= 1 and equal to
// LastOffsetDelta+1, a known codec, not a control batch (refused for now),
// and then every record: it decodes (inside the decompressed records when
// the batch is compressed, which may not inflate past maxBatchBytes), its
// encoded size is at most maxRecordBytes, offset deltas run 0, 1, 2, ... in
// order, the count equals NumRecords, and no bytes follow the last record.
// It returns the header. Errors wrap ErrInvalid (and ErrTorn or ErrCRC where
// those apply) and name what was wrong with which value. It never panics,
// and allocates no more than maxBatchBytes whatever the input.
//
// Timestamps are not checked: MaxTimestamp is taken as the producer wrote it.
func Validate(b []byte, maxRecordBytes, maxBatchBytes int) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %w: %d bytes, a batch header takes %d", ErrInvalid, ErrTorn, len(b), HeaderSize)
	}
	// A length past len(b) is refused here, as torn.
	h, err := ParseHeader(b, len(b))
	if err != nil {
		return h, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch size := h.Size(); {
	case size < int64(len(b)):
		return h, fmt.Errorf("%w: %d bytes after the batch of %d", ErrInvalid, int64(len(b))-size, size)
	case size > int64(maxBatchBytes):
		return h, fmt.Errorf("%w: %w: batch of %d bytes, over the limit of %d", ErrInvalid, ErrTooLarge, size, maxBatchBytes)
	}
	if c := crc32.Checksum(b[crcStart:], castagnoli); c != h.CRC {
		return h, fmt.Errorf("%w: %w: crc 0x%08x, header says 0x%08x", ErrInvalid, ErrCRC, c, h.CRC)
	}
	if h.Control() {
		return h, fmt.Errorf("%w: control batch (attributes 0x%04x) refused", ErrInvalid, h.Attributes)
	}
	recs := b[HeaderSize:]
	if c := h.Compression(); c != None {
		if c > Zstd {
			return h, fmt.Errorf("%w: unknown compression %d", ErrInvalid, c)
		}
		bp := scratch.Get().(*[]byte)
		defer func() {
			if cap(*bp) <= maxPooledScratch {
				scratch.Put(bp)
			}
		}()
		if *bp, err = decompress((*bp)[:0], c, recs, maxBatchBytes); err != nil {
			if errors.Is(err, errTooBig) {
				return h, fmt.Errorf("%w: %w: %v records: %v", ErrInvalid, ErrTooLarge, c, err)
			}
			return h, fmt.Errorf("%w: %v records: %v", ErrInvalid, c, err)
		}
		recs = *bp
	}
	var rr rawRecord
	var i int32
	for ; len(recs) > 0; i++ {
		if i == h.NumRecords {
			return h, fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(recs), h.NumRecords)
		}
		n, err := readRecord(recs, &rr)
		switch {
		case err != nil:
			return h, fmt.Errorf("%w: record %d: %v", ErrInvalid, i, err)
		case n > maxRecordBytes:
			return h, fmt.Errorf("%w: %w: record %d of %d bytes, over the limit of %d", ErrInvalid, ErrTooLarge, i, n, maxRecordBytes)
		case rr.offsetDelta != i:
			return h, fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, i, rr.offsetDelta)
		}
		recs = recs[n:]
	}
	if i != h.NumRecords {
		return h, fmt.Errorf("%w: %d records, header says %d", ErrInvalid, i, h.NumRecords)
	}
	return h, nil
}
