package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// SyncGroup v0-5: the leader hands in every member's assignment, opaque;
// each member gets its own. A follower's answer waits for the leader's
// SyncGroup (until the rebalance timeout, after which the group rebalances
// without the members that did not sync).

func (s *Server) handleSyncGroup(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	r := group.SyncRequest{MemberID: req.MemberID, Generation: groupGeneration(req.Generation)}
	if req.ProtocolType != nil {
		r.ProtocolType = *req.ProtocolType
	}
	if req.Protocol != nil {
		r.Protocol = *req.Protocol
	}
	if len(req.GroupAssignment) > 0 {
		r.Assignments = make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			r.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	ctx, cancel := s.untilStop(ctx)
	defer cancel()
	res, err := s.opts.Groups.SyncKafka(ctx, req.Group, r)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return resp, nil
	}
	resp.ProtocolType, resp.Protocol = &res.ProtocolType, &res.Protocol
	resp.MemberAssignment = res.Assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}
