package partition

import (
	"fmt"
	"sync"
	"time"

	"github.com/logbroker/logbroker/batch"
)

// Frame is one produce request's records as a RecordBatch v2, built on the
// producer's goroutine so that the actor only sets the base offset (outside
// the CRC) and writes. A decoder can fill it straight from a request's
// bytes, with no Record per record in between. A Frame is used by one
// goroutine; AppendFrame and AppendFrameAsync take it over, and Release
// returns an unused one.
type Frame struct {
	b       batch.Builder
	now     int64 // stamps records sent without a timestamp
	largest int   // encoded size of the largest record
	largeAt int   // its index
	live    bool  // b holds a pooled buffer
}

// NewFrame returns an empty frame with room for about size bytes of records.
func NewFrame(size int) *Frame { return NewFrameAt(size, time.Now().UnixMilli()) }

// NewFrameAt is NewFrame stamping records without a timestamp with nowMs.
func NewFrameAt(size int, nowMs int64) *Frame {
	f := &Frame{now: nowMs, live: true}
	f.b.Reset(getFrame(batch.HeaderSize + size))
	return f
}

// Add appends one record; a zero timestamp is stamped with the frame's
// creation time. A nil key, value or header value is stored as null, an
// empty one as empty. The bytes are copied, so the caller may reuse them.
func (f *Frame) Add(key, value []byte, headers []Header, timestampMs int64) {
	if size := f.b.Add(key, value, headers, stamp(timestampMs, f.now)); size > f.largest {
		f.largest, f.largeAt = size, f.b.Len()-1
	}
}

// Len is the number of records added.
func (f *Frame) Len() int { return f.b.Len() }

// Bytes is the batch as built so far, sealed (its CRC computed), with base
// offset 0, or nil before the first record. It aliases the frame; Add after
// it invalidates it.
func (f *Frame) Bytes() []byte {
	if f.b.Len() == 0 {
		return nil
	}
	return f.b.Finish()
}

// Release recycles the frame's buffer; the frame must not be used again.
func (f *Frame) Release() {
	if f.live && f.b.Len() > 0 {
		putFrame(f.b.Finish())
	}
	f.live = false
}

// check applies the limits storage enforces; the frame is untouched.
func (f *Frame) check(maxRecordBytes int) error {
	if f.b.Len() == 0 {
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
	r := &appendReq{frame: f.b.Finish(), count: f.b.Len()}
	f.live = false
	return r
}

// framePool recycles frame buffers: a produce request of 1,000 small records
// is a 100 KiB+ allocation that the actor is done with once it is written.
var framePool sync.Pool

// maxPooledFrame keeps rare huge requests from pinning memory.
const maxPooledFrame = 4 << 20

// getFrame returns an empty buffer of capacity >= size.
func getFrame(size int) []byte {
	if v, ok := framePool.Get().(*[]byte); ok && cap(*v) >= size {
		return (*v)[:0]
	}
	return make([]byte, 0, size)
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
