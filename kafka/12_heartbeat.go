package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat v0-4: keeps a member's session; REBALANCE_IN_PROGRESS tells it
// to join again.

func (s *Server) handleHeartbeat(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if err := s.opts.Groups.HeartbeatKafka(ctx, req.Group, req.MemberID, groupGeneration(req.Generation)); err != nil {
		resp.ErrorCode = groupErrorCode(err)
	}
	return resp, nil
}
