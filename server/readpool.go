package server

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// bufferPool is the server's pool of byte buffers, shared by gRPC's receive
// path (experimental.BufferPool) and ConsumeBatches read buffers.
//
// gRPC's default pool clears every buffer it hands out, and its size
// classes jump from 32 KiB to 1 MiB: a 110 KiB produce request cleared a
// 1 MiB buffer, 9% of the broker's produce CPU, and a read batch the same.
// This pool does not clear (gRPC reads a whole message into the buffer, and
// a read overwrites what it returns) and has a class per power of two.
// A buffer handed to gRPC with a batch comes back once the transport has
// written it (mem.NewBuffer).
type bufferPool struct {
	pools [maxPoolShift + 1]sync.Pool
}

const (
	minPoolShift = 8  // 256 B
	maxPoolShift = 22 // 4 MiB; larger buffers are not kept
)

var batchBuffers = &bufferPool{}

// readSize is what a read of maxBytes needs from its buffer
// (segment.View.Read reads in chunks of at least 64 KiB, at most 4 MiB).
func readSize(maxBytes int) int { return min(max(maxBytes, 64<<10), 4<<20) }

// class is the pool of buffers of 1<<class bytes that holds n bytes.
func class(n int) int { return max(minPoolShift, bits.Len(uint(n-1))) }

// Get returns a buffer of length n, pooled when n fits a class.
func (p *bufferPool) Get(n int) *[]byte {
	c := class(n)
	if c > maxPoolShift {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.pools[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put takes back a buffer obtained from Get (or a prefix of it).
func (p *bufferPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minPoolShift || c > 1<<maxPoolShift || c&(c-1) != 0 {
		return
	}
	*b = (*b)[:c]
	p.pools[bits.Len(uint(c))-1].Put(b)
}

var _ mem.BufferPool = (*bufferPool)(nil)

// pooledMessage is a rawMessage whose bytes return to batchBuffers once gRPC
// has written them.
type pooledMessage struct{ data *[]byte }

// entryMessage is one stored entry sent as it is: a view of a read buffer
// that gRPC frees once written.
type entryMessage struct{ b mem.Buffer }
