package server

import (
	"context"

	"github.com/logbroker/logbroker/partition"
)

// Registry is what the server needs from the topic registry (partition.Registry).
// Implementations must be safe for concurrent use.
type Registry interface {
	CreateTopic(ctx context.Context, name string, partitions uint32) (partition.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	// Topics lists every topic sorted by name.
	Topics() []partition.TopicInfo
	Partition(topic string, p uint32) (Partition, error)
	Offsets(ctx context.Context, topic string) ([]partition.Offsets, error)
}

// Partition is what the server needs from one partition handle
// (partition.Partition). Implementations must be safe for concurrent use.
type Partition interface {
	// AppendFrame stores f's records and takes f over, whatever the result.
	AppendFrame(ctx context.Context, f *partition.Frame) (base, last uint64, err error)
	// AppendFrameAsync queues f's records without waiting (acks none).
	AppendFrameAsync(ctx context.Context, f *partition.Frame) error
	// Read returns at most maxBytes but at least one record from offset;
	// Count == 0 means caught up. The caller owns Batch.Data.
	Read(ctx context.Context, offset uint64, maxBytes int) (partition.Batch, error)
	// ReadInto is Read into buf's capacity; Data aliases buf when it fits.
	ReadInto(ctx context.Context, buf []byte, offset uint64, maxBytes int) (partition.Batch, error)
	// Tail returns the records from offset when the last append holds them
	// all within maxBytes, without a read; Data is immutable.
	Tail(offset uint64, maxBytes int) (partition.Batch, bool)
	Offsets(ctx context.Context) (partition.Offsets, error)
	// OffsetForTime is the first offset whose record timestamp is at or
	// after ts, and the next offset when none is.
	OffsetForTime(ctx context.Context, ts int64) (uint64, error)
	// Subscribe registers a coalescing wake-up that fires after every append.
	Subscribe(ctx context.Context) (Subscription, error)
	// Done is closed when the partition has stopped.
	Done() <-chan struct{}
}

// Subscription is a coalescing wake-up: C has a signal pending after any
// append since it was last drained.
type Subscription interface {
	C() <-chan struct{}
	Close()
}

// FromRegistry adapts the real storage to Registry. The adapters only turn
// concrete handle types into the interfaces; every call goes straight through.
func FromRegistry(r *partition.Registry) Registry { return registryAdapter{r} }

type registryAdapter struct{ *partition.Registry }

func (a registryAdapter) Partition(topic string, id uint32) (Partition, error) {
	p, err := a.Registry.Partition(topic, id)
	if err != nil {
		return nil, err
	}
	return partitionAdapter{p}, nil
}

type partitionAdapter struct{ *partition.Partition }

func (a partitionAdapter) Subscribe(ctx context.Context) (Subscription, error) {
	s, err := a.Partition.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	return s, nil
}
