package server

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// rawMessage is a message already in protobuf wire form. Stored records are
// kept in exactly the wire encoding clients receive, so Consume streams send
// them as they are read instead of decoding and re-encoding every entry.
type rawMessage []byte

// codec is the standard "proto" codec, except that it sends a rawMessage's
// bytes untouched. It is installed on this server only (grpc.ForceServerCodecV2),
// so no process-wide registry is changed.
type codec struct {
	proto encoding.CodecV2
}

func newCodec() codec {
	return codec{proto: encoding.GetCodecV2(proto.Name)}
}

// Marshal hands gRPC the rawMessage's own bytes; the caller must not change
// them after SendMsg, since the transport writes them out asynchronously.
func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case rawMessage:
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	case *entryMessage:
		return m.b, nil
	case pooledMessage:
		// gRPC frees the buffer once written, which puts it back in the pool.
		return mem.BufferSlice{mem.NewBuffer(m.data, batchBuffers)}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*produceRequest); ok {
		// The records are copied into a storage frame; gRPC reuses data's
		// buffers once this returns. A request usually arrives in one buffer.
		if len(data) == 1 {
			return m.decode(data[0].ReadOnlyData(), nowMs())
		}
		buf := data.MaterializeToBuffer(batchBuffers)
		defer buf.Free()
		return m.decode(buf.ReadOnlyData(), nowMs())
	}
	return c.proto.Unmarshal(data, v)
}

// Name is "proto": clients see the standard content type.
func (codec) Name() string { return proto.Name }
