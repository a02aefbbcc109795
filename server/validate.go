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

func (s *service) validateProduce(req *produceRequest) error {
	if err := validateTopicName(req.topic); err != nil {
		return err
	}
	if err := validateAcks(req.acks); err != nil {
		return err
	}
	if req.frame == nil || req.frame.Len() == 0 {
		return invalid("no records to produce to %s/%d", req.topic, req.partition)
	}
	if req.largest > s.opts.MaxRecordBytes {
		return invalid("record %d is %d bytes, over the maximum of %d", req.largeAt, req.largest, s.opts.MaxRecordBytes)
	}
	return nil
}

func validateConsume(req *pb.ConsumeRequest) error {
	if err := validateTopicName(req.GetTopic()); err != nil {
		return err
	}
	return validateStart(req.GetStart())
}
