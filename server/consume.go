package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

// Consume sends one message per entry: the records of the stored batches,
// encoded as LogEntry messages into one buffer, each sent as a view of it.
func (s *service) Consume(req *pb.ConsumeRequest, stream grpc.ServerStreamingServer[pb.LogEntry]) error {
	return s.consume(stream.Context(), req, func(buf *[]byte, count int) error { return sendEntries(stream, buf, count) })
}

// ConsumeBatches sends one EntryBatch message per at most max_bytes of
// records, encoded straight into the buffer gRPC then writes.
func (s *service) ConsumeBatches(req *pb.ConsumeRequest, stream grpc.ServerStreamingServer[pb.EntryBatch]) error {
	return s.consume(stream.Context(), req, func(buf *[]byte, _ int) error {
		// gRPC owns it now and returns it to the pool once written.
		return stream.SendMsg(pooledMessage{data: buf})
	})
}

// sendFunc sends count records encoded as EntryBatch.entries fields in
// *buf, a pooled buffer that the function takes over.
type sendFunc func(buf *[]byte, count int) error

// consume is the stream loop shared by both Consume RPCs. It runs on the
// stream's goroutine, which alone reads from storage, decodes and sends;
// storage only signals the subscription.
//
// A read's stored batches go into one recycled buffer, kept until every
// record of them is sent; the records are encoded into a pooled buffer per
// message, which send hands to gRPC.
func (s *service) consume(ctx context.Context, req *pb.ConsumeRequest, send sendFunc) error {
	if err := validateConsume(req); err != nil {
		return err
	}
	topic, id := req.GetTopic(), req.GetPartition()
	p, err := s.reg.Partition(topic, id)
	if err != nil {
		return toStatus(err)
	}
	var sub Subscription
	if !req.GetStopAtEnd() {
		// Subscribe before the first read: an append landing between a read
		// that found nothing and the wait below leaves a signal pending, so
		// no wake-up is lost.
		if sub, err = p.Subscribe(ctx); err != nil {
			return s.streamErr(ctx, req, err)
		}
		defer sub.Close()
	}
	offset, err := s.startOffset(ctx, p, req)
	if err != nil {
		return s.streamErr(ctx, req, err)
	}
	maxBytes := s.readBytes(req.GetMaxBytes())
	track := s.opts.Metrics.OpenStream(topic, id, offset) // nil when metrics are off
	defer track.Close()
	readBuf := batchBuffers.Get(readSize(maxBytes))
	defer func() { batchBuffers.Put(readBuf) }()
	var cur cursor
	for {
		if s.stopping.Err() != nil {
			return errShuttingDown
		}
		done, err := cur.empty()
		if err != nil {
			return toStatus(errStoredBatch(partition.Batch{First: offset}, err))
		}
		if !done {
			out := batchBuffers.Get(min(maxBytes, maxEntriesBuffer))
			data, count, next, err := cur.fill((*out)[:0], maxBytes)
			if err != nil {
				batchBuffers.Put(out)
				return toStatus(errStoredBatch(partition.Batch{First: offset}, err))
			}
			*out = data
			if err := send(out, count); err != nil {
				return err
			}
			offset = next
			track.Sent(count, len(data), offset)
			continue
		}
		// A live tail woken by an append is served from memory, and learns
		// it is caught up, without asking the partition's actor.
		b, ok := p.Tail(offset, maxBytes)
		switch {
		case ok && b.Count > 0:
			cur.reset(b)
			continue
		case ok && sub != nil:
			if err := s.wait(ctx, req, p, sub); err != nil {
				return err
			}
			continue
		}
		b, err = p.ReadInto(ctx, *readBuf, offset, maxBytes)
		if err != nil {
			return s.streamErr(ctx, req, err)
		}
		if b.Count > 0 {
			if cap(b.Data) > cap(*readBuf) {
				*readBuf = b.Data[:0] // grown for a large batch: keep it
			}
			cur.reset(b)
			continue
		}
		if sub == nil { // caught up and stop_at_end
			return nil
		}
		if err := s.wait(ctx, req, p, sub); err != nil {
			return err
		}
	}
}

// maxEntriesBuffer bounds the buffer a message's records are encoded into
// before they are known; a larger message grows it.
const maxEntriesBuffer = 1 << 20

// wait blocks a caught-up stream until the next append, or its end.
func (s *service) wait(ctx context.Context, req *pb.ConsumeRequest, p Partition, sub Subscription) error {
	select {
	case <-sub.C():
		return nil
	case <-ctx.Done():
		return s.streamErr(ctx, req, ctx.Err())
	case <-s.stopping.Done():
		return errShuttingDown
	case <-p.Done():
		return s.streamErr(ctx, req, partition.ErrStopped)
	}
}

func (s *service) startOffset(ctx context.Context, p Partition, req *pb.ConsumeRequest) (uint64, error) {
	switch req.GetStart() {
	case pb.Start_START_AT_OFFSET:
		return req.GetOffset(), nil
	case pb.Start_START_COMMITTED:
		return s.committedOffset(ctx, p, req)
	}
	o, err := p.Offsets(ctx)
	if err != nil {
		return 0, err
	}
	if req.GetStart() == pb.Start_START_EARLIEST {
		return o.LogStart, nil
	}
	return o.Next, nil
}

// readBytes bounds one read: 0 takes the default, and large requests are
// capped so that one batch fits a default client's receive limit.
func (s *service) readBytes(req uint32) int {
	switch {
	case req == 0:
		return s.opts.DefaultReadBytes
	case int64(req) > int64(s.opts.MaxReadBytes):
		return s.opts.MaxReadBytes
	}
	return int(req)
}

// streamErr prefers "shutting down" over the cancellation that Stop causes,
// and tells a deleted topic (NOT_FOUND) from a partition that stopped for
// another reason (UNAVAILABLE).
func (s *service) streamErr(ctx context.Context, req *pb.ConsumeRequest, err error) error {
	if s.stopping.Err() != nil {
		return errShuttingDown
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return status.FromContextError(ctxErr).Err()
	}
	if errors.Is(err, partition.ErrStopped) {
		topic, id := req.GetTopic(), req.GetPartition()
		if _, lookup := s.reg.Partition(topic, id); lookup != nil {
			err = fmt.Errorf("partition %s/%d gone while consuming: %w", topic, id, lookup)
		} else {
			err = fmt.Errorf("partition %s/%d stopped: %w", topic, id, err)
		}
	}
	return toStatus(err)
}

// sendEntries sends each of the count LogEntry encodings in *buf (as
// EntryBatch.entries fields) as one message, taking buf over.
func sendEntries(stream grpc.ServerStream, buf *[]byte, count int) error {
	// Each entry is a view of the buffer; it returns to the pool once gRPC
	// has written the last of them.
	whole := mem.NewBuffer(buf, batchBuffers)
	defer whole.Free()
	// One backing array for every entry's one-element BufferSlice: gRPC holds
	// each until written, so none is reused.
	views := make([]mem.Buffer, count)
	msg := &entryMessage{}
	data := *buf
	for i := 0; len(data) > 0; i++ {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 || num != 1 || typ != protowire.BytesType || i == count {
			return status.Errorf(codes.Internal, "server: malformed entries at byte %d", len(*buf)-len(data))
		}
		entry, m := protowire.ConsumeBytes(data[n:])
		if m < 0 {
			return status.Errorf(codes.Internal, "server: malformed entries at byte %d", len(*buf)-len(data))
		}
		start := len(*buf) - len(data) + n + m - len(entry)
		views[i] = whole.Slice(start, start+len(entry))
		msg.b = views[i : i+1 : i+1]
		if err := stream.SendMsg(msg); err != nil {
			return err
		}
		data = data[n+m:]
	}
	return nil
}
