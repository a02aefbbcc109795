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

// Consume sends one message per entry. Each entry's bytes are cut out of the
// stored batch and sent as they are: they already are a LogEntry's encoding.
func (s *service) Consume(req *pb.ConsumeRequest, stream grpc.ServerStreamingServer[pb.LogEntry]) error {
	return s.consume(stream.Context(), req, func(b partition.Batch, buf *[]byte) error { return sendEntries(stream, b, buf) })
}

// ConsumeBatches sends one message per read: the stored bytes of a batch are
// already an EntryBatch's encoding.
func (s *service) ConsumeBatches(req *pb.ConsumeRequest, stream grpc.ServerStreamingServer[pb.EntryBatch]) error {
	return s.consume(stream.Context(), req, func(b partition.Batch, buf *[]byte) error {
		if buf != nil {
			// gRPC owns it now and returns it to the pool once written.
			return stream.SendMsg(pooledMessage{data: buf})
		}
		return stream.SendMsg(rawMessage(b.Data))
	})
}

// sendFunc sends a batch read into buf, a pooled buffer holding exactly
// b.Data that the function takes over, or nil when the batch did not fit one.
type sendFunc func(b partition.Batch, buf *[]byte) error

// consume is the stream loop shared by both Consume RPCs. It runs on the
// stream's goroutine, which alone reads from storage and sends; storage only
// signals the subscription.
//
// Reads go into recycled buffers, which send hands to gRPC with the batch.
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
	for {
		if s.stopping.Err() != nil {
			return errShuttingDown
		}
		// A live tail woken by an append is served from memory, and learns
		// it is caught up, without asking the partition's actor.
		b, ok := p.Tail(offset, maxBytes)
		switch {
		case ok && b.Count > 0:
			if err := send(b, nil); err != nil {
				return err
			}
			offset = b.Next
			track.Sent(b.Count, len(b.Data), offset)
			continue
		case ok && sub != nil:
			if err := s.wait(ctx, req, p, sub); err != nil {
				return err
			}
			continue
		}
		buf := batchBuffers.Get(readSize(maxBytes))
		b, err := p.ReadInto(ctx, *buf, offset, maxBytes)
		if err != nil {
			batchBuffers.Put(buf)
			return s.streamErr(ctx, req, err)
		}
		if b.Count > 0 {
			if &b.Data[0] == &(*buf)[0] {
				*buf = b.Data
			} else {
				batchBuffers.Put(buf)
				buf = nil
			}
			if err := send(b, buf); err != nil {
				return err
			}
			offset = b.Next
			track.Sent(b.Count, len(b.Data), offset)
			continue
		}
		batchBuffers.Put(buf)
		if sub == nil { // caught up and stop_at_end
			return nil
		}
		if err := s.wait(ctx, req, p, sub); err != nil {
			return err
		}
	}
}

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

// sendEntries splits a stored batch (a run of EntryBatch.entries fields, each
// 0x0a len <LogEntry>) and sends every LogEntry's bytes as one message.
func sendEntries(stream grpc.ServerStream, b partition.Batch, buf *[]byte) error {
	// Each entry is a view of the batch's buffer; the buffer returns to the
	// pool once gRPC has written the last of them.
	var whole mem.Buffer
	if buf != nil {
		whole = mem.NewBuffer(buf, batchBuffers)
	} else {
		whole = mem.NewBuffer(&b.Data, heapOnly{})
	}
	defer whole.Free()
	// One backing array for every entry's one-element BufferSlice: gRPC holds
	// each until written, so none is reused.
	views := make([]mem.Buffer, b.Count)
	msg := &entryMessage{}
	data := b.Data
	for i := 0; len(data) > 0; i++ {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 || num != 1 || typ != protowire.BytesType {
			return malformed(b, len(b.Data)-len(data))
		}
		entry, m := protowire.ConsumeBytes(data[n:])
		if m < 0 {
			return malformed(b, len(b.Data)-len(data))
		}
		start := len(b.Data) - len(data) + n + m - len(entry)
		if i == len(views) {
			views = make([]mem.Buffer, 64) // Count undercounted: never for a stored batch
			i = 0
		}
		views[i] = whole.Slice(start, start+len(entry))
		msg.b = views[i : i+1 : i+1]
		if err := stream.SendMsg(msg); err != nil {
			return err
		}
		data = data[n+m:]
	}
	return nil
}

func malformed(b partition.Batch, pos int) error {
	return status.Errorf(codes.Internal, "server: malformed stored batch [%d, %d) at byte %d", b.First, b.Next, pos)
}
