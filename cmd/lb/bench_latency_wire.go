package main

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/logbroker/logbroker/pb"
)

// The latency bench's Produce requests. At one record per request the
// client's own cost per record is what limits how close to the broker's
// service time the measurement gets, so each partition's request is encoded
// once, and a send copies it and patches only the stamp in the value.
//
// Wire format (API.md numbers; key, headers and timestamp unset):
//
//	ProduceRequest: 1 topic (bytes), 2 partition (varint), 3 Record, 4 acks (varint)
//	Record:         2 value (bytes)

// wireCodec is the per-call gRPC codec (grpc.ForceCodecV2) of the latency
// bench's Produce calls: it sends a *wireRequest as the bytes it holds and
// receives the ProduceResponse into an *ackSink without decoding it (the
// call's error says whether the broker took the record). Its name keeps
// the content type a proto one. Stateless and safe for concurrent use.
type wireCodec struct{}

var _ encoding.CodecV2 = wireCodec{}

func (wireCodec) Name() string { return "proto" }

func (wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	if w, ok := v.(*wireRequest); ok {
		return w.slice[:], nil
	}
	return nil, fmt.Errorf("bench: wire codec cannot marshal %T", v)
}

func (wireCodec) Unmarshal(_ mem.BufferSlice, v any) error {
	if _, ok := v.(*ackSink); ok {
		return nil
	}
	return fmt.Errorf("bench: wire codec cannot unmarshal into %T", v)
}

// ackSink receives a ProduceResponse without decoding it.
type ackSink struct{}

// produceTemplate is one partition's ProduceRequest of one record, encoded
// once; stampAt is where the record's value, and so its stamp, starts.
type produceTemplate struct {
	bytes   []byte
	stampAt int
}

func newProduceTemplate(topic string, partition uint32, value []byte, acks pb.Acks) produceTemplate {
	var rec []byte
	rec = protowire.AppendTag(rec, 2, protowire.BytesType)
	rec = protowire.AppendVarint(rec, uint64(len(value)))
	stampInRec := len(rec)
	rec = append(rec, value...)

	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, topic)
	if partition != 0 {
		b = protowire.AppendTag(b, 2, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(partition))
	}
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(rec)))
	stampAt := len(b) + stampInRec
	b = append(b, rec...)
	if acks != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(acks))
	}
	return produceTemplate{bytes: b, stampAt: stampAt}
}

// wireRequest is one encoded request. gRPC's writer goroutine reads its
// bytes after SendMsg returns, so a sender reuses one only once its call
// has returned OK (the broker answered, so the bytes were written); after a
// failed call it takes a new one. The buffer slice points at the field, so
// Marshal allocates nothing.
type wireRequest struct {
	buf   mem.SliceBuffer
	slice [1]mem.Buffer
}

// fill makes w the template's request with stamp st.
func (t *produceTemplate) fill(w *wireRequest, st latencyStamp) {
	w.buf = append(w.buf[:0], t.bytes...)
	st.put(w.buf[t.stampAt:])
	w.slice[0] = &w.buf
}
