package server

import (
	"google.golang.org/grpc/mem"

	"github.com/logbroker/logbroker/internal/bufpool"
)

// batchBuffers holds read batches and, through experimental.BufferPool,
// gRPC's receive buffers. Unlike gRPC's default pool it does not clear them
// (see bufpool); a read overwrites what it returns.
var batchBuffers = bufpool.Default

// readSize is what a read of maxBytes needs from its buffer
// (segment.View.Read reads in chunks of at least 64 KiB, at most 4 MiB).
func readSize(maxBytes int) int { return min(max(maxBytes, 64<<10), 4<<20) }

// pooledMessage is a rawMessage whose bytes return to batchBuffers once gRPC
// has written them.
type pooledMessage struct{ data *[]byte }

// entryMessage is one stored entry sent as it is: a view of a read buffer
// that gRPC frees once written. sendEntries reuses one *entryMessage for a
// whole batch (gRPC is done with a message when SendMsg returns; it keeps
// only the marshalled BufferSlice), so a send boxes nothing.
type entryMessage struct{ b mem.BufferSlice }

// heapOnly is a BufferPool that drops what it is given: it lets a batch the
// GC owns (a live tail's) be handed out as refcounted views, which gRPC
// recycles, instead of a boxed SliceBuffer per entry.
type heapOnly struct{}

func (heapOnly) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (heapOnly) Put(*[]byte)       {}
