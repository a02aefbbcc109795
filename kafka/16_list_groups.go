package kafka

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logbroker/logbroker/partition/group"
)

// ListGroups v0-4: every group, of either protocol, with Kafka's state
// names (v4 filters by them). A group held by gRPC members shows as a
// "consumer" group in state Stable, so Kafka's tools list it too.

func (s *Server) handleListGroups(ctx context.Context, _ *conn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	infos, err := s.opts.Groups.List(ctx)
	if err != nil {
		resp.ErrorCode = groupErrorCode(err)
		return resp, nil
	}
	for _, in := range infos {
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, in.State) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState = in.Group, protocolType(in), in.State
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// protocolType is the group's as Kafka shows it: the Kafka members' (kept
// once they leave), "consumer" for a gRPC group.
func protocolType(in group.Info) string {
	if in.Protocol == group.ProtocolGRPC {
		return "consumer"
	}
	return in.ProtocolType
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
