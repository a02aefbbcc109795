package partition

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/logbroker/logbroker/actor"
	"github.com/logbroker/logbroker/batch"
	"github.com/logbroker/logbroker/segment"
)

// Errors returned by this package; test with errors.Is.
var (
	ErrTopicExists       = errors.New("partition: topic already exists")
	ErrUnknownTopic      = errors.New("partition: unknown topic")
	ErrUnknownPartition  = errors.New("partition: unknown partition")
	ErrInvalidTopicName  = errors.New("partition: invalid topic name")
	ErrInvalidPartitions = errors.New("partition: invalid partition count")
	ErrNoRecords         = errors.New("partition: no records")
	ErrRecordTooLarge    = errors.New("partition: record too large")
	ErrInvalidBatch      = batch.ErrInvalid
	ErrOffsetOutOfRange  = errors.New("partition: offset out of range")
	ErrCorrupt           = segment.ErrCorrupt
	ErrDiskFull          = errors.New("partition: disk full")
	ErrTooManyOpenFiles  = errors.New("partition: too many open files")
	ErrStopped           = actor.ErrStopped
	ErrFailed            = errors.New("partition: failed after a write error; refusing writes")
	ErrDataDirLocked     = errors.New("partition: data directory is in use by another broker")
)

// OffsetError is the detail of ErrOffsetOutOfRange.
type OffsetError struct {
	Offset, LogStart, Next uint64
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("partition: offset %d out of range [%d, %d]", e.Offset, e.LogStart, e.Next)
}

func (e *OffsetError) Unwrap() error { return ErrOffsetOutOfRange }

// Classify wraps OS errors that callers must tell apart (disk full, out of
// file descriptors) with ErrDiskFull and ErrTooManyOpenFiles, keeping the
// original. It is exported for the packages that keep their own files beside
// the partitions (group offsets), so one error mapping serves them all.
func Classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Errorf("%w: %w", ErrTooManyOpenFiles, err)
	}
	return err
}
