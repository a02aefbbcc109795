package server

import (
	"context"
	"errors"
)

// Registry is what the server needs from the topic registry (partition.Registry).
// Implementations must be safe for concurrent use.
type Registry interface {
	CreateTopic(ctx context.Context, name string, partitions uint32) (TopicInfo, error)
	DeleteTopic(ctx context.Context, name string) error
	// Topics lists every topic sorted by name.
	Topics() []TopicInfo
	Partition(topic string, p uint32) (Partition, error)
	Offsets(ctx context.Context, topic string) ([]Offsets, error)
}

// Partition is what the server needs from one partition handle
// (partition.Partition). Implementations must be safe for concurrent use.
type Partition interface {
	Append(ctx context.Context, recs []Record) (base, last uint64, err error)
	AppendAsync(ctx context.Context, recs []Record) error
	// Read returns at most maxBytes but at least one record from offset;
	// Count == 0 means caught up. The caller owns Batch.Data.
	Read(ctx context.Context, offset uint64, maxBytes int) (Batch, error)
	Offsets(ctx context.Context) (Offsets, error)
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

// The types and errors below mirror partition's API until that package lands;
// they are replaced by partition's own then.

// Header is one application header of a record.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record to append.
type Record struct {
	Key, Value  []byte
	Headers     []Header
	TimestampMs int64
}

// TopicInfo describes one topic.
type TopicInfo struct {
	Name       string
	Partitions uint32
}

// Offsets bounds the readable range of one partition.
type Offsets struct {
	Partition      uint32
	LogStart, Next uint64
}

// Batch is one read: stored record bytes, which are exactly the protobuf wire
// encoding of EntryBatch{entries...}.
type Batch struct {
	Data  []byte
	First uint64
	Next  uint64
	Count int
}

// Storage errors, as partition defines them.
var (
	ErrTopicExists       = errors.New("partition: topic exists")
	ErrUnknownTopic      = errors.New("partition: unknown topic")
	ErrUnknownPartition  = errors.New("partition: unknown partition")
	ErrInvalidTopicName  = errors.New("partition: invalid topic name")
	ErrInvalidPartitions = errors.New("partition: invalid partition count")
	ErrNoRecords         = errors.New("partition: no records")
	ErrRecordTooLarge    = errors.New("partition: record too large")
	ErrOffsetOutOfRange  = errors.New("partition: offset out of range")
	ErrCorrupt           = errors.New("partition: corrupt data")
	ErrDiskFull          = errors.New("partition: disk full")
	ErrTooManyOpenFiles  = errors.New("partition: too many open files")
	ErrStopped           = errors.New("partition: stopped")
	ErrFailed            = errors.New("partition: failed")
)
