package server

import (
	"context"

	"github.com/logbroker/logbroker/partition"
	"github.com/logbroker/logbroker/pb"
)

// service implements pb.BrokerServiceServer over a Registry.
type service struct {
	pb.UnimplementedBrokerServiceServer
	opts Options
	reg  Registry
	// stopping is done once Stop has begun: stream loops end on it.
	stopping context.Context
	// calls counts requests in service for Stop (Server.enter, leave).
	calls interface {
		enter()
		leave()
	}
}

// Produce serves callers that hold a decoded request; the gRPC server
// decodes Produce into a produceRequest itself (serviceDesc).
func (s *service) Produce(ctx context.Context, req *pb.ProduceRequest) (*pb.ProduceResponse, error) {
	var r produceRequest
	r.fromProto(req, nowMs())
	return s.produce(ctx, &r)
}

func (s *service) produce(ctx context.Context, req *produceRequest) (*pb.ProduceResponse, error) {
	defer req.release()
	if err := s.validateProduce(req); err != nil {
		return nil, err
	}
	p, err := s.reg.Partition(req.topic, req.partition)
	if err != nil {
		return nil, toStatus(err)
	}
	if req.acks == pb.Acks_ACKS_NONE {
		if err := p.AppendFrameAsync(ctx, req.take()); err != nil {
			return nil, toStatus(err)
		}
		return &pb.ProduceResponse{}, nil
	}
	base, last, err := p.AppendFrame(ctx, req.take())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.ProduceResponse{BaseOffset: base, LastOffset: last}, nil
}

func (s *service) CreateTopic(ctx context.Context, req *pb.CreateTopicRequest) (*pb.CreateTopicResponse, error) {
	if err := validateTopicName(req.GetName()); err != nil {
		return nil, err
	}
	if err := s.validatePartitions(req.GetPartitions()); err != nil {
		return nil, err
	}
	info, err := s.reg.CreateTopic(ctx, req.GetName(), req.GetPartitions())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CreateTopicResponse{Topic: topicMetadata(info)}, nil
}

func (s *service) ListTopics(context.Context, *pb.ListTopicsRequest) (*pb.ListTopicsResponse, error) {
	topics := s.reg.Topics()
	resp := &pb.ListTopicsResponse{Topics: make([]*pb.TopicMetadata, len(topics))}
	for i, t := range topics {
		resp.Topics[i] = topicMetadata(t)
	}
	return resp, nil
}

func (s *service) DeleteTopic(ctx context.Context, req *pb.DeleteTopicRequest) (*pb.DeleteTopicResponse, error) {
	if err := validateTopicName(req.GetName()); err != nil {
		return nil, err
	}
	if err := s.reg.DeleteTopic(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DeleteTopicResponse{}, nil
}

func (s *service) GetOffsets(ctx context.Context, req *pb.GetOffsetsRequest) (*pb.GetOffsetsResponse, error) {
	if err := validateTopicName(req.GetTopic()); err != nil {
		return nil, err
	}
	offs, err := s.reg.Offsets(ctx, req.GetTopic())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.GetOffsetsResponse{Partitions: make([]*pb.PartitionOffsets, len(offs))}
	for i, o := range offs {
		resp.Partitions[i] = &pb.PartitionOffsets{Partition: o.Partition, LogStartOffset: o.LogStart, NextOffset: o.Next}
	}
	if ts := req.GetTimestampMs(); ts != 0 {
		for _, po := range resp.Partitions {
			off, err := s.offsetForTime(ctx, req.GetTopic(), po.Partition, ts)
			if err != nil {
				return nil, toStatus(err)
			}
			// Asked after the offsets, the lookup may see records
			// appended since; none of those is below next_offset, so the
			// answer for the offsets given is next_offset.
			po.TimestampOffset = min(off, po.NextOffset)
		}
	}
	return resp, nil
}

func (s *service) offsetForTime(ctx context.Context, topic string, id uint32, ts int64) (uint64, error) {
	p, err := s.reg.Partition(topic, id)
	if err != nil {
		return 0, err
	}
	return p.OffsetForTime(ctx, ts)
}

func topicMetadata(t partition.TopicInfo) *pb.TopicMetadata {
	parts := make([]uint32, t.Partitions)
	for i := range parts {
		parts[i] = uint32(i)
	}
	return &pb.TopicMetadata{Name: t.Name, Partitions: parts}
}
