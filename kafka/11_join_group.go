package kafka

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// JoinGroup v0-7, Kafka's classic group protocol (the coordinator's
// partition/group/classic.go decides; this only translates): the answer
// waits until the group's rebalance completes, up to the rebalance
// timeout. v4+ new members first get MEMBER_ID_REQUIRED with their ID
// (KIP-394); v5+ group.instance.id (static membership) is refused with
// UNSUPPORTED_VERSION. A group that has gRPC members refuses Kafka members
// with INCONSISTENT_GROUP_PROTOCOL.

func (s *Server) handleJoinGroup(ctx context.Context, c *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	r := group.JoinRequest{
		MemberID:         req.MemberID,
		ClientID:         c.clientID,
		ClientHost:       clientHost(c),
		ProtocolType:     req.ProtocolType,
		SessionTimeout:   time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		RequireKnownID:   req.Version >= 4,
	}
	if req.InstanceID != nil {
		r.InstanceID = *req.InstanceID
	}
	for _, p := range req.Protocols {
		r.Protocols = append(r.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	ctx, cancel := s.untilStop(ctx)
	defer cancel()
	res, err := s.opts.Groups.JoinKafka(ctx, req.Group, r)
	if err == nil {
		err = res.Err
	}
	resp.MemberID = res.MemberID
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		resp.Generation = -1
		s.logger.Debug().Err(err).Str("group", req.Group).Str("member", req.MemberID).Msg("JoinGroup refused")
		return resp, nil
	}
	resp.Generation = int32(res.Generation)
	resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
	resp.LeaderID = res.Leader
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.ID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
