// Package bufpool is a gRPC buffer pool (mem.BufferPool) that does not clear
// the buffers it hands out, shared by the client and the broker.
//
// gRPC's default pool clears every buffer it hands out, and its size classes
// jump from 32 KiB to 1 MiB: a 110 KiB produce request, or a 1 MiB read
// batch, cleared a 1 MiB buffer each time. Here each power of two from
// 256 B to 4 MiB is a class, and nothing is cleared, which is safe wherever
// the holder writes what it then reads: gRPC reads a whole message into its
// receive buffer, and marshalling or a file read fills what it returns.
//
// Concurrency: a Pool is safe for concurrent use.
package bufpool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

const (
	minShift = 8  // 256 B
	maxShift = 22 // 4 MiB; larger buffers are not kept
)

// Pool is a set of sync.Pools, one per power-of-two size class.
type Pool struct {
	pools [maxShift + 1]sync.Pool
}

// Default is the pool of this process.
var Default = &Pool{}

var _ mem.BufferPool = (*Pool)(nil)

// class is the pool of buffers of 1<<class bytes that holds n bytes.
func class(n int) int { return max(minShift, bits.Len(uint(n-1))) }

// Get returns a buffer of length n, pooled when n fits a class. Its bytes
// are not cleared.
func (p *Pool) Get(n int) *[]byte {
	c := class(n)
	if c > maxShift {
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

// Put takes back a buffer obtained from Get (or a prefix of it); others are
// dropped.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minShift || c > 1<<maxShift || c&(c-1) != 0 {
		return
	}
	*b = (*b)[:c]
	p.pools[bits.Len(uint(c))-1].Put(b)
}
