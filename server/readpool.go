package server

import (
	"google.golang.org/grpc/mem"

	"github.com/logbroker/logbroker/client/bufpool"
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
// that gRPC frees once written.
type entryMessage struct{ b mem.Buffer }
