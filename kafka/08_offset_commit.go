package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// OffsetCommit v0-8, into the same committed-offset store as the gRPC
// groups' CommitOffsets: what one protocol commits the other reads. A
// member commits in its generation (ILLEGAL_GENERATION when stale,
// UNKNOWN_MEMBER_ID when not a member, REBALANCE_IN_PROGRESS before its
// assignment is synced); generation -1 with no member ID (v0 has neither)
// commits outside any generation while the group has no Kafka member.
// Metadata strings and leader epochs are not kept (OffsetFetch answers ""
// and -1); a negative offset gets INVALID_COMMIT_OFFSET_SIZE.

func (s *Server) handleOffsetCommit(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	gen := int64(req.Generation)
	if req.Version == 0 {
		gen = -1
	}
	// What goes to the coordinator, and where each answer goes back.
	type slot struct{ t, p int }
	var topics []group.TopicOffsets
	var slots [][]slot
	resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(t.Partitions))
		to := group.TopicOffsets{Topic: t.Topic}
		var ts []slot
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case p.Partition < 0:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Offset < 0:
				rp.ErrorCode = kerr.InvalidCommitOffsetSize.Code
			default:
				to.Offsets = append(to.Offsets, group.PartitionOffset{Partition: uint32(p.Partition), Offset: uint64(p.Offset)})
				ts = append(ts, slot{i, j})
			}
		}
		if len(ts) > 0 {
			topics = append(topics, to)
			slots = append(slots, ts)
		}
	}
	if len(topics) == 0 {
		return resp, nil
	}
	errs, err := s.opts.Groups.CommitKafka(ctx, req.Group, req.MemberID, gen, topics)
	for i, ts := range slots {
		for j, sl := range ts {
			e := err
			if e == nil {
				e = errs[i][j]
			}
			resp.Topics[sl.t].Partitions[sl.p].ErrorCode = groupErrorCode(e)
		}
	}
	return resp, nil
}
