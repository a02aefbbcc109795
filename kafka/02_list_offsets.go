package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/batch"
)

// ListOffsets v0-7: per partition, timestamp -2 is the log start offset,
// -1 the next offset (the high watermark, also the last stable offset),
// -3 (v7, KIP-734) the offset and timestamp of the record with the largest
// timestamp, and a timestamp >= 0 the first offset whose record's timestamp
// is at least it, or offset -1 when none is; the timestamp answered is
// that record's.
//
// A timestamp is looked up in the partition's time index
// (Partition.OffsetForTime), and only the batch that holds the answer is
// read, for its record's timestamp. The maximum timestamp has no index
// that answers it, so it scans the batch headers from the log start,
// decoding only batches that may hold a new maximum.

// Special timestamps of a ListOffsets request.
const (
	listLatest       = -1
	listEarliest     = -2
	listMaxTimestamp = -3
)

// scanReadBytes is how much one read of the max-timestamp scan asks for.
const scanReadBytes = 1 << 20

func (s *Server) handleListOffsets(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			offset, ts, err := s.listOffset(ctx, req.Version, rt.Topic, rp)
			if err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.Offset, sp.Timestamp, sp.LeaderEpoch = offset, ts, 0
				if req.Version == 0 {
					sp.OldStyleOffsets = []int64{offset}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset answers one partition: the offset and its record's timestamp
// (-1 for earliest and latest, and when no record matches).
func (s *Server) listOffset(ctx context.Context, version int16, topic string, rp kmsg.ListOffsetsRequestTopicPartition) (offset, ts int64, err error) {
	if rp.Partition < 0 {
		return 0, 0, refuse(kerr.UnknownTopicOrPartition, "partition %d", rp.Partition)
	}
	p, err := s.opts.Registry.Partition(topic, uint32(rp.Partition))
	if err != nil {
		return 0, 0, err
	}
	o, err := p.Offsets(ctx)
	if err != nil {
		return 0, 0, err
	}
	switch t := rp.Timestamp; {
	case t == listEarliest:
		return int64(o.LogStart), -1, nil
	case t == listLatest:
		return int64(o.Next), -1, nil
	case t == listMaxTimestamp && version >= 7:
		return scanTime(ctx, p, o.LogStart, o.Next, maxTimestamp, scanReadBytes)
	case t >= 0:
		return offsetForTime(ctx, p, t)
	}
	return 0, 0, refuse(kerr.InvalidRequest, "timestamp %d", rp.Timestamp)
}

// offsetForTime is the first record whose timestamp is at least ts, from
// the time index, and its timestamp; -1, -1 when there is none.
func offsetForTime(ctx context.Context, p Partition, ts int64) (offset, ts2 int64, err error) {
	off, err := p.OffsetForTime(ctx, ts)
	if err != nil {
		return 0, 0, err
	}
	// The record's own timestamp is in the batch that holds it: a read of
	// 1 byte from off returns that batch alone (none when off is the end).
	return scanTime(ctx, p, off, off+1, ts, 1)
}

// maxTimestamp asks scanTime for the record with the largest timestamp.
const maxTimestamp = -1

// scanTime reads [from, next) and returns the first record with a
// timestamp of at least target, or with target maxTimestamp the first
// record with the largest timestamp; -1, -1 when there is none. Each read
// asks for readBytes (and gets at least one batch).
func scanTime(ctx context.Context, p Partition, from, next uint64, target int64, readBytes int) (offset, ts int64, err error) {
	offset, ts = -1, -1
	var buf []byte
	var it batch.Iter
	var r batch.Record
	for off := from; off < next; {
		b, err := p.ReadInto(ctx, buf, off, readBytes)
		if err != nil {
			return 0, 0, err
		}
		if b.Count == 0 {
			break
		}
		buf = b.Data[:0]
		for data := b.Data; len(data) > 0; {
			h, err := batch.ParseHeader(data, len(data))
			if err != nil {
				return 0, 0, err
			}
			one := data[:h.Size()]
			data = data[h.Size():]
			if h.Next() <= off || h.MaxTimestamp < target || target == maxTimestamp && h.MaxTimestamp <= ts {
				continue
			}
			// The answer is in this batch (or, for the maximum, it may be).
			if err := it.Reset(one); err != nil {
				return 0, 0, err
			}
			for it.Next(&r) {
				if r.Offset < off {
					continue
				}
				if target == maxTimestamp {
					if r.TimestampMs > ts {
						offset, ts = int64(r.Offset), r.TimestampMs
					}
				} else if r.TimestampMs >= target {
					return int64(r.Offset), r.TimestampMs, nil
				}
			}
			if err := it.Err(); err != nil {
				return 0, 0, err
			}
		}
		off = b.Next
	}
	return offset, ts, nil
}
