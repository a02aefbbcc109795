package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// FindCoordinator v0-4: this broker (NodeID, at the advertised address)
// coordinates every group. v4 asks for several keys at once. A group name
// the coordinator cannot keep (group names become file names: 1-249 of
// [a-zA-Z0-9._-]) gets INVALID_GROUP_ID here already, so the client stops
// with that error instead of retrying; transaction coordinators (key type
// 1) are refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the answer
// InitProducerId and Produce give a transactional producer, which clients
// treat as fatal with the same cause.

func (s *Server) handleFindCoordinator(_ context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	find := func(key string) (int16, *string) {
		switch {
		case req.CoordinatorType != 0:
			msg := "kafka: transactions are not supported, so there is no transaction coordinator"
			return kerr.TransactionalIDAuthorizationFailed.Code, &msg
		case group.ValidateName(key) != nil:
			return kerr.InvalidGroupID.Code, errorMessage(group.ValidateName(key))
		}
		return 0, nil
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = find(req.CoordinatorKey)
		if resp.ErrorCode == 0 {
			resp.NodeID, resp.Host, resp.Port = NodeID, host, port
		} else {
			resp.NodeID, resp.Port = -1, -1
		}
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.ErrorCode, c.ErrorMessage = find(key)
		if c.ErrorCode == 0 {
			c.NodeID, c.Host, c.Port = NodeID, host, port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}
