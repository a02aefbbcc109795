package segment

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The frames of the previous release, kept to read data directories it
// wrote (see doc.go, "Upgrade"). Nothing writes them any more but tests.

// legacyHeaderSize is the size of a legacy frame header.
const legacyHeaderSize = 32

const (
	frameMagic   = 1
	frameLenMin  = legacyHeaderSize - 4 // frameLen of a frame with an empty payload
	crcStart     = 8
	offCount     = 12
	offBase      = 16
	offMaxTs     = 24
	offFrameLen  = 0
	offFrameCRC  = 4
	offFrameMag  = 8
	offFrameFlag = 9
	offReserved  = 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// legacyFrameHeader is a parsed frame header.
type legacyFrameHeader struct {
	Len            uint32 // bytes after the length field: 28 + payload
	CRC            uint32
	Count          uint32
	Base           uint64
	MaxTimestampMs int64
}

// Next is the offset after the frame's last record.
func (h legacyFrameHeader) Next() uint64 { return h.Base + uint64(h.Count) }

// Size is the whole frame's size on disk.
func (h legacyFrameHeader) Size() int64 { return 4 + int64(h.Len) }

// sealLegacyFrame fills the header of frame (frame[:legacyHeaderSize] reserved by the
// caller, payload after it with offsets already set) and computes the CRC.
func sealLegacyFrame(frame []byte, base uint64, count uint32, maxTimestampMs int64) {
	le := binary.LittleEndian
	le.PutUint32(frame[offFrameLen:], uint32(len(frame)-4))
	frame[offFrameMag] = frameMagic
	frame[offFrameFlag] = 0
	le.PutUint16(frame[offReserved:], 0)
	le.PutUint32(frame[offCount:], count)
	le.PutUint64(frame[offBase:], base)
	le.PutUint64(frame[offMaxTs:], uint64(maxTimestampMs))
	le.PutUint32(frame[offFrameCRC:], crc32.Checksum(frame[crcStart:], castagnoli))
}

func parseLegacyHeader(b []byte, maxLen int) (legacyFrameHeader, error) {
	if len(b) < legacyHeaderSize {
		return legacyFrameHeader{}, fmt.Errorf("%w: %d header bytes, need %d", ErrTorn, len(b), legacyHeaderSize)
	}
	le := binary.LittleEndian
	h := legacyFrameHeader{
		Len:            le.Uint32(b[offFrameLen:]),
		CRC:            le.Uint32(b[offFrameCRC:]),
		Count:          le.Uint32(b[offCount:]),
		Base:           le.Uint64(b[offBase:]),
		MaxTimestampMs: int64(le.Uint64(b[offMaxTs:])),
	}
	switch {
	case h.Len < frameLenMin || int64(h.Len) > int64(maxLen):
		return h, fmt.Errorf("%w: frame length %d", ErrTorn, h.Len)
	case b[offFrameMag] != frameMagic || b[offFrameFlag] != 0 || le.Uint16(b[offReserved:]) != 0:
		return h, fmt.Errorf("%w: bad magic/flags % x", ErrTorn, b[offFrameMag:offCount])
	case h.Count == 0 || uint64(h.Count)*minRecordLen > uint64(h.Len-frameLenMin):
		return h, fmt.Errorf("%w: %d records in %d payload bytes", ErrTorn, h.Count, h.Len-frameLenMin)
	case h.Base > legacyMaxOffset || h.Next()-1 > legacyMaxOffset:
		return h, fmt.Errorf("%w: base offset %d out of range", ErrTorn, h.Base)
	}
	return h, nil
}

// checkLegacyFrame parses the header of frame and verifies the CRC of its first
// Size() bytes. A short frame wraps ErrTorn, a CRC mismatch ErrCorrupt.
func checkLegacyFrame(frame []byte) (legacyFrameHeader, error) {
	h, err := parseLegacyHeader(frame, MaxFrameBytes)
	if err != nil {
		return h, err
	}
	if int64(len(frame)) < h.Size() {
		return h, fmt.Errorf("%w: frame at offset %d needs %d bytes, have %d", ErrTorn, h.Base, h.Size(), len(frame))
	}
	if c := crc32.Checksum(frame[crcStart:h.Size()], castagnoli); c != h.CRC {
		return h, fmt.Errorf("%w: frame at offset %d: crc 0x%08x, want 0x%08x", ErrCorrupt, h.Base, c, h.CRC)
	}
	return h, nil
}
