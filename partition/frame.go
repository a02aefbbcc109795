package partition

import (
	"fmt"
	"sync"
	"time"

	"github.com/logbroker/logbroker/segment"
)

// Frame is a batch of records already in the stored encoding, built on the
// producer's goroutine so that the actor only patches offsets and writes.
// A decoder can fill it straight from a request's bytes, with no Record per
// record in between. A Frame is used by one goroutine; AppendFrame and
// AppendFrameAsync take it over, and Release returns an unused one.
type Frame struct {
	buf     []byte // segment.HeaderSize reserved, then the records
	count   int
	maxTs   int64
	now     int64 // stamps records sent without a timestamp
	largest int   // encoded size of the largest record
	largeAt int   // its index
}

// NewFrame returns an empty frame with room for about size bytes of records.
func NewFrame(size int) *Frame { return NewFrameAt(size, time.Now().UnixMilli()) }

// NewFrameAt is NewFrame stamping records without a timestamp with nowMs.
func NewFrameAt(size int, nowMs int64) *Frame {
	return &Frame{buf: getFrame(segment.HeaderSize + size), now: nowMs}
}

// Add appends one record; a zero timestamp is stamped with the frame's
// creation time. The bytes are copied, so the caller may reuse them.
func (f *Frame) Add(key, value []byte, headers []Header, timestampMs int64) {
	ts := stamp(timestampMs, f.now)
	n := len(f.buf)
	f.buf = segment.AppendRecord(f.buf, key, value, headers, ts)
	if size := len(f.buf) - n; size > f.largest {
		f.largest, f.largeAt = size, f.count
	}
	if ts > f.maxTs {
		f.maxTs = ts
	}
	f.count++
}

// Len is the number of records added.
func (f *Frame) Len() int { return f.count }

// Payload is the records as stored, with offsets 0: a serialized EntryBatch.
// It aliases the frame.
func (f *Frame) Payload() []byte { return f.buf[segment.HeaderSize:] }

// Release recycles the frame's buffer; the frame must not be used again.
func (f *Frame) Release() {
	if f.buf != nil {
		putFrame(f.buf)
		f.buf = nil
	}
}

// check applies the limits storage enforces; the frame is untouched.
func (f *Frame) check(maxRecordBytes int) error {
	if f.count == 0 {
		return fmt.Errorf("%w: a produce request needs at least one record", ErrNoRecords)
	}
	if f.largest > maxRecordBytes {
		return fmt.Errorf("%w: record %d is %d bytes encoded, the maximum is %d",
			ErrRecordTooLarge, f.largeAt, f.largest, maxRecordBytes)
	}
	return nil
}

// request turns a checked frame into the actor's message; f is spent.
func (f *Frame) request() *appendReq {
	r := &appendReq{frame: f.buf, count: f.count, maxTs: f.maxTs}
	f.buf = nil
	return r
}

// framePool recycles frame buffers: a produce request of 1,000 small records
// is a 100 KiB+ allocation that the actor is done with once it is written.
var framePool sync.Pool

// maxPooledFrame keeps rare huge requests from pinning memory.
const maxPooledFrame = 4 << 20

// getFrame returns a buffer of length segment.HeaderSize and capacity >= size.
func getFrame(size int) []byte {
	if v, ok := framePool.Get().(*[]byte); ok && cap(*v) >= size {
		return (*v)[:segment.HeaderSize]
	}
	return make([]byte, segment.HeaderSize, size)
}

func putFrame(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledFrame {
		return
	}
	framePool.Put(&b)
}

func stamp(ts, now int64) int64 {
	if ts == 0 {
		return now
	}
	return ts
}
