package server

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// readPool recycles ConsumeBatches read buffers: a catch-up read fills up to
// max_bytes, and allocating (and zeroing) that per batch was a fifth of the
// broker's consume CPU. A buffer is handed to gRPC with the batch and comes
// back here when the transport has written it (mem.NewBuffer). Unlike gRPC's
// default pool it does not clear buffers: a read overwrites what it returns.
type readPool struct {
	classes [3]int
	pools   [3]sync.Pool
}

var batchBuffers = &readPool{classes: [3]int{64 << 10, 1 << 20, 4 << 20}}

// readSize is what a read of maxBytes needs from its buffer
// (segment.View.Read reads in chunks of at least 64 KiB, at most 4 MiB).
func readSize(maxBytes int) int { return min(max(maxBytes, 64<<10), 4<<20) }

// Get returns a buffer of length n, pooled when n fits a class.
func (p *readPool) Get(n int) *[]byte {
	for i, c := range p.classes {
		if n <= c {
			if b, ok := p.pools[i].Get().(*[]byte); ok {
				*b = (*b)[:n]
				return b
			}
			b := make([]byte, n, c)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

// Put takes back a buffer obtained from Get (or a prefix of it).
func (p *readPool) Put(b *[]byte) {
	c := cap(*b)
	for i, class := range p.classes {
		if c == class {
			*b = (*b)[:c]
			p.pools[i].Put(b)
			return
		}
	}
}

var _ mem.BufferPool = (*readPool)(nil)

// pooledMessage is a rawMessage whose bytes return to batchBuffers once gRPC
// has written them.
type pooledMessage struct{ data *[]byte }
