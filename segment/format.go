package segment

import (
	"errors"
	"fmt"

	"github.com/logbroker/logbroker/batch"
)

// MaxFrameBytes is the absolute bound on a stored batch's size; Options can
// lower it.
const MaxFrameBytes = 1 << 30

// minFrameSize is the smallest frame of any format, for bounding index sizes.
const minFrameSize = legacyHeaderSize

// Errors. Wrap with %w and test with errors.Is.
var (
	// ErrCorrupt reports a checksum mismatch or a malformed batch in data
	// that should be intact (synced or sealed).
	ErrCorrupt = errors.New("segment: corrupt data")
	// ErrTorn reports an incomplete or garbage batch; recovery truncates there.
	ErrTorn = errors.New("segment: torn frame")
	// ErrFull reports that an append would grow the segment past its size.
	ErrFull = errors.New("segment: full")
	// ErrClosed reports use of a closed, sealed-for-writing or removed segment.
	ErrClosed = errors.New("segment: closed")
	// ErrMalformed reports bytes handed to Append that are not stored batches.
	ErrMalformed = errors.New("segment: malformed batch")
)

// frameInfo is what storage needs of one stored batch's header, whichever
// format it is in.
type frameInfo struct {
	base, next uint64
	size       int64
	maxTs      int64
}

// format is one on-disk frame format: RecordBatch v2, or the previous
// release's frames (legacy segments are only read).
type format struct {
	name       string
	headerSize int
	// parse reads the header at the start of b (at least headerSize bytes);
	// an implausible one wraps ErrTorn.
	parse func(b []byte, maxSize int) (frameInfo, error)
	// check verifies a whole frame's checksum: ErrCorrupt on a mismatch.
	check func(frame []byte, maxSize int) error
}

var v2 = &format{
	name:       "v2",
	headerSize: batch.HeaderSize,
	parse: func(b []byte, maxSize int) (frameInfo, error) {
		h, err := batch.ParseHeader(b, maxSize)
		if err != nil {
			return frameInfo{}, fmt.Errorf("%w: %w", ErrTorn, err)
		}
		return frameInfo{base: h.BaseOffset, next: h.Next(), size: h.Size(), maxTs: h.MaxTimestamp}, nil
	},
	check: func(frame []byte, maxSize int) error {
		if _, err := batch.Check(frame, maxSize); err != nil {
			if errors.Is(err, batch.ErrCRC) {
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			return fmt.Errorf("%w: %w", ErrTorn, err)
		}
		return nil
	},
}

var legacy = &format{
	name:       "legacy",
	headerSize: legacyHeaderSize,
	parse: func(b []byte, maxSize int) (frameInfo, error) {
		h, err := parseLegacyHeader(b, maxSize)
		if err != nil {
			return frameInfo{}, err
		}
		return frameInfo{base: h.Base, next: h.Next(), size: h.Size(), maxTs: h.MaxTimestampMs}, nil
	},
	check: func(frame []byte, _ int) error {
		_, err := checkLegacyFrame(frame)
		return err
	},
}

// ShouldRoll is the roll decision: roll when the segment holds data and the
// incoming bytes would take it past maxBytes.
func ShouldRoll(size, incoming, maxBytes int64) bool {
	return size > 0 && size+incoming > maxBytes
}
