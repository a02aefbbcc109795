package partition

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/logbroker/logbroker/segment"
	"github.com/logbroker/logbroker/vfs"
)

// FsyncMode says when appended data is synced to disk.
type FsyncMode int

const (
	// FsyncAlways syncs before acknowledging, once per group commit.
	FsyncAlways FsyncMode = iota
	// FsyncInterval syncs in the background every Config.FsyncInterval.
	FsyncInterval
	// FsyncNever leaves syncing to the OS (segments are still synced when they roll).
	FsyncNever
)

// ParseFsyncMode parses "always", "interval" or "never".
func ParseFsyncMode(s string) (FsyncMode, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "interval":
		return FsyncInterval, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("partition: unknown fsync mode %q (want always, interval or never)", s)
}

func (m FsyncMode) String() string {
	switch m {
	case FsyncAlways:
		return "always"
	case FsyncInterval:
		return "interval"
	case FsyncNever:
		return "never"
	}
	return fmt.Sprintf("FsyncMode(%d)", int(m))
}

// Defaults for zero Config fields.
const (
	DefaultSegmentBytes       = 64 << 20
	DefaultIndexIntervalBytes = 4096
	DefaultFsyncInterval      = 100 * time.Millisecond
	DefaultMaxRecordBytes     = 1 << 20
	DefaultMaxPartitions      = 1024
	DefaultMaxOpenFiles       = 1024
	DefaultReadBytes          = 1 << 20
	DefaultRetentionCheck     = time.Minute
	// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms.
	DefaultProducerIDExpiration = 24 * time.Hour
	// MinSegmentBytes and MaxSegmentBytes bound SegmentBytes; the maximum
	// keeps positions within the index's 32 bits.
	MinSegmentBytes = 1024
	MaxSegmentBytes = 1 << 30
	// MaxRecordBytesLimit bounds MaxRecordBytes: frames get four times a
	// record's size of headroom and may not pass segment.MaxFrameBytes.
	MaxRecordBytesLimit = segment.MaxFrameBytes / 4
)

// Config is the storage configuration shared by every partition.
type Config struct {
	SegmentBytes       int64         // roll threshold; default 64 MiB
	IndexIntervalBytes int           // bytes of log between index entries; default 4096
	Fsync              FsyncMode     // default FsyncAlways
	FsyncInterval      time.Duration // for FsyncInterval; default 100ms
	RetentionBytes     int64         // per partition; 0 keeps everything
	RetentionAge       time.Duration // 0 keeps everything
	RetentionCheck     time.Duration // how often retention runs; default 1m
	MaxRecordBytes     int           // encoded size of one record; default 1 MiB
	MaxPartitions      uint32        // per topic; default 1024
	MaxOpenFiles       int           // cap on open segment files; default 1024
	// ProducerIDExpiration drops an idempotent producer's state from a
	// partition when its last batch is this old; default 1 day.
	ProducerIDExpiration time.Duration
	FS                   vfs.FS // nil: the OS
	Logger               zerolog.Logger
	Observer             Observer // nil: no metrics
}

func (c Config) withDefaults() (Config, error) {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes < MinSegmentBytes || c.SegmentBytes > MaxSegmentBytes {
		return c, fmt.Errorf("partition: segment bytes %d out of range [%d, %d]", c.SegmentBytes, MinSegmentBytes, MaxSegmentBytes)
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.FsyncInterval <= 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.RetentionCheck <= 0 {
		c.RetentionCheck = DefaultRetentionCheck
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if c.MaxPartitions == 0 {
		c.MaxPartitions = DefaultMaxPartitions
	}
	if c.ProducerIDExpiration <= 0 {
		c.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	if c.MaxOpenFiles <= 0 {
		c.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if c.RetentionBytes < 0 || c.RetentionAge < 0 {
		return c, fmt.Errorf("partition: negative retention (bytes %d, age %s)", c.RetentionBytes, c.RetentionAge)
	}
	if c.FS == nil {
		c.FS = vfs.OS
	}
	return c, nil
}

func (c Config) segmentOptions() segment.Options {
	o := segment.Options{
		MaxBytes:           c.SegmentBytes,
		IndexIntervalBytes: c.IndexIntervalBytes,
		// A frame holds at most a produce request; allow generous headroom.
		MaxFrameBytes: maxInt(64<<20, 4*c.MaxRecordBytes),
	}
	if c.Fsync == FsyncAlways {
		// Every group commit syncs: sync into zeros written ahead, so that
		// each fdatasync has no file size to commit.
		o.PreallocateBytes = preallocateBytes
	} else {
		// Nothing syncs until a roll (or the interval): write back as we go,
		// so that the roll's sync does not stall producers for a whole
		// segment's worth of writing.
		o.WritebackBytes = writebackBytes
	}
	return o
}

// preallocateBytes is how far ahead of the data an always-synced segment is
// zero-filled (and synced): 0.55-0.7x the time of a synced 123 KB append,
// 1 MiB and 4 MiB alike (go test -run '^$' -bench SyncedAppend ./segment).
const preallocateBytes = 1 << 20

// writebackBytes is how much unsynced data a segment gathers before its
// write-back starts (segment.Options.WritebackBytes), as RocksDB's
// bytes_per_sync: 1 MiB.
const writebackBytes = 1 << 20

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
