package kafka

import (
	"context"

	"github.com/logbroker/logbroker/partition"
)

// Registry is what the Kafka front end needs from the topic registry
// (partition.Registry). Implementations must be safe for concurrent use.
type Registry interface {
	CreateTopic(ctx context.Context, name string, partitions uint32) (partition.TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	// Topics lists every topic sorted by name.
	Topics() []partition.TopicInfo
	Partition(topic string, id uint32) (Partition, error)
	// TopicID is the topic's UUID, kept across restarts and new when the
	// topic is made again; it may read a file.
	TopicID(name string) ([16]byte, error)
	// InitProducerID gives an idempotent producer its id and epoch: a new
	// id for id < 0, else the next epoch of a known one; ids never repeat.
	InitProducerID(id int64, epoch int16) (int64, int16, error)
	// Config is the storage's configuration, defaults filled in, which
	// DescribeConfigs reports.
	Config() partition.Config
}

// Partition is what the Kafka front end needs from one partition handle
// (partition.Partition). Implementations must be safe for concurrent use
// and comparable: equal values are the same partition handle.
type Partition interface {
	// AppendBatch validates and stores one RecordBatch v2 and takes b over.
	AppendBatch(ctx context.Context, b []byte) (base, last uint64, err error)
	// AppendBatchAsync is AppendBatch without waiting for the write.
	AppendBatchAsync(ctx context.Context, b []byte) error
	// ReadInto returns whole stored batches from offset, at most maxBytes
	// but at least one batch; Count == 0 means caught up.
	ReadInto(ctx context.Context, buf []byte, offset uint64, maxBytes int) (partition.Batch, error)
	// Tail serves offset from the last commit in memory when it can.
	Tail(offset uint64, maxBytes int) (partition.Batch, bool)
	Offsets(ctx context.Context) (partition.Offsets, error)
	// OffsetForTime is the first offset whose record timestamp is at or
	// after ts, from the time index; the next offset when none is.
	OffsetForTime(ctx context.Context, ts int64) (uint64, error)
	// Stats reads the log start and next offset without the actor.
	Stats() partition.Stats
	// Subscribe registers a coalescing wake-up that fires after appends.
	Subscribe(ctx context.Context) (Subscription, error)
}

// Subscription is a coalescing wake-up: C has a signal pending after any
// append since it was last drained.
type Subscription interface {
	C() <-chan struct{}
	Close()
}

// FromRegistry adapts the real storage to Registry; every call goes
// straight through.
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
