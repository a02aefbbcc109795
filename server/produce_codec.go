package server

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

// produceRequest is a ProduceRequest as this server decodes it: the records
// go from the received bytes straight into a storage frame, with no
// pb.Record or partition.Record per record in between. The standard decoder
// allocates and copies every field through reflection, and the records were
// then copied twice more; that was a third of the broker's CPU on the
// produce path.
type produceRequest struct {
	topic     string
	partition uint32
	acks      pb.Acks
	frame     *partition.Frame // nil once handed to storage
	// largest is the key, value and header bytes of the largest record, the
	// measure the server's own limit applies to; largeAt is its index.
	largest, largeAt int
	hdrs             []partition.Header // scratch for one record's headers
}

func (r *produceRequest) GetTopic() string     { return r.topic }
func (r *produceRequest) GetPartition() uint32 { return r.partition }
func (r *produceRequest) GetAcks() pb.Acks     { return r.acks }

// release recycles the frame if storage never took it.
func (r *produceRequest) release() {
	if r.frame != nil {
		r.frame.Release()
		r.frame = nil
	}
}

// take hands the frame over to storage.
func (r *produceRequest) take() *partition.Frame {
	f := r.frame
	r.frame = nil
	return f
}

// errSlowPath sends a request the fast decoder does not fully understand to
// the standard decoder, which then decides (and words any error) as usual.
var errSlowPath = errors.New("server: produce request needs the standard decoder")

// decode fills r from the wire bytes of a ProduceRequest, which it does not
// keep. Anything unusual (unknown fields, invalid UTF-8, repeated scalars)
// goes through proto.Unmarshal, so the records stored are always exactly
// those the standard decoder would give.
func (r *produceRequest) decode(buf []byte, nowMs int64) error {
	if err := r.decodeFast(buf, nowMs); err == nil {
		return nil
	}
	r.release()
	var m pb.ProduceRequest
	if err := proto.Unmarshal(buf, &m); err != nil {
		return err
	}
	r.fromProto(&m, nowMs)
	return nil
}

// fromProto builds r from a decoded request.
func (r *produceRequest) fromProto(m *pb.ProduceRequest, nowMs int64) {
	*r = produceRequest{topic: m.GetTopic(), partition: m.GetPartition(), acks: m.GetAcks()}
	size := 0
	for i, rec := range m.GetRecords() {
		n := recordBytes(rec)
		if n > r.largest {
			r.largest, r.largeAt = n, i
		}
		size += n + 32
	}
	r.frame = partition.NewFrameAt(size, nowMs)
	for _, rec := range m.GetRecords() {
		r.hdrs = r.hdrs[:0]
		for _, h := range rec.GetHeaders() {
			r.hdrs = append(r.hdrs, partition.Header{Key: h.GetKey(), Value: h.GetValue()})
		}
		r.frame.Add(rec.GetKey(), rec.GetValue(), r.hdrs, rec.GetTimestampMs())
	}
}

// decodeFast walks the wire twice: once for the scalars and the record
// count, which size the frame, and once to encode the records into it.
func (r *produceRequest) decodeFast(buf []byte, nowMs int64) error {
	var topic []byte
	var part, acks uint64
	var seen [5]bool
	n := 0
	for b := buf; len(b) > 0; {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errSlowPath
		}
		b = b[l:]
		switch {
		case num == 1 && typ == protowire.BytesType && !seen[1]:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 || !utf8.Valid(v) {
				return errSlowPath
			}
			topic, seen[1], b = v, true, b[l:]
		case num == 2 && typ == protowire.VarintType && !seen[2]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			part, seen[2], b = v, true, b[l:]
		case num == 3 && typ == protowire.BytesType:
			_, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errSlowPath
			}
			n++
			b = b[l:]
		case num == 4 && typ == protowire.VarintType && !seen[4]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			acks, seen[4], b = v, true, b[l:]
		default:
			return errSlowPath
		}
	}
	if part > 1<<32-1 || acks > 1<<31-1 {
		return errSlowPath // proto truncates; let it
	}
	*r = produceRequest{topic: string(topic), partition: uint32(part), acks: pb.Acks(acks), hdrs: r.hdrs[:0]}
	// Stored records are the request's plus an offset field (9 bytes), a
	// stamped timestamp (at most 11) and a longer length (at most 2).
	r.frame = partition.NewFrameAt(len(buf)+22*n, nowMs)
	i := 0
	for b := buf; len(b) > 0; {
		num, _, l := protowire.ConsumeTag(b)
		b = b[l:]
		switch num {
		case 2, 4:
			_, l = protowire.ConsumeVarint(b)
			b = b[l:]
		case 1:
			_, l = protowire.ConsumeBytes(b)
			b = b[l:]
		case 3:
			v, l := protowire.ConsumeBytes(b)
			b = b[l:]
			if err := r.addRecord(v, i); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// addRecord encodes the i-th record's wire bytes b into the frame.
func (r *produceRequest) addRecord(b []byte, i int) error {
	var key, value []byte
	var ts int64
	var seen [5]bool
	size := 0
	r.hdrs = r.hdrs[:0]
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return errSlowPath
		}
		b = b[l:]
		switch {
		case (num == 1 || num == 2 || num == 3) && typ == protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return errSlowPath
			}
			b = b[l:]
			switch num {
			case 1:
				if seen[1] {
					return errSlowPath
				}
				key, seen[1] = v, true
			case 2:
				if seen[2] {
					return errSlowPath
				}
				value, seen[2] = v, true
			case 3:
				h, err := decodeHeader(v)
				if err != nil {
					return err
				}
				size += len(h.Key) + len(h.Value)
				r.hdrs = append(r.hdrs, h)
			}
		case num == 4 && typ == protowire.VarintType && !seen[4]:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return errSlowPath
			}
			ts, seen[4], b = int64(v), true, b[l:]
		default:
			return errSlowPath
		}
	}
	if size += len(key) + len(value); size > r.largest {
		r.largest, r.largeAt = size, i
	}
	r.frame.Add(key, value, r.hdrs, ts)
	return nil
}

func decodeHeader(b []byte) (partition.Header, error) {
	var h partition.Header
	var seen [3]bool
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 || typ != protowire.BytesType || num < 1 || num > 2 || seen[num] {
			return h, errSlowPath
		}
		b = b[l:]
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return h, errSlowPath
		}
		b = b[l:]
		seen[num] = true
		if num == 1 {
			if !utf8.Valid(v) {
				return h, errSlowPath
			}
			h.Key = string(v)
		} else {
			h.Value = v
		}
	}
	return h, nil
}

// serviceDesc is BrokerService with Produce decoded by produceRequest.
// Clients see the same service, methods and messages.
func serviceDesc() *grpc.ServiceDesc {
	desc := pb.BrokerService_ServiceDesc
	desc.Methods = append([]grpc.MethodDesc(nil), desc.Methods...)
	for i := range desc.Methods {
		if desc.Methods[i].MethodName == "Produce" {
			desc.Methods[i].Handler = produceHandler
		}
	}
	return &desc
}

func produceHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := &produceRequest{}
	if err := dec(in); err != nil {
		return nil, err
	}
	s := srv.(*service)
	if interceptor == nil {
		return s.produce(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: pb.BrokerService_Produce_FullMethodName}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return s.produce(ctx, req.(*produceRequest))
	})
}

// nowMs is the stamp for records sent without a timestamp.
func nowMs() int64 { return time.Now().UnixMilli() }
