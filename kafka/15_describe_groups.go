package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// DescribeGroups v0-5: state, protocol and members. A Kafka member's
// metadata and assignment are the bytes its client sent; a gRPC member's
// are made in the consumer protocol's format (its topic, and the range
// assignor's partitions), so kafka-consumer-groups.sh --describe shows
// gRPC groups too. A group that does not exist is Dead with no error, as
// in Kafka.

func (s *Server) handleDescribeGroups(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = name
		g.AuthorizedOperations = -2147483648 // not asked for, or not computed: Kafka's "unknown"
		in, _, err := s.opts.Groups.Describe(ctx, name)
		if err != nil {
			g.ErrorCode = groupErrorCode(err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.ProtocolType, g.Protocol = in.State, protocolType(in), in.ProtocolName
		if in.Protocol == group.ProtocolGRPC {
			g.Protocol = "range"
		}
		for _, m := range in.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.ClientID, rm.ClientHost = m.ID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
			if in.Protocol == group.ProtocolGRPC {
				rm.ProtocolMetadata, rm.MemberAssignment = grpcMemberBytes(in.Topic, m.Partitions)
			}
			if rm.ProtocolMetadata == nil {
				rm.ProtocolMetadata = []byte{}
			}
			if rm.MemberAssignment == nil {
				rm.MemberAssignment = []byte{}
			}
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// grpcMemberBytes is a gRPC member's subscription and assignment in the
// consumer protocol's format (version 0).
func grpcMemberBytes(topic string, partitions []uint32) (meta, assignment []byte) {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = []string{topic}
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic = topic
	for _, p := range partitions {
		at.Partitions = append(at.Partitions, int32(p))
	}
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{at}
	return md.AppendTo(nil), a.AppendTo(nil)
}
