package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/internal/bufpool"
	"github.com/logbroker/logbroker/pb"
)

// rawCodec is the client's codec, installed on its connection and set per
// call with grpc.ForceCodecV2, so nothing process-wide changes. Requests of
// more than a few KiB are marshalled into bufpool buffers, which gRPC's own
// codec would take from its default pool and clear first (a 1 MiB buffer for
// a 110 KiB produce request). A response received into a *rawMsg keeps its
// wire bytes instead of becoming a message, so the caller decodes only what
// it reads. Its name is "proto": on the wire nothing differs.
type rawCodec struct{ proto encoding.CodecV2 }

func newRawCodec() rawCodec { return rawCodec{proto: encoding.GetCodecV2(grpcproto.Name)} }

// rawCall selects rawCodec: a default call option of every connection Dial
// makes, and given again by the raw streams, which depend on it.
var rawCall = grpc.ForceCodecV2(newRawCodec())

func (c rawCodec) Name() string { return grpcproto.Name }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return c.proto.Marshal(v)
	}
	size := proto.Size(m)
	if mem.IsBelowBufferPoolingThreshold(size) {
		return c.proto.Marshal(v)
	}
	buf := bufpool.Default.Get(size)
	// Size has just cached every submessage's size: marshal without
	// computing them again.
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*buf)[:0], m)
	if err != nil || len(out) != size {
		bufpool.Default.Put(buf)
		if err == nil {
			// Changed while being sent: let the standard codec say so.
			return c.proto.Marshal(v)
		}
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, bufpool.Default)}, nil
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMsg)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	// gRPC frees data when Unmarshal returns, so copy it out, into a
	// buffer the stream reuses.
	n := data.Len()
	if cap(m.b) < n {
		m.b = make([]byte, 0, n)
	}
	m.b = m.b[:0]
	for _, buf := range data {
		m.b = append(m.b, buf.ReadOnlyData()...)
	}
	return nil
}

// rawMsg receives one message's wire bytes.
type rawMsg struct{ b []byte }

// BatchStream is a ConsumeBatches stream whose batches arrive as wire bytes.
// Not safe for concurrent use; one goroutine calls Recv.
type BatchStream struct {
	s   grpc.ClientStream
	msg rawMsg
}

// ConsumeBatchesRaw opens ConsumeBatches for req, for readers that walk each
// batch in place (Entries) instead of receiving a pb.EntryBatch with one
// pb.LogEntry per record. It is the fast way to read: no allocation per
// record or per batch. Cancel ctx to end the stream early.
func (c *Client) ConsumeBatchesRaw(ctx context.Context, req *pb.ConsumeRequest) (*BatchStream, error) {
	s, err := c.broker.ConsumeBatches(ctx, req, rawCall)
	if err != nil {
		return nil, err
	}
	return &BatchStream{s: s}, nil
}

// Recv waits for the next batch. Its entries alias a buffer that the next
// Recv overwrites. At the end of a stop_at_end stream it returns io.EOF;
// errors from the broker are gRPC status errors, as from the generated stub.
func (s *BatchStream) Recv() (Entries, error) {
	if err := s.s.RecvMsg(&s.msg); err != nil {
		return Entries{}, err
	}
	return NewEntries(s.msg.b), nil
}

// EntryStream is a Consume stream (one message per entry) whose entries
// arrive as wire bytes. Not safe for concurrent use; one goroutine calls
// Recv.
type EntryStream struct {
	s   grpc.ClientStream
	msg rawMsg
}

// ConsumeRaw opens Consume for req, for readers that read each entry in
// place instead of receiving a pb.LogEntry. Cancel ctx to end the stream
// early.
func (c *Client) ConsumeRaw(ctx context.Context, req *pb.ConsumeRequest) (*EntryStream, error) {
	s, err := c.broker.Consume(ctx, req, rawCall)
	if err != nil {
		return nil, err
	}
	return &EntryStream{s: s}, nil
}

// Recv waits for the next entry. It aliases a buffer that the next Recv
// overwrites. At the end of a stop_at_end stream it returns io.EOF; a
// message that is no LogEntry encoding gives an error wrapping ErrMalformed.
func (s *EntryStream) Recv() (Entry, error) {
	if err := s.s.RecvMsg(&s.msg); err != nil {
		return Entry{}, err
	}
	e, err := ParseEntry(s.msg.b)
	if err != nil {
		return Entry{}, fmt.Errorf("client: Consume stream: %w", err)
	}
	return e, nil
}
