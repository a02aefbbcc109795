package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup v0-4: v0-2 name one member; v3+ a batch of members by
// identity, each answered on its own (a member named only by
// group.instance.id is unknown: static membership is not supported).

func (s *Server) handleLeaveGroup(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	ids := []string{req.MemberID}
	if req.Version >= 3 {
		ids = ids[:0]
		for _, m := range req.Members {
			ids = append(ids, m.MemberID)
		}
	}
	errs, err := s.opts.Groups.LeaveKafka(ctx, req.Group, ids)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return resp, nil
	}
	if req.Version < 3 {
		resp.ErrorCode = groupErrorCode(errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = m.MemberID, m.InstanceID
		if m.MemberID == "" {
			rm.ErrorCode = kerr.UnknownMemberID.Code
		} else {
			rm.ErrorCode = groupErrorCode(errs[i])
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
