package server

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

// Requests are checked here, before storage is touched, so that bad input
// changes nothing. Storage checks again and stays the authority; these checks
// never refuse what storage would accept.

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "server: "+format, args...)
}

// validateTopicName applies storage's own rule (API.md: 1-249 of
// [a-zA-Z0-9._-], not "." or "..").
func validateTopicName(name string) error {
	return toStatus(partition.ValidateTopicName(name))
}

func (s *service) validatePartitions(n uint32) error {
	if n == 0 || n > s.opts.MaxPartitions {
		return invalid("invalid partition count %d: want 1-%d", n, s.opts.MaxPartitions)
	}
	return nil
}

func validateAcks(a pb.Acks) error {
	switch a {
	case pb.Acks_ACKS_UNSPECIFIED, pb.Acks_ACKS_NONE, pb.Acks_ACKS_LEADER:
		return nil
	case pb.Acks_ACKS_ALL:
		return invalid("acks %s not supported: this broker has no replicas (use ACKS_LEADER)", a)
	}
	return invalid("unknown acks value %d", int32(a))
}

func validateStart(st pb.Start) error {
	switch st {
	case pb.Start_START_AT_OFFSET, pb.Start_START_EARLIEST, pb.Start_START_LATEST, pb.Start_START_COMMITTED:
		return nil
	}
	return invalid("unknown start value %d", int32(st))
}

// recordBytes is a lower bound of a record's stored size: its key, value and
// headers. Storage adds its framing and has the last word on the limit.
func recordBytes(r *pb.Record) int {
	n := len(r.GetKey()) + len(r.GetValue())
	for _, h := range r.GetHeaders() {
		n += len(h.GetKey()) + len(h.GetValue())
	}
	return n
}

func (s *service) validateProduce(req *pb.ProduceRequest) error {
	if err := validateTopicName(req.GetTopic()); err != nil {
		return err
	}
	if err := validateAcks(req.GetAcks()); err != nil {
		return err
	}
	recs := req.GetRecords()
	if len(recs) == 0 {
		return invalid("no records to produce to %s/%d", req.GetTopic(), req.GetPartition())
	}
	for i, r := range recs {
		if n := recordBytes(r); n > s.opts.MaxRecordBytes {
			return invalid("record %d is %d bytes, over the maximum of %d", i, n, s.opts.MaxRecordBytes)
		}
	}
	return nil
}

func validateConsume(req *pb.ConsumeRequest) error {
	if err := validateTopicName(req.GetTopic()); err != nil {
		return err
	}
	return validateStart(req.GetStart())
}

// toRecords converts without copying payloads: the request's bytes are
// freshly decoded and not reused by gRPC, so storage may keep them.
func toRecords(in []*pb.Record) []partition.Record {
	out := make([]partition.Record, len(in))
	for i, r := range in {
		out[i] = partition.Record{Key: r.GetKey(), Value: r.GetValue(), TimestampMs: r.GetTimestampMs()}
		if hs := r.GetHeaders(); len(hs) > 0 {
			out[i].Headers = make([]partition.Header, len(hs))
			for j, h := range hs {
				out[i].Headers[j] = partition.Header{Key: h.GetKey(), Value: h.GetValue()}
			}
		}
	}
	return out
}
