package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a RecordBatch v2 header: the bytes before the
// first record.
const HeaderSize = 61

// Magic is the RecordBatch version this package reads and writes.
const Magic = 2

// MaxOffset bounds base offsets and the offsets a batch's records take, so
// that offsets stay valid as Kafka's signed 64-bit offsets.
const MaxOffset = 1<<63 - 1

// Field positions in the header. The CRC covers [crcStart, end): base
// offset, length, leader epoch and magic sit outside it, so the base offset
// and the leader epoch can be set on a checked batch without a recompute.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57
	crcStart           = offAttributes
	// lengthOverhead is Length minus the records: the header after the
	// length field.
	lengthOverhead = HeaderSize - offLeaderEpoch
)

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Compression is a batch's codec, from its attributes' low three bits.
type Compression int8

const (
	None   Compression = 0
	Gzip   Compression = 1
	Snappy Compression = 2
	LZ4    Compression = 3
	Zstd   Compression = 4
)

func (c Compression) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("compression(%d)", int8(c))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors. Wrap with %w and test with errors.Is.
var (
	// ErrTorn reports bytes that do not hold a whole, plausible batch header
	// or batch: a torn write, garbage, or an untrusted batch that is cut short.
	ErrTorn = errors.New("batch: torn or implausible batch")
	// ErrCRC reports a batch whose CRC does not match its bytes.
	ErrCRC = errors.New("batch: crc mismatch")
)

// Header is a parsed RecordBatch v2 header.
type Header struct {
	BaseOffset      uint64
	Length          int32 // bytes after the length field
	LeaderEpoch     int32 // the Raft term of the leader that appended it; 0 before replication
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	FirstTimestamp  int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size is the whole batch's size in bytes.
func (h Header) Size() int64 { return offLength + 4 + int64(h.Length) }

// Next is the offset after the batch's last record.
func (h Header) Next() uint64 { return h.BaseOffset + uint64(h.LastOffsetDelta) + 1 }

// Count is the number of offsets the batch takes.
func (h Header) Count() uint32 { return uint32(h.LastOffsetDelta) + 1 }

// Compression is the codec of the batch's records.
func (h Header) Compression() Compression {
	return Compression(h.Attributes & AttrCompressionMask)
}

// Control reports a control batch (transaction markers).
func (h Header) Control() bool { return h.Attributes&AttrControl != 0 }

// Transactional reports a batch written inside a transaction.
func (h Header) Transactional() bool { return h.Attributes&AttrTransactional != 0 }

// LogAppendTime reports that the broker's append time, MaxTimestamp, is
// every record's timestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&AttrLogAppendTime != 0 }

// ParseHeader reads the header at the start of b without checking the CRC.
// maxSize bounds the batch's Size. It fails, wrapping ErrTorn, when b is
// shorter than a header or the header is not one a stored batch can have:
// magic 2, a length that holds the header and at most maxSize, at least one
// record, a record count equal to LastOffsetDelta+1, and offsets within
// MaxOffset.
func ParseHeader(b []byte, maxSize int) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d header bytes, need %d", ErrTorn, len(b), HeaderSize)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:      be.Uint64(b[offBaseOffset:]),
		Length:          int32(be.Uint32(b[offLength:])),
		LeaderEpoch:     int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             be.Uint32(b[offCRC:]),
		Attributes:      int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:  int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:    int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:      int32(be.Uint32(b[offNumRecords:])),
	}
	switch {
	case h.Magic != Magic:
		return h, fmt.Errorf("%w: magic %d, want %d", ErrTorn, h.Magic, Magic)
	case h.Length < lengthOverhead || h.Size() > int64(maxSize):
		return h, fmt.Errorf("%w: length %d (a batch takes %d to %d)", ErrTorn, h.Length, lengthOverhead, int64(maxSize)-offLength-4)
	case h.NumRecords < 1 || h.LastOffsetDelta != h.NumRecords-1:
		return h, fmt.Errorf("%w: %d records with last offset delta %d", ErrTorn, h.NumRecords, h.LastOffsetDelta)
	case h.BaseOffset > MaxOffset || h.Next()-1 > MaxOffset || h.Next() <= h.BaseOffset:
		return h, fmt.Errorf("%w: base offset %d with %d records is out of range", ErrTorn, h.BaseOffset, h.NumRecords)
	}
	return h, nil
}

// Check parses the header of the batch at the start of b (ParseHeader) and
// verifies the CRC of its Size() bytes. A short batch wraps ErrTorn, a CRC
// mismatch ErrCRC.
func Check(b []byte, maxSize int) (Header, error) {
	h, err := ParseHeader(b, maxSize)
	if err != nil {
		return h, err
	}
	if int64(len(b)) < h.Size() {
		return h, fmt.Errorf("%w: batch at offset %d needs %d bytes, have %d", ErrTorn, h.BaseOffset, h.Size(), len(b))
	}
	if c := crc32.Checksum(b[crcStart:h.Size()], castagnoli); c != h.CRC {
		return h, fmt.Errorf("%w: batch at offset %d: crc 0x%08x, want 0x%08x", ErrCRC, h.BaseOffset, c, h.CRC)
	}
	return h, nil
}

// SetBaseOffset writes base into a batch's header. It is outside the CRC.
func SetBaseOffset(b []byte, base uint64) { binary.BigEndian.PutUint64(b[offBaseOffset:], base) }

// SetLeaderEpoch writes epoch into a batch's header. It is outside the CRC.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetCRC computes and writes the CRC of the whole batch b; the length field
// must already be right.
func SetCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[crcStart:], castagnoli))
}

// SetProducer writes an idempotent producer's id, epoch and base sequence
// into a whole batch b and recomputes its CRC, which covers them. Brokers
// never call it (producers set these); tests and tools building batches do.
func SetProducer(b []byte, id int64, epoch int16, baseSequence int32) {
	be := binary.BigEndian
	be.PutUint64(b[offProducerID:], uint64(id))
	be.PutUint16(b[offProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offBaseSequence:], uint32(baseSequence))
	SetCRC(b)
}
